"""Figure 5: a million feed messages — the daemon's memory, tasks, descriptors and journal."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import (
    KEY_ID,
    MODEL_ONLY,
    Figure,
    Repricer,
    Row,
    figure_main,
    running_daemon,
    summarize,
)
from bench.throughput import DeltaInjector


__all__ = ["measure"]

RATE = 20_000
REPRICE_EVERY = 0.25  # seconds between forced reprices (each journals an intent and a result)


async def measure(quick: bool) -> Figure:
    """Feed ``total`` deltas at RATE/s with periodic reprices; compare early and late samples."""
    total = 100_000 if quick else 1_000_000
    fig = Figure(name=f"soak — {total:,} feed messages at {RATE:,}/s")
    samples: list[tuple[int, dict[str, int], int]] = []  # (sent, /proc status, tasks)
    with tempfile.TemporaryDirectory(prefix="tsad-bench-") as tmp:
        async with running_daemon(Path(tmp), probe=True, count=1, max_position=1_000_000,
                                  model_extra=MODEL_ONLY) as (sim, daemon):
            rig = Repricer(sim, KEY_ID)
            inj = DeltaInjector(sim)
            await daemon.wait_for("bench.probe", timeout=10)
            start = time.perf_counter()
            last_reprice = last_sample = start
            pending: tuple[str, float] | None = None
            while inj.sent < total:
                now = time.perf_counter()
                due = min(int(RATE * (now - start)) - inj.sent, total - inj.sent)
                if due > 0:
                    inj.publish(min(due, 5_000))
                if now - last_reprice >= REPRICE_EVERY:
                    if pending is not None:
                        await rig.wait_applied(pending[0], timeout=30)
                    ticker, _kind, _t0 = rig.step()
                    pending, last_reprice = (ticker, now), now
                if now - last_sample >= 1.0:
                    probes = daemon.events("bench.probe")
                    samples.append((inj.sent, daemon.proc_status(), probes[-1]["tasks"]))
                    last_sample = now
                await asyncio.sleep(0.001)
            inj.flatten()
            if pending is not None:
                await rig.wait_applied(pending[0], timeout=30)
            await asyncio.sleep(1.5)
            probes = daemon.events("bench.probe")
            samples.append((inj.sent, daemon.proc_status(), probes[-1]["tasks"]))
            elapsed = time.perf_counter() - start
            journal = [ms for p in probes for ms in p["journal_ms"]]
            per_probe = [p["journal_ms"] for p in probes]
            trouble = sum(len(daemon.events(e)) for e in ("ws.gap", "ws.disconnected",
                                                          "daemon.task_failed"))
            writes = len(sim.write_times)
    # Early = after the first tenth of the messages (imports, caches and books warmed up).
    early = next(s for s in samples if s[0] >= total // 10)
    late = samples[-1]
    rss_growth = (late[1]["VmRSS"] - early[1]["VmRSS"]) / 1024
    third = max(len(per_probe) // 3, 1)
    j_early = [ms for p in per_probe[:third] for ms in p]
    j_late = [ms for p in per_probe[-third:] for ms in p]
    fig.rows.append(Row(metric="RSS growth (after warm-up → end)", unit="MB",
                        value=summarize([rss_growth]), target="< 10 MB",
                        met=rss_growth < 10))
    fig.rows.append(Row(metric="RSS", unit="MB",
                        value=summarize([s[1]["VmRSS"] / 1024 for s in samples])))
    # fds and tasks come and go (HTTP keep-alive connections, in-flight writes): compare the
    # most seen in the last third of the run with the most seen in the first third.
    warm = [x for x in samples if x[0] >= total // 10]
    k = max(len(warm) // 3, 1)
    first_third, last_third = warm[:k], warm[-k:]
    task_growth = max(x[2] for x in last_third) - max(x[2] for x in first_third)
    fig.rows.append(Row(metric="asyncio task growth", unit="tasks",
                        value=summarize([task_growth]), target="0", met=task_growth <= 0))
    fd_growth = (max(x[1]["fds"] for x in last_third)
                 - max(x[1]["fds"] for x in first_third))
    fig.rows.append(Row(metric="file descriptor growth", unit="fds",
                        value=summarize([fd_growth]), target="0", met=fd_growth <= 0))
    thread_growth = late[1]["Threads"] - early[1]["Threads"]
    fig.rows.append(Row(metric="thread growth", unit="threads",
                        value=summarize([thread_growth])))
    if j_early and j_late:
        grew = statistics.median(j_late) > 2 * statistics.median(j_early) + 1.0
        fig.rows.append(Row(metric="journal commit, last third", unit="ms",
                            value=summarize(j_late), baseline_name="first third",
                            baseline=summarize(j_early), target="no growth", met=not grew))
    fig.rows.append(Row(metric="journal commit, all", unit="ms", value=summarize(journal)))
    fig.notes += [
        f"{inj.sent:,} orderbook deltas over {elapsed:.0f} s (DeltaInjector of the throughput "
        f"figure) plus a forced reprice every {REPRICE_EVERY} s ({writes} order writes, each "
        "journaled as an intent and a result).",
        "RSS, threads and fds from /proc/PID/status and /proc/PID/fd of the daemon; asyncio "
        "tasks and journal latency from `bench.probe` (the real daemon with a 1 s reporting "
        "task and timing wrappers around Journal.record_intent/record_result, each a SQLite "
        "commit with synchronous=FULL).",
        "RSS growth = last sample − the sample after the first tenth of the messages; task "
        "and fd growth = the most seen in the last third of the (post-warm-up, 1 s) samples − "
        "the most seen in the first third; journal "
        "latency 'grows' if the last third's median exceeds twice the first third's + 1 ms.",
        f"gaps/disconnects/task failures logged: {trouble}.",
        "samples (messages, RSS kB, fds, tasks): "
        + ", ".join(f"({s[0]:,}, {s[1]['VmRSS']:,}, {s[1]['fds']}, {s[2]})"
                    for s in samples[:: max(len(samples) // 8, 1)]),
    ]
    return fig


def main() -> None:
    """Run this figure alone."""
    figure_main("soak", measure)


if __name__ == "__main__":
    main()
