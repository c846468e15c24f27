"""`tsad run` subprocesses against the emulator, for the end-to-end tests.

The process wrapper is the benchmarks' (`bench.harness.DaemonProcess`): one class spawns
and watches every daemon the project runs for measurement or for a test.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from conftest import write_demo_config

from tsad.clock import SystemClock
from tsad.runtime import paper


ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import DaemonProcess, settle  # noqa: E402


__all__ = ["DaemonProcess", "free_port", "quoting_daemon", "settle", "write_config"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(directory: Path, sim, key_id: str, key_file: Path, *, daemon_extra: str = "",
                 tables: str = "") -> Path:
    """Write inputs and a demo config for ``sim``; extra ``[daemon]`` keys and tables."""
    paper.write_paper_inputs(
        prediction_path=directory / "prediction.json", history_path=directory / "history.csv",
        event_ticker=sim.event_ticker, center=float(sim.fair_center), now=SystemClock().now(),
        seed=1,
    )
    path = write_demo_config(directory, sim, key_id, key_file)
    text = path.read_text().replace("[daemon]\n", f"[daemon]\n{daemon_extra}", 1)
    path.write_text(text + tables)
    return path


@contextlib.asynccontextmanager
async def quoting_daemon(directory: Path, sim, key_id: str, key_file: Path, *,
                         model_extra: str = "") -> AsyncIterator[tuple[Path, DaemonProcess]]:
    """A daemon started on a demo config for ``sim`` (``model_extra``: lines added to its
    ``[model]`` table), yielded once ready with its quotes settled; killed on the way out."""
    config = write_config(directory, sim, key_id, key_file)
    if model_extra:
        config.write_text(config.read_text().replace("[model]\n", f"[model]\n{model_extra}", 1))
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        await daemon.wait_for("daemon.ready")
        await settle(sim, key_id, quiet=1.0)
        yield config, daemon
    finally:
        await daemon.kill()
