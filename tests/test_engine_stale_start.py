"""End to end: a daemon restarted while the websocket cannot connect (REST is fine) cancels
the orders a previous instance left resting, once no market data came for
``stale_market_seconds`` from its startup on."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest
from daemon_process import DaemonProcess
from test_daemon import _workdir, ours, settle, write_config  # noqa: F401 (fixture)


pytestmark = pytest.mark.timeout(150)

# The bound the previous instance's orders must be gone within (stale 20 s + a cycle).
CANCELLED_WITHIN = 50.0


def closed_port() -> int:
    """Return a loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_restart_without_websocket_cancels_the_previous_orders(
    workdir: Path, sim, key_id: str, key_file: Path
) -> None:
    """kill -9 leaves quotes resting; the next instance can read and write over REST but
    never gets a book: its markets go stale 20 s after it started and it cancels them."""
    cfg = write_config(workdir, sim, key_id, key_file)
    first = DaemonProcess(cfg)
    await first.start()
    try:
        await first.wait_for("daemon.ready", timeout=30)
        left = await settle(sim, key_id)
        first.signal(signal.SIGKILL)
        await first.wait_exit()
    finally:
        await first.kill()
    assert left, "the first instance left orders resting"
    text = cfg.read_text()
    cfg.write_text(text.replace(sim.ws_url, f"ws://127.0.0.1:{closed_port()}/trade-api/ws/v2")
                   .replace("stale_market_seconds = 30.0", "stale_market_seconds = 20.0"))
    assert "stale_market_seconds = 20.0" in cfg.read_text()
    second = DaemonProcess(cfg)
    deadline = asyncio.get_running_loop().time() + CANCELLED_WITHIN
    await second.start()
    try:
        async with asyncio.timeout_at(deadline):
            await second.wait_for("engine.started", timeout=CANCELLED_WITHIN)
            assert second.events("engine.started")[0]["adopted"] == len(left)
            while ours(sim, key_id):
                assert second.proc is not None and second.proc.returncode is None, (
                    second.raw[-20:])
                await asyncio.sleep(0.25)
        assert second.events("market.pulled"), "pulled for stale data"
        second.signal(signal.SIGTERM)
        assert await second.wait_exit() == 0
    finally:
        await second.kill()
