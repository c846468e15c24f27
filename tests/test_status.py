"""`tsad status`: the running daemon answers on its control socket and agrees with the exchange."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, settle, write_config

from tsad.core.money import format_count, format_price
from tsad.runtime.control import SOCKET_NAME, socket_path, socket_path_for_config_file


pytestmark = pytest.mark.timeout(120)


async def tsad(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"})
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_agrees_with_the_exchange_on_every_resting_order(
    tmp_path: Path, sim, key_id, key_file
) -> None:
    config = write_config(tmp_path, sim, key_id, key_file)
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        await daemon.wait_for("daemon.ready")
        await settle(sim, key_id, quiet=1.0)
        # Compare one status answer with the exchange read at the same moment (retry if an
        # order moved in between).
        for _ in range(20):
            at_exchange = sorted(
                (o.ticker, o.side.value, format_price(o.price), format_count(o.remaining))
                for o in sim.resting_orders(user=key_id))
            rc, out, err = await tsad("status", "--config", str(config), "--json")
            assert rc == 0, err
            answer = json.loads(out)
            reported = sorted(
                (m["ticker"], m["order"]["book_side"], m["order"]["price"], m["order"]["count"])
                for m in answer["markets"] if m["order"] is not None)
            again = sorted(
                (o.ticker, o.side.value, format_price(o.price), format_count(o.remaining))
                for o in sim.resting_orders(user=key_id))
            if at_exchange == again:
                break
        assert reported == at_exchange and at_exchange, (reported, at_exchange)
        assert answer["event_ticker"] == sim.event_ticker
        assert answer["ready"] is True and answer["resting_orders"] == len(at_exchange)
        markets = {m["ticker"]: m for m in answer["markets"]}
        assert set(markets) == {m.ticker for m in sim.markets.values()
                                if m.event_ticker == sim.event_ticker}
        for m in answer["markets"]:
            assert set(m) == {"ticker", "true_value", "order", "best_bid", "best_ask",
                              "position", "pulled"}
            assert m["pulled"] is None
            assert m["position"] == "0.00"
            if m["order"] is not None:
                assert m["true_value"] is not None
                assert len(m["order"]["price"]) == 6  # "0.4100"
        quoted = next(m for m in answer["markets"] if m["order"] is not None)
        levels = sim.book_levels(quoted["ticker"])
        best_bid = max(p for p, _ in levels.yes) if levels.yes else None
        assert quoted["best_bid"] == (None if best_bid is None else format_price(best_bid))

        # The table: one row per market, our order and the books in Kalshi's strings.
        rc, table, _ = await tsad("status", "--config", str(config))
        assert rc == 0
        assert f"event {sim.event_ticker}" in table and "ready" in table
        row = next(line for line in table.splitlines() if line.startswith(quoted["ticker"]))
        assert f"{quoted['order']['price']} x {quoted['order']['count']}" in row

        # Halted: every market says why it is not quoted.
        (tmp_path / "halt").touch()
        async with asyncio.timeout(15):
            while True:
                rc, out, _ = await tsad("status", "--config", str(config), "--json")
                answer = json.loads(out)
                if (all(m["pulled"] == "halt" and m["order"] is None for m in answer["markets"])
                        and not sim.resting_orders(user=key_id)):
                    break
                await asyncio.sleep(0.2)
        assert "halt" in answer["pull_reasons"]
    finally:
        await daemon.kill()


async def test_status_without_a_daemon_says_so_and_exits_3(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[journal]\npath = "state/journal.sqlite3"\n')
    rc, _, err = await tsad("status", "--config", str(config))
    assert rc == 3
    assert "no daemon is running" in err and str(tmp_path / "state" / SOCKET_NAME) in err


def test_socket_lives_in_the_state_directory(tmp_path: Path) -> None:
    """$STATE_DIRECTORY wins (systemd); else the journal's folder, as the config resolves it."""
    config = tmp_path / "config.toml"
    config.write_text('[journal]\npath = "data/j.sqlite3"\n')
    assert socket_path_for_config_file(config, {}) == tmp_path / "data" / SOCKET_NAME
    assert socket_path_for_config_file(config, {"STATE_DIRECTORY": "/var/lib/tsad"}) == Path(
        "/var/lib/tsad") / SOCKET_NAME
    assert socket_path(Path("/srv/j.sqlite3"), {"STATE_DIRECTORY": "/a:/b"}) == Path(
        "/a") / SOCKET_NAME
