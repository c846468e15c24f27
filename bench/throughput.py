"""Figure 3: the highest orderbook-delta rate the daemon keeps up with, at rising rates."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    KEY_ID,
    MODEL_ONLY,
    DaemonProcess,
    Figure,
    Repricer,
    Row,
    figure_main,
    first_write_after,
    running_daemon,
    summarize,
)
from tsad.core.orders import BookSide
from tsad.sim import Emulator
from tsad.sim.records import BookChange


__all__ = ["BurstResult", "DeltaInjector", "burst", "measure"]

RATES = (2_000, 5_000, 10_000, 20_000, 30_000, 40_000, 60_000)
MAX_LAG = 0.25  # seconds from the end of a burst to the daemon's reaction to a marker
_TROUBLE = ("ws.gap", "ws.resyncing", "ws.disconnected", "book.stale", "daemon.task_failed")


class DeltaInjector:
    """Publishes orderbook deltas through the emulator's websocket hub.

    Each market gets a level away from the top of its book (a YES bid at 0.01 below the
    best bid, or a YES ask at 0.99 above the best ask); deltas alternate +1 and −1 contract
    there, so the books the daemon keeps stay exact and their tops never move (no reprice
    is triggered). The deltas go through ``Hub.publish``, the path every book change takes.
    """

    def __init__(self, sim: Emulator) -> None:
        self.sim = sim
        self.levels: list[tuple[str, BookSide, int]] = []
        for m in sim.event.markets:
            bid = sim.engine.best(m.ticker, BookSide.BID)
            ask = sim.engine.best(m.ticker, BookSide.ASK)
            if bid is not None and bid > 100:
                self.levels.append((m.ticker, BookSide.BID, 100))
            elif ask is not None and ask < 9_900:
                self.levels.append((m.ticker, BookSide.ASK, 9_900))
        self.up = [False] * len(self.levels)
        self.sent = 0
        self._i = 0

    def publish(self, n: int) -> None:
        """Publish ``n`` deltas round-robin over the markets."""
        now = self.sim._clock.now()  # the emulator's own clock, as its publishers use
        events = []
        for _ in range(n):
            i = self._i % len(self.levels)
            self._i += 1
            ticker, side, price = self.levels[i]
            self.up[i] = not self.up[i]
            events.append(BookChange(ticker=ticker, side=side, price=price,
                                     delta=100 if self.up[i] else -100, user="outside",
                                     client_order_id=None, ts=now))
        self.sim.hub.publish(events)
        self.sent += n

    def flatten(self) -> None:
        """Take back every +1 still standing, so the books equal the emulator's again."""
        while any(self.up):
            self.publish(1)

    def backlog(self) -> int:
        """Return the frames queued in the emulator, not yet written to a socket."""
        conns: Any = self.sim.hub._conns  # the emulator's per-connection send queues
        return sum(c.queue.qsize() for c in conns)


@dataclass(frozen=True, slots=True, kw_only=True)
class BurstResult:
    """What one burst at a target rate achieved."""

    rate: int
    sent: int
    seconds: float
    drain: float
    lag: float
    daemon_cpu: float
    bench_cpu: float
    rss_growth_kb: int
    trouble: int

    @property
    def offered(self) -> float:
        """The rate actually delivered to the daemon's socket (deltas/s)."""
        return self.sent / (self.seconds + self.drain)

    @property
    def sustained(self) -> bool:
        """Delivered ≥ 95 % of the rate, caught up within MAX_LAG, no gap, bounded memory."""
        return (self.offered >= 0.95 * self.rate and self.lag <= MAX_LAG
                and self.trouble == 0 and self.rss_growth_kb < 20_000)


