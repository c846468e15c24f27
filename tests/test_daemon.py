"""End to end: the real daemon as a subprocess against the emulator over loopback, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import write_demo_config
from daemon_process import DaemonProcess

from tsad.clock import SystemClock
from tsad.core.orders import BookSide
from tsad.runtime import paper


pytestmark = pytest.mark.timeout(120)



@pytest.fixture(name="workdir")
def _workdir(tmp_path, sim, key_id, key_file):
    """A config directory pointing at the emulator, with a prediction and a history."""
    paper.write_paper_inputs(
        prediction_path=tmp_path / "prediction.json", history_path=tmp_path / "history.csv",
        event_ticker=sim.event_ticker, center=float(sim.fair_center), now=SystemClock().now(),
        seed=1,
    )
    return tmp_path


def write_config(workdir: Path, sim, key_id, key_file, *, max_position: int = 100,
                 timeout: float = 5.0) -> Path:
    return write_demo_config(workdir, sim, key_id, key_file, max_position=max_position,
                             timeout=timeout)


@pytest.fixture(name="daemon")
async def _daemon(workdir, sim, key_id, key_file):
    """A started daemon, ready (first quotes placed); killed at teardown if still running."""
    d = DaemonProcess(write_config(workdir, sim, key_id, key_file))
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        yield d
    finally:
        await d.kill()


def ours(sim, key_id):
    return sim.resting_orders(user=key_id)


def take(sim, order, count):
    """An outside trader sweeps the book through our order's price, filling `count` of it."""
    ticker, side, price, remaining = (
        order if isinstance(order, tuple) else (order.ticker, order.side, order.price,
                                                order.remaining))
    levels = sim.book_levels(ticker)
    if side is BookSide.BID:
        ahead = sum(c for p, c in levels.yes if p >= price)
        taker = BookSide.ASK
    else:
        ahead = sum(c for q, c in levels.no if 10_000 - q <= price)
        taker = BookSide.BID
    sim.add_order(ticker, taker, price, ahead - remaining + count)


def assert_one_per_side(sim, key_id):
    keys = Counter((o.ticker, o.side) for o in ours(sim, key_id))
    dupes = {k: n for k, n in keys.items() if n > 1}
    assert not dupes, f"two resting orders on one market and side: {dupes}"


async def settle(sim, key_id, *, quiet: float = 0.6, timeout: float = 15.0,
                 allow_empty: bool = False):
    """Wait until our resting orders stop changing for `quiet` seconds."""
    last = None
    stable_since = asyncio.get_running_loop().time()
    async with asyncio.timeout(timeout):
        while True:
            now = asyncio.get_running_loop().time()
            snap = sorted((o.ticker, o.side, o.price, o.remaining) for o in ours(sim, key_id))
            if snap != last:
                last, stable_since = snap, now
            elif now - stable_since >= quiet and (snap or allow_empty):
                return snap
            await asyncio.sleep(0.05)


def quote_cli(workdir: Path, markets_file: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "tsad", "quote", "--config", str(workdir / "config.toml"),
         "--markets", str(markets_file), "--json"],
        capture_output=True, text=True, check=True, cwd=workdir,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def test_quotes_equal_tsad_quote(daemon, workdir, sim, key_id):
    """The daemon's resting orders are exactly the orders `tsad quote` prints."""
    resting = await settle(sim, key_id)
    import httpx

    async with httpx.AsyncClient() as client:
        r = await client.get(f"{sim.rest_url}/events/{sim.event_ticker}",
                             params={"with_nested_markets": "true"})
    (workdir / "event.json").write_text(r.text)
    rows = await asyncio.to_thread(quote_cli, workdir, workdir / "event.json")
    from tsad.core.money import parse_count, parse_price

    expected = sorted(
        (row["ticker"], BookSide(row["book_side"]), parse_price(row["price"]),
         parse_count(row["count"]))
        for row in rows if row["side"] is not None
    )
    assert expected, "the quote sheet quotes nothing"
    assert resting == expected


async def test_prediction_change_reprices(daemon, workdir, sim, key_id):
    """Rewriting the prediction file re-prices the resting orders within seconds."""
    before = {(o.ticker, o.side): o.price for o in ours(sim, key_id)}
    pred_path = workdir / "prediction.json"
    data = json.loads(pred_path.read_text())
    (sunday,) = data
    data[sunday]["prediction"] = round(data[sunday]["prediction"] * 1.03)
    tmp = pred_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, pred_path)
    await daemon.wait_for("inputs.changed", timeout=5)
    after = await settle(sim, key_id)
    changed = {(t, s) for t, s, p, _ in after if before.get((t, s)) != p}
    assert changed, "no order moved after the prediction changed"
    assert_one_per_side(sim, key_id)


