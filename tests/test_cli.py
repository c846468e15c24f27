"""The command line: check-config, quote (against a seed reimplementation), sim, cancel-all."""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from tsad.commands.cli import main
from tsad.core.orders import BookSide


def _event_payload(sunday: str = "26NOV29") -> dict[str, object]:
    markets = []
    for i in range(23):
        strike = 1_800_000 + 50_000 * i
        markets.append({
            "ticker": f"KXTSAW-{sunday}-A{strike / 1e6:.2f}",
            "event_ticker": f"KXTSAW-{sunday}",
            "market_type": "binary",
            "status": "active",
            "strike_type": "greater",
            "floor_strike": strike,
            "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
            "yes_bid_dollars": "0.0000",
            "yes_ask_dollars": "1.0000",
        })
    return {"event": {"event_ticker": f"KXTSAW-{sunday}", "series_ticker": "KXTSAW",
                      "title": "TSA", "markets": markets}, "markets": markets}


@pytest.fixture(name="quote_env")
def _quote_env(tmp_path):
    """A config with a seeded history and a prediction for the week ending 2026-11-29."""
    rng = random.Random(7)
    rows = ["date,passengers_7_day_moving_average,prediction"]
    pairs = []
    for i in range(400):
        pred = 2_400_000 + rng.randint(-200_000, 200_000)
        actual = round(pred * (1 + rng.gauss(0, 0.04)), 3)
        rows.append(f"2025-01-{1 + i % 28:02d},{actual},{pred}")
        pairs.append((actual, pred))
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "prediction.json").write_text(json.dumps({"2026-11-29": {"prediction": 2461234}}))
    (tmp_path / "event.json").write_text(json.dumps(_event_payload()))
    (tmp_path / "config.toml").write_text(
        '[exchange]\nenvironment = "paper"\n\n[model]\nprediction_path = "prediction.json"\n'
        'history_path = "history.csv"\nhooks = ["seed"]\n'
    )
    return tmp_path, pairs


def _seed_reference(pairs, prediction, strike):
    """The seed's method with floats, as its pandas filter computes it."""
    errors = [a / p - 1 for a, p in pairs]
    threshold = strike / prediction - 1
    if prediction > strike:
        side, tv = "yes", sum(e > threshold for e in errors) / len(errors)
    else:
        side, tv = "no", sum(e <= threshold for e in errors) / len(errors)
    return side, tv


def test_quote_matches_seed_to_the_tick(quote_env, capsys):
    """`tsad quote --json` equals the seed's method: side, true value, price floored to 1¢."""
    d, pairs = quote_env
    rc = main(["quote", "--config", str(d / "config.toml"), "--markets", str(d / "event.json"),
               "--json", "--now", "2026-11-23T15:00:00+00:00"])
    assert rc == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 23
    quoted = 0
    for row in rows:
        side, tv = _seed_reference(pairs, 2461234, row["floor_strike"])
        if not 0.05 < tv < 0.95:
            assert row["side"] is None and row["reason"]
            continue
        quoted += 1
        exact = Fraction(row["true_value_exact"])
        assert float(exact) == pytest.approx(tv, abs=1e-12)
        assert row["side"] == side
        cents = math.floor(exact * Fraction(3, 4) * 100)
        yes_price = cents if side == "yes" else 100 - cents
        assert row["price"] == f"{yes_price / 100:.4f}"
        assert row["book_side"] == ("bid" if side == "yes" else "ask")
        assert row["count"] == "10.00"
    assert quoted >= 4


