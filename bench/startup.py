"""Figure 6: process start to the first order resting at the emulator, against a bare import."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import (
    KEY_ID,
    DaemonProcess,
    Figure,
    Row,
    figure_main,
    new_key,
    summarize,
    write_workdir,
)
from tsad.sim import Emulator


__all__ = ["import_seconds", "measure", "startup_once"]


def import_seconds() -> float:
    """Return the wall time of ``python -c "import tsad.runtime.daemon"`` in a fresh process."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tsad.runtime.daemon"], check=True)
    return time.perf_counter() - t0


async def startup_once(sim: Emulator, directory: Path, key_file: Path) -> float:
    """Start a daemon with a fresh journal; return seconds from spawn to its first resting order.

    The time ends at the emulator's receipt of the first order write (its perf_counter), once
    that order is seen resting; the daemon is then stopped (cancelling its orders).
    """
    directory.mkdir()
    config = write_workdir(directory, sim, key_file)
    start = len(sim.write_times)
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        try:
            async with asyncio.timeout(30):
                while not sim.resting_orders(user=KEY_ID):
                    if daemon.proc is not None and daemon.proc.returncode is not None:
                        raise RuntimeError(f"daemon exited: {daemon.tail[-20:]}")
                    await asyncio.sleep(0.002)
        except TimeoutError:
            raise RuntimeError(f"no order rested in 30 s: {daemon.tail[-20:]}") from None
        first = sim.write_times[start][1]
        elapsed = first - daemon.started_at
        await daemon.stop()
    finally:
        await daemon.kill()
    async with asyncio.timeout(10):
        while sim.resting_orders(user=KEY_ID):
            await asyncio.sleep(0.05)
    return elapsed


async def measure(quick: bool) -> Figure:
    """Measure start-up ``runs`` times, interleaved with the bare-import baseline."""
    runs = 3 if quick else 7
    fig = Figure(name="startup — process start to first resting order")
    with tempfile.TemporaryDirectory(prefix="tsad-bench-") as tmp:
        root = Path(tmp)
        key_file, public = new_key(root)
        starts: list[float] = []
        imports: list[float] = []
        for i in range(runs):
            imports.append(await asyncio.to_thread(import_seconds))
            async with Emulator(now=None, seed=i, outside_traders=False) as sim:
                sim.register_key(KEY_ID, public)
                starts.append(await startup_once(sim, root / f"run{i}", key_file))
    value = summarize(starts)
    fig.rows.append(Row(metric="spawn → first order resting", unit="s", value=value,
                        baseline_name="python -c 'import tsad.runtime.daemon'",
                        baseline=summarize(imports), target="< 2 s",
                        met=value.median < 2.0))
    fig.notes.append(
        "each run: a fresh emulator, work directory and journal (a cold start); the end time "
        "is the emulator's receipt of the first order write. ratio < 1 means start-up takes "
        "longer than the bare import.")
    return fig


def main() -> None:
    """Run this figure alone."""
    figure_main("startup", measure)


if __name__ == "__main__":
    main()
