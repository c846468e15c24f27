"""Benchmark of write pacing: back-to-back ladder re-prices on the Basic tier, 429s and time.

Runs the real `KalshiClient` against the in-process emulator over loopback. Each run places
a ladder of N quotes (6 and 12 by default), re-prices it 20 times (N concurrent amends per
re-price, the next re-price after all acks), and counts the 429s the emulator answered, the
re-prices that landed and the wall time. Re-prices follow each other as market updates
would, after a random pause of ``--pause-ms``/2 to ``--pause-ms`` (0 = truly back to back):
the buckets then partly refill between bursts, which is when an exact-size client bucket
believes it holds tokens the exchange has not refilled yet. Loopback delivers a request in
a fraction of a millisecond, which no real network does, so each request is held a random
0 to ``--jitter-ms`` before it is sent (after its tokens were taken), as latency varies
between requests on a real connection. Two pacings run in the same process, alternating:

* ``baseline``: the old client buckets, an exact-size bucket refilled at 95 % of the rate;
* ``headroom``: the current buckets (`tsad.kalshi.budget.CAPACITY_SHARE`, `RATE_SHARE`).

Usage: ``python -m bench.pacing [--runs N] [--reprices N] [--jitter-ms MS] [--pause-ms MS]
[--quotes N ...]`` (ladders of 6 and 12 quotes by default).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.core.orders import BookSide, OrderRequest, WriteAck
from tsad.errors import ExchangeError
from tsad.kalshi.budget import CAPACITY_SHARE, RATE_SHARE, Budget
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer
from tsad.sim import Emulator


__all__ = ["PACINGS", "JitteryTransport", "RunResult", "main", "run_once"]

KEY_ID = "pacing-key"
LADDER = 6
PACINGS: dict[str, tuple[float, float]] = {
    "baseline": (0.95, 1.0),
    "headroom": (RATE_SHARE, CAPACITY_SHARE),
}


class JitteryTransport(httpx.AsyncBaseTransport):
    """The default transport, each request held a random 0–``max_delay`` s before it goes."""

    def __init__(self, max_delay: float, rng: random.Random) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._max = max_delay
        self._rng = rng

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Wait a random delay, then send."""
        await asyncio.sleep(self._rng.uniform(0, self._max))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """One run: 429s answered, re-prices whose six amends all succeeded, seconds taken."""

    pacing: str
    rate_limited: int
    landed: int
    reprices: int
    seconds: float


async def run_once(pacing: str, reprices: int, jitter: float, pause: float,
                   seed: int, quotes: int = LADDER) -> RunResult:
    """Run one ladder re-price burst against a fresh Basic-tier emulator."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    rate_share, capacity_share = PACINGS[pacing]
    async with Emulator(seed=0, tier="basic") as sim:
        sim.register_key(KEY_ID, public)
        budget = Budget("basic", rate_share=rate_share, capacity_share=capacity_share)
        client = KalshiClient(sim.rest_url, Signer(KEY_ID, key), budget=budget, timeout=10.0,
                              calibrate=False,
                              transport=JitteryTransport(jitter, random.Random(seed)))
        try:
            event = await client.get_event(sim.event_ticker)
            spots: list[tuple[str, int]] = []
            for m in event.markets:
                book = await client.get_orderbook(m.ticker)
                price = min((10000 - book.no[-1][0] if book.no else 10000) - 200, 9000)
                if price - 100 >= 100 and len(spots) < quotes:
                    spots.append((m.ticker, price))
            acks = await client.batch_create([
                OrderRequest(ticker=t, side=BookSide.BID, price=p, count=100,
                             client_order_id=f"bench-{i}") for i, (t, p) in enumerate(spots)])
            ids = [a.order_id for a in acks if isinstance(a, WriteAck)]
            landed = 0
            pauses = random.Random(f"pause-{seed}")
            started = time.perf_counter()
            for n in range(reprices):
                if n:
                    await asyncio.sleep(pauses.uniform(pause / 2, pause))
                step = 100 * ((n + 1) % 2)
                results = await asyncio.gather(*(
                    client.amend_order(oid, ticker=t, side="bid", price=p - step, count=100)
                    for oid, (t, p) in zip(ids, spots, strict=True)), return_exceptions=True)
                if all(isinstance(r, WriteAck) for r in results):
                    landed += 1
                elif any(isinstance(r, BaseException) and not isinstance(r, ExchangeError)
                         for r in results):
                    raise next(r for r in results if isinstance(r, BaseException))
            seconds = time.perf_counter() - started
        finally:
            await client.aclose()
        limited = sum(1 for r in sim.request_log if r.status == 429)
    return RunResult(pacing=pacing, rate_limited=limited, landed=landed, reprices=reprices,
                     seconds=seconds)


async def _scenario(runs: int, reprices: int, jitter: float, pause: float,
                    quotes: int) -> None:
    print(f"\nBasic tier, {quotes}-quote ladder, {reprices} re-prices, delivery jitter "
          f"0-{jitter * 1000:g} ms, pauses {pause * 500:g}-{pause * 1000:g} ms", flush=True)
    results: dict[str, list[RunResult]] = {name: [] for name in PACINGS}
    for i in range(runs):
        for name in PACINGS:
            r = await run_once(name, reprices, jitter, pause, seed=i, quotes=quotes)
            results[name].append(r)
            print(f"run {i + 1} {name:9} 429s={r.rate_limited:3d} "
                  f"landed={r.landed}/{r.reprices} seconds={r.seconds:.2f}", flush=True)
    print(f"{'pacing':9} | 429s total | re-prices landed (min) | seconds (median)")
    for name, rows in results.items():
        print(f"{name:9} | {sum(r.rate_limited for r in rows):10d} "
              f"| {min(r.landed for r in rows):3d}/{reprices}{'':16}"
              f"| {statistics.median(r.seconds for r in rows):.2f}")


async def _main(runs: int, reprices: int, jitter: float, pause: float,
                quotes: list[int]) -> None:
    for n in quotes:
        await _scenario(runs, reprices, jitter, pause, n)


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--reprices", type=int, default=20)
    parser.add_argument("--jitter-ms", type=float, default=100.0)
    parser.add_argument("--pause-ms", type=float, default=1200.0)
    parser.add_argument("--quotes", type=int, nargs="+", default=[LADDER, 2 * LADDER])
    args = parser.parse_args()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    asyncio.run(_main(args.runs, args.reprices, args.jitter_ms / 1000, args.pause_ms / 1000,
                      args.quotes))


if __name__ == "__main__":
    main()
