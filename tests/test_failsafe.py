"""Fail-safe exits of the real daemon (a subprocess, real signals, the emulator over loopback).

Every way out leaves nothing of ours resting or says why and exits non-zero: a SIGTERM at
any moment of startup over a previous instance's orders, a journal that cannot be written,
a stop whose cancels cannot be confirmed, a second daemon on the same journal, a reload
that would change what "ours" means, and secrets stay out of debug logs.
"""

from __future__ import annotations

import asyncio
import re
import resource
import signal
from datetime import timedelta

import pytest
from daemon_process import DaemonProcess as Daemon
from test_daemon import _workdir, ours, settle, write_config

from tsad.core import tickers
from tsad.core.orders import BookSide, OrderRequest


pytestmark = pytest.mark.timeout(120)
__all__ = ["_workdir"]  # the fixture, shared with test_daemon


async def place_previous(sim, key_id, key_file) -> int:
    """What a kill -9'd instance left: 6 resting orders of ours, 2 of them next week's."""
    from tsad.clock import SystemClock
    from tsad.kalshi.rest import KalshiClient
    from tsad.kalshi.signing import Signer, load_private_key

    nxt = sim.add_week(tickers.parse_event_ticker(sim.event_ticker).sunday + timedelta(days=7))
    markets = [m.ticker for m in sim.event.markets[:4]] + [m.ticker for m in nxt.markets[:2]]
    client = KalshiClient(sim.rest_url, Signer(key_id, load_private_key(key_file)),
                          clock=SystemClock())
    try:
        for i, ticker in enumerate(markets):
            await client.create_order(OrderRequest(
                ticker=ticker, side=BookSide.BID, price=100 * (i + 1), count=100,
                client_order_id=f"tsad-prev-{i}-bid-1"))
    finally:
        await client.aclose()
    assert len(ours(sim, key_id)) == 6
    return 6


def catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (its SigCgt mask in /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except FileNotFoundError:
        pass
    return False


async def wait_armed(d: Daemon) -> None:
    """Wait until the interpreter has run our entry point's first line: every signal we
    record is armed (they are armed one after another; a SIGHUP sent when only SIGTERM was
    would still meet the default action)."""
    assert d.proc is not None
    async with asyncio.timeout(10):
        while not all(catches(d.proc.pid, sig)
                      for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)):
            await asyncio.sleep(0.001)


def with_keys(cfg, section: str, text: str):
    cfg.write_text(cfg.read_text().replace(f"[{section}]\n", f"[{section}]\n{text}\n", 1))
    return cfg


@pytest.mark.parametrize("offset", [0.0, 0.05, 0.15, 0.3, 0.6])
async def test_sigterm_at_any_moment_of_startup(offset, workdir, sim, key_id, key_file):
    """SIGTERM from the first line on (imports, config, startup reads, first quotes) over a
    previous instance's 6 orders: exit 0 and nothing of ours rests; a SIGHUP just before is
    deferred, never fatal."""
    await place_previous(sim, key_id, key_file)
    d = Daemon(write_config(workdir, sim, key_id, key_file))
    await d.start()
    try:
        await wait_armed(d)
        d.signal(signal.SIGHUP)
        await asyncio.sleep(offset)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit(timeout=40) == 0, d.raw[-15:]
        assert ours(sim, key_id) == []
        assert d.events("daemon.stopped")
    finally:
        await d.kill()


async def test_sighup_during_startup_is_deferred(workdir, sim, key_id, key_file):
    """A SIGHUP during startup is applied once the engine runs; the daemon lives and quotes."""
    d = Daemon(write_config(workdir, sim, key_id, key_file))
    await d.start()
    try:
        await wait_armed(d)
        d.signal(signal.SIGHUP)
        await d.wait_for("daemon.ready", timeout=30)
        await d.wait_for("config.reloaded", timeout=10)
        assert d.events("config.reload_deferred")
        await settle(sim, key_id)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
        assert ours(sim, key_id) == []
    finally:
        await d.kill()


async def test_journal_write_failure_cancels_everything(workdir, sim, key_id, key_file):
    """Journal writes start failing (a file-size limit): within 25 s nothing of ours rests,
    the exit is non-zero, and an error line says why."""
    await place_previous(sim, key_id, key_file)
    limit = 96 * 1024  # room for the schema and startup; the WAL outgrows it while quoting

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    d = Daemon(write_config(workdir, sim, key_id, key_file), preexec_fn=limit_file_size)
    await d.start()
    try:
        rc = await d.wait_exit(timeout=25)
        assert rc != 0
        assert ours(sim, key_id) == []
        failed = d.events("daemon.failed")
        assert failed and failed[0]["level"] == "error", d.raw[-20:]
        assert re.search(r"(?i)journal|disk|full|large", str(failed[0]["reason"]))
    finally:
        await d.kill()