async def burst(sim: Emulator, daemon: DaemonProcess, inj: DeltaInjector, rig: Repricer,
                rate: int, seconds: float) -> BurstResult:
    """Inject ``rate`` deltas/s for ``seconds``, then time the daemon's catch-up.

    Catch-up: as soon as the burst ends a marker book change that forces a write is made;
    the lag is from the end of the burst to the emulator's receipt of that write, so it
    includes whatever backlog the daemon still had to read first.
    """
    trouble0 = sum(len(daemon.events(e)) for e in _TROUBLE)
    rss0 = daemon.proc_status()["VmRSS"]
    cpu0, bench0 = daemon.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    sent0 = inj.sent
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(rate * elapsed) - (inj.sent - sent0)
        if due > 0:
            inj.publish(min(due, 5_000))
        await asyncio.sleep(0.001)
    inj.flatten()
    end = time.perf_counter()
    async with asyncio.timeout(60):
        while inj.backlog():
            await asyncio.sleep(0.001)
    drained = time.perf_counter()
    first = len(sim.write_times)
    ticker, _kind, _t0 = rig.step()
    received = await first_write_after(sim, first, end, timeout=60)
    wall = time.perf_counter() - start
    cpu1, bench1 = daemon.cpu_seconds(), time.process_time()
    await rig.wait_applied(ticker, timeout=30)
    rss1 = daemon.proc_status()["VmRSS"]
    return BurstResult(
        rate=rate, sent=inj.sent - sent0, seconds=end - start, drain=drained - end,
        lag=received - end, daemon_cpu=(cpu1 - cpu0) / wall, bench_cpu=(bench1 - bench0) / wall,
        rss_growth_kb=rss1 - rss0,
        trouble=sum(len(daemon.events(e)) for e in _TROUBLE) - trouble0,
    )


async def measure(quick: bool) -> Figure:
    """Run bursts at rising rates; the figure is the highest rate sustained."""
    seconds = 1.5 if quick else 4.0
    fig = Figure(name="throughput — orderbook deltas/s the daemon keeps up with")
    results: list[BurstResult] = []
    with tempfile.TemporaryDirectory(prefix="tsad-bench-") as tmp:
        async with running_daemon(Path(tmp), count=1, max_position=100_000,
                                  model_extra=MODEL_ONLY) as (sim, daemon):
            rig = Repricer(sim, KEY_ID)
            inj = DeltaInjector(sim)
            await burst(sim, daemon, inj, rig, 2_000, 0.5)  # warm-up
            await asyncio.sleep(0.2)
            for rate in RATES:
                results.append(await burst(sim, daemon, inj, rig, rate, seconds))
                await asyncio.sleep(0.3)
            markets = len(inj.levels)
    best = max((r.rate for r in results if r.sustained), default=0)
    fig.rows.append(Row(metric="highest sustained rate", unit="deltas/s",
                        value=summarize([best]), target="≥ 20,000", met=best >= 20_000))
    for r in results:
        fig.rows.append(Row(metric=f"catch-up lag after {r.rate:,}/s", unit="ms",
                            value=summarize([r.lag * 1000])))
    fig.notes.append(
        f"{markets} markets; bursts of {seconds:g} s at each rate through the emulator's "
        "`Hub.publish` (the path every book change takes); deltas alternate ±1 contract on a "
        "level away from each book's top, so no reprice is due and the books stay exact.")
    fig.notes.append(
        f"sustained = the emulator delivered ≥ 95 % of the rate to the socket, the daemon "
        f"reacted to a marker book change made when the burst ended within {MAX_LAG * 1000:.0f}"
        " ms of that end (so its backlog was under that), no sequence gap/resync/disconnect "
        "was logged, and its RSS grew < 20 MB. The daemon's event queue is bounded (10,000) "
        "and the feed awaits it, so any backlog waits in socket buffers and shows as lag. "
        "When 'delivered/s' falls short of the rate, the emulator (same 2 cores) is the "
        "limit, not the daemon.")
    fig.notes.append("")
    fig.notes.append("| rate | delivered/s | lag ms | daemon CPU | bench+emulator CPU "
                     "| RSS Δ kB | gaps | sustained |")
    fig.notes.append("|---|---|---|---|---|---|---|---|")
    for r in results:
        fig.notes.append(
            f"| {r.rate:,} | {r.offered:,.0f} | {r.lag * 1000:.1f} | {r.daemon_cpu:.0%} "
            f"| {r.bench_cpu:.0%} | {r.rss_growth_kb:+,} | {r.trouble} "
            f"| {'yes' if r.sustained else 'no'} |")
    return fig


def main() -> None:
    """Run this figure alone."""
    figure_main("throughput", measure)


if __name__ == "__main__":
    main()
