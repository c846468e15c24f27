"""Figure 2: book change to the daemon's write arriving at the emulator, against a REST GET."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.harness import (
    MODEL_ONLY,
    Figure,
    Repricer,
    Row,
    figure_main,
    first_write_after,
    running_daemon,
    summarize,
)


__all__ = ["PACE", "measure"]

PACE = 0.1


async def measure(quick: bool) -> Figure:
    """Force ``samples`` reprices from the book and time each to the emulator's write receipt."""
    samples = 60 if quick else 300
    fig = Figure(name="reaction — book change → amend/create received by the emulator")
    latencies: list[float] = []
    gets: list[float] = []
    kinds: Counter[str] = Counter()
    by_kind: dict[str, list[float]] = {"fill": [], "unfill": []}
    with tempfile.TemporaryDirectory(prefix="tsad-bench-") as tmp:
        async with running_daemon(Path(tmp), count=1, max_position=100_000,
                                  model_extra=MODEL_ONLY) as (sim, daemon), \
                httpx.AsyncClient() as client:
            rig = Repricer(sim, daemon_user(daemon))
            url = f"{sim.rest_url}/exchange/status"
            for _ in range(samples):
                # The basic tier refills 10 writes/s (kalshi-api.md §4.1): pace the samples so
                # the daemon's own rate budget never delays a write (that is not reaction).
                await asyncio.sleep(PACE)
                t0 = time.perf_counter()
                (await client.get(url)).raise_for_status()
                gets.append((time.perf_counter() - t0) * 1000)
                start = len(sim.write_times)
                ticker, kind, t0 = rig.step()
                received = await first_write_after(sim, start, t0)
                latencies.append((received - t0) * 1000)
                kinds[kind] += 1
                by_kind[kind].append(latencies[-1])
                await rig.wait_applied(ticker)
            errors = daemon.events("order.failed") + daemon.events("order.rejected")
    value = summarize(latencies)
    get = summarize(gets)
    fig.rows.append(Row(metric="p50 book change → write received", unit="ms", value=value,
                        baseline_name="REST GET round trip", baseline=get))
    fig.rows.append(Row(
        metric="p99 book change → write received", unit="ms",
        value=summarize([value.p99]), baseline_name="REST GET round trip p99",
        baseline=summarize([get.p99]), target="p99 < 20 ms", met=value.p99 < 20.0))
    for kind, what in (("fill", "fill-through → new bid (create)"),
                       ("unfill", "ask cancelled → amend up")):
        fig.rows.append(Row(metric=what, unit="ms", value=summarize(by_kind[kind]),
                            baseline_name="REST GET round trip", baseline=get))
    fig.notes += [
        f"{value.n} samples on {len(rig.tickers)} markets, alternating: an outside ask takes "
        f"our YES bid and rests one contract at its price (post-only step-back → the daemon "
        f"places a new bid one tick lower; {kinds['fill']} samples) and that ask is cancelled "
        f"(the daemon amends back up; {kinds['unfill']} samples).",
        "t0 = perf_counter right before `add_order`/`cancel_order` in the emulator's process; "
        "t1 = the emulator's perf_counter at receipt of the daemon's write (`write_times`).",
        f"samples are {PACE * 1000:.0f} ms apart: the basic tier's write bucket refills 10 "
        "writes/s and the daemon's client-side budget waits rather than be refused, so faster "
        "sampling measures the rate limit, not the reaction (seen: ~75 ms waits at 30/s).",
        "baseline: an unsigned GET /exchange/status to the same emulator from the same "
        "process (httpx, keep-alive), one before each sample.",
        f"daemon write failures/rejections during the run: {len(errors)} (an amend racing a "
        "fill can be refused; the daemon then re-plans).",
    ]
    return fig


def daemon_user(_daemon: object) -> str:
    """Return the emulator user the daemon trades as (the bench key)."""
    from bench.harness import KEY_ID

    return KEY_ID


def main() -> None:
    """Run this figure alone."""
    figure_main("reaction", measure)


if __name__ == "__main__":
    main()