async def test_unconfirmed_stop_exits_nonzero(workdir, sim, key_id, key_file):
    """A SIGTERM whose cancels cannot be confirmed (every request 503) ends within the stop
    budget with an error line and a non-zero exit."""
    cfg = with_keys(write_config(workdir, sim, key_id, key_file), "daemon", "stop_timeout = 4.0")
    d = Daemon(cfg)
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        await settle(sim, key_id)
        sim.faults.fail_next(1_000_000, status=503)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit(timeout=30) == 1
        (line,) = d.events("daemon.stop_unconfirmed")
        assert line["level"] == "error"
    finally:
        await d.kill()


async def test_second_daemon_on_the_same_journal_refuses(workdir, sim, key_id, key_file):
    """A second daemon on the same journal exits non-zero with a clear message, touching
    nothing; the first keeps its orders and stops cleanly."""
    cfg = write_config(workdir, sim, key_id, key_file)
    first = Daemon(cfg)
    await first.start()
    try:
        await first.wait_for("daemon.ready", timeout=30)
        before = await settle(sim, key_id)
        ids = {o.order_id for o in ours(sim, key_id)}
        second = Daemon(cfg)
        await second.start()
        assert await second.wait_exit(timeout=30) != 0
        (failed,) = second.events("daemon.failed")
        assert "in use by another tsad daemon" in str(failed["reason"])
        assert {o.order_id for o in ours(sim, key_id)} == ids
        assert await settle(sim, key_id) == before
        first.signal(signal.SIGTERM)
        assert await first.wait_exit() == 0
        assert ours(sim, key_id) == []
    finally:
        await first.kill()


async def test_reload_cannot_change_the_prefix(workdir, sim, key_id, key_file):
    """A SIGHUP changing client_order_prefix is refused as a whole: no orphan under the old
    prefix, nothing placed under the new one, and SIGTERM then leaves nothing resting."""
    cfg = write_config(workdir, sim, key_id, key_file)
    d = Daemon(cfg)
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        before = await settle(sim, key_id)
        with_keys(cfg, "exchange", 'client_order_prefix = "other"')
        cfg.write_text(cfg.read_text().replace("count = 10", "count = 7"))
        d.signal(signal.SIGHUP)
        await d.wait_for("config.reload_refused", timeout=10)
        await asyncio.sleep(1.0)
        assert await settle(sim, key_id) == before  # count = 7 was not half-applied
        assert all(o.client_order_id.startswith("tsad-") for o in ours(sim, key_id))
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
        assert ours(sim, key_id) == []
    finally:
        await d.kill()


async def test_no_secret_in_debug_logs(workdir, sim, key_id, key_file):
    """At log_level = "debug", through a websocket reconnect, no key id or signature header
    value appears in any line."""
    cfg = write_config(workdir, sim, key_id, key_file)
    cfg.write_text(cfg.read_text().replace('log_level = "info"', 'log_level = "debug"'))
    d = Daemon(cfg)
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        sim.faults.drop_connections()
        await d.wait_for("ws.connected", count=2, timeout=15)
        await asyncio.sleep(3.0)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
    text = "\n".join(d.raw)
    assert key_id not in text
    leaked = re.findall(r"(?i)kalshi[-_]access[-_](?:key|signature)\W{1,6}(?!\[redacted\])"
                        r"[A-Za-z0-9+/=_-]{4,}", text)
    assert leaked == []


async def test_state_directory_holds_journal_and_halt(tmp_path, sim, key_id, key_file):
    """With STATE_DIRECTORY set and the default state paths, the journal lands under it and
    touching ``halt`` there pulls every quote."""
    from tsad.clock import SystemClock
    from tsad.runtime import paper

    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    state.mkdir()
    paper.write_paper_inputs(
        prediction_path=state / "prediction.json", history_path=state / "history.csv",
        event_ticker=sim.event_ticker, center=float(sim.fair_center), now=SystemClock().now(),
        seed=1,
    )
    cfg = write_config(etc, sim, key_id, key_file)
    cfg.write_text(cfg.read_text().replace('halt_file = "halt"\n', "")
                   .replace('[journal]\npath = "state/journal.sqlite3"\n', ""))
    d = Daemon(cfg, env={"STATE_DIRECTORY": str(state)})
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        assert (state / "state" / "journal.sqlite3").exists()
        assert not (etc / "state").exists()
        await settle(sim, key_id)
        (state / "halt").touch()
        async with asyncio.timeout(10):
            while ours(sim, key_id):
                await asyncio.sleep(0.05)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