def test_quote_corrupt_history_names_file_and_row(quote_env, capsys):
    """A corrupt history file is a clear error naming the file and the row."""
    d, _ = quote_env
    with (d / "history.csv").open("a") as f:
        f.write("2025-02-01,abc,2400000\n")
    rc = main(["quote", "--config", str(d / "config.toml"), "--markets", str(d / "event.json"),
               "--json"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "history.csv" in err and "row 402" in err


def test_check_config_ok_and_bad(tmp_path, capsys):
    """check-config accepts the shipped file and names the key and line of a typo."""
    root = Path(__file__).resolve().parent.parent
    assert main(["check-config", "--config", str(root / "config.toml")]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[risk]\nmax_positon = 5\n')
    assert main(["check-config", "--config", str(bad)]) == 78
    err = capsys.readouterr().err
    assert "max_positon" in err and "max_position" in err and "bad.toml:2:" in err


async def test_sim_standalone_prints_urls():
    """`tsad sim` prints one JSON line with rest_url and ws_url, serves, and stops on SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", "sim", "--port", "0", "--no-outside-traders",
        stdout=asyncio.subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        info = json.loads(line)
        import httpx

        async with httpx.AsyncClient() as client:
            r = await client.get(f"{info['rest_url']}/exchange/status")
        assert r.status_code == 200 and info["ws_url"].startswith("ws://")
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_cancel_all_cancels_only_ours(tmp_path, sim, key_id, key_file):
    """cancel-all removes tsad's resting orders and leaves the account's other orders."""
    from tsad.clock import SystemClock
    from tsad.core.orders import OrderRequest
    from tsad.kalshi.rest import KalshiClient
    from tsad.kalshi.signing import Signer, load_private_key

    client = KalshiClient(sim.rest_url, Signer(key_id, load_private_key(key_file)),
                          clock=SystemClock())
    t = sim.event.markets[0].ticker
    try:
        await client.create_order(OrderRequest(ticker=t, side=BookSide.BID, price=100, count=100,
                                               client_order_id="tsad-x-a-bid-1"))
        await client.create_order(OrderRequest(ticker=t, side=BookSide.BID, price=200, count=100,
                                               client_order_id="manual-1"))
    finally:
        await client.aclose()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[exchange]\nenvironment = "demo"\nrest_url = "{sim.rest_url}"\n'
        f'ws_url = "{sim.ws_url}"\nkey_id = "{key_id}"\nprivate_key_path = "{key_file}"\n'
        '[model]\nprediction_path = "p.json"\nhistory_path = "h.csv"\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", "cancel-all", "--config", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"cancelled": 1, "confirmed": True, "remaining": 0}
    assert [o.client_order_id for o in sim.resting_orders(user=key_id)] == ["manual-1"]
    # When nothing can be confirmed (every request 503), it says so and exits non-zero.
    sim.faults.fail_next(1_000_000, status=503)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", "cancel-all", "--config", str(cfg), "--timeout", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert json.loads(out)["confirmed"] is False and b"could not confirm" in err


def _demo_config(tmp_path, key_file, extra: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[exchange]\nenvironment = "demo"\nkey_id = "k"\nprivate_key_path = "{key_file}"\n'
        f'[model]\nprediction_path = "p.json"\nhistory_path = "h.csv"\n{extra}'
    )
    return cfg


@pytest.mark.parametrize("problem", ["hook", "key-mode", "not-pem"])
def test_check_config_runs_the_start_checks(problem, tmp_path, key_file, capsys):
    """check-config is the start's check: an unimportable hook, a key others can read, or a
    key file that is not PEM exits 78 naming the problem."""
    import os

    extra = ""
    if problem == "hook":
        extra = 'hooks = ["realized_days", "no_such_module_here:hook"]\n'
    elif problem == "key-mode":
        os.chmod(key_file, 0o644)
    else:
        key_file.write_text("this is not a key\n")
    cfg = _demo_config(tmp_path, key_file, extra)
    assert main(["check-config", "--config", str(cfg)]) == 78
    err = capsys.readouterr().err
    expected = {"hook": "no_such_module_here", "key-mode": "readable by group or others",
                "not-pem": "not a readable unencrypted PEM key"}[problem]
    assert expected in err


def test_check_config_accepts_a_good_demo_config(tmp_path, key_file, capsys):
    """A demo config with a private PEM key, importable hooks and a writable journal folder."""
    assert main(["check-config", "--config", str(_demo_config(tmp_path, key_file))]) == 0
    assert "OK" in capsys.readouterr().out


def test_version_help_and_default_config(tmp_path, capsys, monkeypatch):
    """`tsad --version` prints the version; bare `tsad` prints help; --config defaults to
    ./config.toml."""
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("tsad ")
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: tsad" in out and "check-config" in out
    monkeypatch.chdir(tmp_path)
    assert main(["check-config"]) == 78
    assert "config.toml" in capsys.readouterr().err
    (tmp_path / "config.toml").write_text("")
    assert main(["check-config"]) == 0


def test_quote_into_a_closed_pipe_is_quiet(quote_env):
    """`tsad quote … | head -1`: the reader is gone before tsad writes; no traceback."""
    d, _ = quote_env
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsad", "quote", "--config", str(d / "config.toml"),
         "--markets", str(d / "event.json"), "--now", "2026-11-23T15:00:00+00:00"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # as `yes | head -1` reports: ended by a closed pipe
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