async def test_faults_keep_invariants(daemon, workdir, sim, key_id):
    """Dropped websocket, skipped seq, 5xx and 429 bursts and fills leave every invariant."""
    await settle(sim, key_id)
    sim.faults.drop_connections()
    await daemon.wait_for("ws.connected", count=2, timeout=15)
    sim.faults.skip_seq(1)
    sim.faults.fail_next(3, status=503)
    sim.faults.fail_next(3, status=429)
    # An outside trader takes every bid of ours: fills arrive, positions move.
    taken = ours(sim, key_id)
    for o in taken:
        take(sim, o, o.remaining // 2 or 100)
    assert all(sim.position(key_id, o.ticker) for o in taken), [
        (o.ticker, o.side, o.price, sim.book_levels(o.ticker)) for o in taken]
    await asyncio.sleep(1.0)
    await settle(sim, key_id, timeout=20)
    assert_one_per_side(sim, key_id)
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait_exit() == 0
    assert ours(sim, key_id) == []
    db = sqlite3.connect(workdir / "state" / "journal.sqlite3")
    trade_ids = [r[0] for r in db.execute("SELECT trade_id FROM fills")]
    assert trade_ids and len(trade_ids) == len(set(trade_ids))


async def test_max_position_never_exceeded(workdir, sim, key_id, key_file):
    """With a small max_position, repeated fills never take a position beyond it."""
    d = DaemonProcess(write_config(workdir, sim, key_id, key_file, max_position=15))
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        for _ in range(4):
            for o in await settle(sim, key_id, allow_empty=True, quiet=1.0):
                take(sim, o, o[3])
        await settle(sim, key_id, allow_empty=True, quiet=1.0)
        for m in sim.event.markets:
            assert abs(sim.position(key_id, m.ticker)) <= 1500, m.ticker
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()


async def test_sighup_valid_and_invalid(daemon, workdir, sim, key_id):
    """SIGHUP applies a valid config and keeps running on the old one when invalid."""
    await settle(sim, key_id)
    cfg = workdir / "config.toml"
    text = cfg.read_text()
    cfg.write_text(text.replace("count = 10", "count = 7"))
    daemon.signal(signal.SIGHUP)
    await daemon.wait_for("config.reloaded", timeout=10)
    snap = await settle(sim, key_id)
    assert {c for *_, c in snap} == {700}
    cfg.write_text(text.replace("count = 10", "count = \"lots\""))
    daemon.signal(signal.SIGHUP)
    await daemon.wait_for("config.reload_rejected", timeout=10)
    await asyncio.sleep(0.5)
    assert daemon.proc is not None and daemon.proc.returncode is None
    assert {o.remaining for o in ours(sim, key_id)} == {700}


async def test_sigterm_cancels_everything(daemon, sim, key_id):
    """SIGTERM stops quoting, cancels every resting order of ours and exits 0."""
    await settle(sim, key_id)
    assert ours(sim, key_id)
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait_exit() == 0
    assert ours(sim, key_id) == []
    assert daemon.events("daemon.stopped")


async def test_kill9_restart_no_duplicates(workdir, sim, key_id, key_file):
    """After kill -9 and a restart, the daemon adopts its orders: no duplicate is placed."""
    cfg = write_config(workdir, sim, key_id, key_file)
    first = DaemonProcess(cfg)
    await first.start()
    await first.wait_for("daemon.ready", timeout=30)
    before = await settle(sim, key_id)
    first.signal(signal.SIGKILL)
    await first.wait_exit()
    second = DaemonProcess(cfg)
    await second.start()
    try:
        await second.wait_for("daemon.ready", timeout=30)
        after = await settle(sim, key_id)
        assert_one_per_side(sim, key_id)
        assert after == before
        started = second.events("engine.started")
        assert started and started[0]["adopted"] == len(before)
    finally:
        await second.kill()


async def test_halt_file_pulls_quotes(daemon, workdir, sim, key_id):
    """While the halt file exists nothing of ours rests; removing it resumes quoting."""
    await settle(sim, key_id)
    (workdir / "halt").touch()
    async with asyncio.timeout(10):
        while ours(sim, key_id):
            await asyncio.sleep(0.05)
    (workdir / "halt").unlink()
    await settle(sim, key_id)
    assert ours(sim, key_id)


async def test_invalid_config_exits_78(tmp_path):
    """A malformed config at startup names the key and exits with EX_CONFIG (78)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[quoting]\nmargn = 0.75\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", "run", "--config", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 78
    assert b"margn" in out and b"margin" in out


async def test_corrupt_prediction_pulls_quotes(daemon, workdir, sim, key_id):
    """A corrupt prediction file cancels our quotes and logs why; fixing it resumes quoting."""
    await settle(sim, key_id)
    good = (workdir / "prediction.json").read_text()
    (workdir / "prediction.json").write_text("{not json")
    await daemon.wait_for("inputs.invalid", timeout=5)
    async with asyncio.timeout(10):
        while ours(sim, key_id):
            await asyncio.sleep(0.05)
    reason = daemon.events("inputs.invalid")[0]["reason"]
    assert "prediction.json" in str(reason)
    (workdir / "prediction.json").write_text(good)
    await settle(sim, key_id)
    assert ours(sim, key_id)


async def test_trading_pause_no_error_storm(daemon, sim, key_id):
    """A trading pause pulls quotes without a storm of rejected writes, and quoting resumes."""
    await settle(sim, key_id)
    sim.set_trading_active(False)
    await asyncio.sleep(3.0)
    writes = [r for r in sim.request_log if r.method in ("POST", "DELETE")]
    assert len(writes) < 60, f"{len(writes)} writes during a 3 s pause"
    sim.set_trading_active(True)
    await settle(sim, key_id, timeout=20)
    assert_one_per_side(sim, key_id)


async def test_shadow_mode_sends_no_writes(workdir, sim, key_id, key_file):
    """With dry_run the daemon logs what it would do and sends no write at all."""
    cfg = write_config(workdir, sim, key_id, key_file)
    cfg.write_text(cfg.read_text().replace('tier = "basic"', 'tier = "basic"\ndry_run = true'))
    d = DaemonProcess(cfg)
    await d.start()
    try:
        await d.wait_for("shadow.would_create", timeout=30)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
    assert not [r for r in sim.request_log if r.method in ("POST", "DELETE")]
    assert ours(sim, key_id) == []


async def test_paper_mode_main_job(tmp_path):
    """The shipped config runs paper mode with nothing prepared and stops cleanly."""
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "config.toml").write_text((root / "config.toml").read_text())
    d = DaemonProcess(tmp_path / "config.toml")
    await d.start()
    try:
        await d.wait_for("order.created", timeout=30)
        d.signal(signal.SIGINT)
        assert await d.wait_exit() == 0
        stopped = d.events("daemon.stopped")
        assert stopped and stopped[0]["resting"] == 0
    finally:
        await d.kill()


async def test_sd_notify_lifecycle(workdir, sim, key_id, key_file, tmp_path_factory):
    """READY=1 after startup, RELOADING=1/READY=1 on SIGHUP, WATCHDOG=1, STOPPING=1 on SIGTERM,
    and STATUS= refreshed as the state changes."""
    import socket

    sock_path = tmp_path_factory.mktemp("notify") / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    messages: list[str] = []

    def drain() -> None:
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except BlockingIOError:
                return

    # Read as the datagrams arrive: a unix datagram socket queues only a few (max_dgram_qlen)
    # and the daemon's sends are non-blocking, so a reader that waits would lose the last ones.
    loop = asyncio.get_running_loop()
    loop.add_reader(sock.fileno(), drain)
    d = DaemonProcess(write_config(workdir, sim, key_id, key_file))
    os.environ["NOTIFY_SOCKET"] = str(sock_path)
    os.environ["WATCHDOG_USEC"] = "1000000"
    try:
        await d.start()
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    try:
        await d.wait_for("daemon.ready", timeout=30)
        await asyncio.sleep(1.5)
        d.signal(signal.SIGHUP)
        await d.wait_for("config.reloaded", timeout=10)
        await asyncio.sleep(0.3)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
        loop.remove_reader(sock.fileno())
        drain()
        sock.close()
    text = "\n".join(messages)
    statuses = {line for m in messages for line in m.splitlines() if line.startswith("STATUS=")}
    assert len(statuses) >= 3, statuses  # starting, running (engine status), stopping
    assert "READY=1" in messages[0] or any(m.startswith("READY=1") for m in messages)
    assert "WATCHDOG=1" in text
    reload_at = next(i for i, m in enumerate(messages) if "RELOADING=1" in m)
    assert "MONOTONIC_USEC=" in messages[reload_at]
    assert any("READY=1" in m for m in messages[reload_at + 1:])
    assert "STOPPING=1" in messages[-1] or any("STOPPING=1" in m for m in messages[reload_at:])


async def test_sigterm_during_startup_unreachable_exits_nonzero(workdir, sim, key_id, key_file):
    """With the exchange unreachable, SIGTERM during startup's retries ends within the stop
    budget, non-zero: nothing can confirm that no order of ours rests."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write_config(workdir, sim, key_id, key_file)
    text = cfg.read_text().replace(sim.rest_url, f"http://127.0.0.1:{port}/trade-api/v2")
    cfg.write_text(text.replace('log_level = "info"', 'log_level = "info"\nstop_timeout = 3.0'))
    d = DaemonProcess(cfg)
    await d.start()
    try:
        await d.wait_for("rest.retry", timeout=20)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit(timeout=20) == 1
        (line,) = d.events("daemon.stop_unconfirmed")
        assert line["level"] == "error" and line["during"] == "startup"
    finally:
        await d.kill()


class NotifySocket:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        import socket

        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def env(self, watchdog_usec: int = 1_000_000) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": str(watchdog_usec)}

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def close(self) -> None:
        self.drain()
        self.sock.close()


async def test_waits_alive_for_an_unlisted_event(workdir, sim, key_id, key_file,
                                                 tmp_path_factory):
    """Started before its week is listed, the daemon waits (no crash loop, the watchdog fed)
    and then quotes."""
    from datetime import timedelta

    from tsad.core import tickers

    sunday = tickers.parse_event_ticker(sim.event_ticker).sunday + timedelta(days=7)
    later = tickers.event_ticker(sunday)
    pred = workdir / "prediction.json"
    data = json.loads(pred.read_text())
    data[sunday.isoformat()] = {"prediction": round(sim.fair_center)}
    pred.write_text(json.dumps(data))
    cfg = write_config(workdir, sim, key_id, key_file)
    cfg.write_text(cfg.read_text().replace('series = "KXTSAW"',
                                           f'series = "KXTSAW"\nevent = "{later}"'))
    notify = NotifySocket(tmp_path_factory.mktemp("notify") / "notify.sock")
    d = DaemonProcess(cfg, env=notify.env())
    await d.start()
    try:
        await d.wait_for("event.not_listed", timeout=20)
        async with asyncio.timeout(10):
            while sum("WATCHDOG=1" in m for m in notify.drain()) < 3:
                await asyncio.sleep(0.1)
        assert d.proc is not None and d.proc.returncode is None
        assert any("waiting for the event" in m for m in notify.messages)
        sim.add_week(sunday)
        await d.wait_for("daemon.ready", timeout=30)
        await d.wait_for("order.created", timeout=20)
        assert all(o.ticker.startswith(later) for o in ours(sim, key_id))
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
        notify.close()


async def test_market_that_opens_later_gets_quoted(workdir, sim, key_id, key_file):
    """A market not yet open is left alone; once it opens (no message) a resync quotes it."""
    quoted = {"KXTSAW-" + sim.event_ticker.split("-", 1)[1] + "-A2.50"}
    (ticker,) = quoted
    sim.set_market_status(ticker, "initialized")
    d = DaemonProcess(write_config(workdir, sim, key_id, key_file))
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        await settle(sim, key_id)
        assert ticker not in {o.ticker for o in ours(sim, key_id)}
        sim.set_market_status(ticker, "active")
        await d.wait_for("market.status", timeout=15)
        async with asyncio.timeout(15):
            while ticker not in {o.ticker for o in ours(sim, key_id)}:
                await asyncio.sleep(0.05)
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()


async def test_failing_user_hook_pulls_quotes(workdir, sim, key_id, key_file):
    """A user hook that raises pulls quotes with one logged reason; the daemon lives on."""
    (workdir / "myhooks.py").write_text(
        "def explode(ctx, dist):\n    raise RuntimeError('model server down')\n")
    cfg = write_demo_config(workdir, sim, key_id, key_file,
                            hooks='["realized_days", "myhooks:explode"]')
    d = DaemonProcess(cfg)
    await d.start()
    try:
        await d.wait_for("daemon.ready", timeout=30)
        await asyncio.sleep(1.5)  # several ticks re-check the hook
        failed = d.events("hook.failed")
        assert len(failed) == 1 and "model server down" in str(failed[0]["reason"])
        assert ours(sim, key_id) == []
        assert d.proc is not None and d.proc.returncode is None
        d.signal(signal.SIGTERM)
        assert await d.wait_exit() == 0
    finally:
        await d.kill()
