"""Tests of the price archive and backtest: fetch-history against the generated history, the
conservative fill rule on a hand-computed week, and the backtest quoting as the daemon does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from aiohttp import web

from tsad.commands import cli
from tsad.commands.archive import fetch_history
from tsad.commands.replay import hour_quotes, load_weeks, render_json, run_backtest
from tsad.core import midweek
from tsad.core.fees import fee_schedule
from tsad.core.quoting import BookTop
from tsad.kalshi.budget import Budget
from tsad.kalshi.history import HistoryReader
from tsad.runtime import inputs
from tsad.runtime.config import load_config
from tsad.sim.history import GeneratedHistory, add_history_routes, write_forecaster_files


EVENT = "KXTSAW-24SEP08"
TICKER = f"{EVENT}-A2.45"


def _config(tmp: Path, *, hooks: str = '["seed"]', extra: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(
        "[model]\n"
        'prediction_path = "predictions.json"\nhistory_path = "history.csv"\n'
        f"hooks = {hooks}\n"
        f"{extra}"
    )
    return path


def _hand_week(tmp: Path) -> Path:
    """One market, two hours, prints through and at our price; errors ±5 % around 2.50M."""
    prices = tmp / "prices"
    market = {
        "ticker": TICKER, "event_ticker": EVENT, "status": "finalized", "result": "yes",
        "expiration_value": "2481234", "strike_type": "greater", "floor_strike": 2_450_000,
        "open_time": "2024-09-02T04:00:00Z", "close_time": "2024-09-02T06:00:00Z",
        "settlement_ts": "2024-09-10T16:00:00Z",
        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
    }
    (prices / "markets").mkdir(parents=True)
    (prices / "markets" / f"{EVENT}.json").write_text(json.dumps({"markets": [market]}))

    def trade(i: int, ts: str, price: str, count: str) -> dict[str, object]:
        return {"trade_id": f"t{i}", "ticker": TICKER, "created_time": ts,
                "yes_price_dollars": price, "no_price_dollars": "0", "count_fp": count}

    (prices / "trades").mkdir()
    (prices / "trades" / f"{TICKER}.json").write_text(json.dumps({"trades": [
        trade(1, "2024-09-02T04:30:00Z", "0.3600", "5.00"),   # through our 0.37 bid: 5 fill
        trade(2, "2024-09-02T04:40:00Z", "0.3700", "50.00"),  # at our price: no fill
        trade(3, "2024-09-02T05:30:00Z", "0.3000", "20.00"),  # through: our full 10 fill
        trade(4, "2024-09-02T06:30:00Z", "0.1000", "20.00"),  # after close: ignored
    ], "cursor": ""}))
    (tmp / "predictions.json").write_text(json.dumps({"2024-09-08": {"prediction": 2_500_000}}))
    rows = ["date,passengers_7_day_moving_average,prediction"]
    for i in range(20):  # relative errors: ten at −5 %, ten at +5 %
        rows.append(f"2023-01-{i + 1:02d},{2_375_000 if i < 10 else 2_625_000},2500000")
    (tmp / "history.csv").write_text("\n".join(rows) + "\n")
    return prices


def test_hand_computed_week(tmp_path: Path) -> None:
    """True value 1/2 → YES bid at 0.37 (× 3/4, rounded down). Hour one prints 5 through it
    (the print at 0.37 itself does not count), hour two 20 of which our 10 fill: 15 YES at
    0.37 settle YES for 15 × 0.63 = 9.45. Maker fees 0.0204 and 0.0408, each order's balance
    floored to the cent (0.03 + 0.05), leave 9.37."""
    prices = _hand_week(tmp_path)
    config = load_config(_config(tmp_path))
    weeks = load_weeks(prices, date(2024, 9, 1), date(2024, 9, 30))
    free = render_json(run_backtest(config, weeks))
    assert free["total"]["pnl_dollars"] == "9.4500"
    assert free["total"]["contracts_filled"] == "15.00"
    assert free["total"]["edge_dollars"] == "1.9500"  # 15 × (0.50 − 0.37)
    makers = render_json(run_backtest(config, weeks,
                                      fees=fee_schedule("quadratic_with_maker_fees", 1)))
    assert makers["total"]["pnl_dollars"] == "9.3700"
    assert makers["total"]["fees_dollars"] == "0.0800"
    assert makers["weeks"][0]["event_ticker"] == EVENT and makers["weeks"][0]["fills"] == 2


def test_backtest_quotes_are_the_daemons(tmp_path: Path, capsys) -> None:
    """At every sampled hour the backtest quotes exactly what `tsad quote` (the daemon's
    quoting code) prints for the same markets, inputs and instant."""
    hist = GeneratedHistory(date(2024, 9, 1), date(2024, 9, 8), seed=4, strikes=9)
    prices = tmp_path / "prices"
    week = hist.weeks[0]
    (prices / "markets").mkdir(parents=True)
    markets = [hist.market(week, k) for k in week.strikes]
    (prices / "markets" / f"{week.event_ticker}.json").write_text(json.dumps({"markets": markets}))
    write_forecaster_files(hist, tmp_path)
    cfg_path = _config(tmp_path, hooks='["realized_days"]')
    config = load_config(cfg_path)
    [data] = load_weeks(prices, week.sunday, week.sunday)
    live = tmp_path / "live.json"
    live.write_text(json.dumps({"markets": [{**m, "status": "active"} for m in markets]}))
    preds = inputs.load_predictions(tmp_path / "predictions.json")
    history = inputs.load_history(tmp_path / "history.csv")
    hooks = midweek.resolve_hooks(config.model.hooks)
    for hour in (2, 30, 100):
        now = datetime.fromtimestamp(week.open_ts + hour * 3600, UTC)
        ours, _ = hour_quotes(config, data, now, prediction=preds[week.sunday],
                              history=history, actuals={}, positions={},
                              books={t: BookTop() for t in hist._markets}, hooks=hooks)
        assert cli.main(["quote", "--config", str(cfg_path), "--markets", str(live),
                         "--now", now.isoformat(), "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        theirs = {(r["ticker"], r["book_side"], r["price"], r["count"])
                  for r in rows if r.get("book_side")}
        mine = {(q.ticker, str(q.side), f"{q.price / 10_000:.4f}", f"{q.count / 100:.2f}")
                for q in ours}
        assert mine == theirs and mine


async def test_fetch_history_both_partitions_and_resume(tmp_path: Path) -> None:
    """fetch-history stores Kalshi's own shapes from the live and historical partitions, and
    a second run fetches nothing again; the backtest then runs on what it saved."""
    hist = GeneratedHistory(date(2024, 9, 1), date(2024, 9, 22), seed=1, strikes=5,
                            cutoff=datetime(2024, 9, 20, tzinfo=UTC))
    app = web.Application()
    add_history_routes(app.router, hist)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/trade-api/v2"
    out = tmp_path / "prices"
    try:
        reader = HistoryReader(url, budget=Budget("basic"))
        try:
            first = await fetch_history(reader, series="KXTSAW", start=date(2024, 9, 1),
                                        end=date(2024, 10, 1), out=out)
            again = await fetch_history(reader, series="KXTSAW", start=date(2024, 9, 1),
                                        end=date(2024, 10, 1), out=out)
        finally:
            await reader.aclose()
    finally:
        await runner.cleanup()
    assert first["markets"] == first["fetched"] == 20  # 4 weeks × 5 strikes
    assert again["fetched"] == 0 and again["skipped"] == 20
    old = json.loads((out / "candlesticks" / f"{hist.weeks[0].event_ticker}-A"
                      f"{hist.weeks[0].strikes[0] / 1e6:.2f}.json").read_text())
    assert "close" in old["candlesticks"][0]["yes_bid"]  # the historical shape, kept as is
    new_week = hist.weeks[-1]
    new = json.loads((out / "candlesticks" / f"{hist.ticker(new_week, new_week.strikes[0])}"
                                             ".json").read_text())
    assert "close_dollars" in new["candlesticks"][0]["yes_bid"]
    saved = json.loads((out / "trades" / f"{hist.ticker(new_week, new_week.strikes[2])}.json")
                       .read_text())
    assert saved["trades"] == hist.trades(hist.ticker(new_week, new_week.strikes[2]))
    write_forecaster_files(hist, tmp_path)
    result = run_backtest(load_config(_config(tmp_path)),
                          load_weeks(out, date(2024, 9, 1), date(2024, 9, 22)))
    assert [w.event_ticker for w in result.weeks] == [w.event_ticker for w in hist.weeks]
    assert all(w.skipped is None and w.market_hours > 0 for w in result.weeks)


def test_cli_backtest_prices_json(tmp_path: Path, capsys) -> None:
    """`tsad backtest --prices DIR … --json` prints total.pnl_dollars and contracts_filled
    as decimal strings, with one row per week."""
    prices = _hand_week(tmp_path)
    cfg = _config(tmp_path)
    rc = cli.main(["backtest", "--prices", str(prices), "--config", str(cfg),
                   "--start", "2024-09-01", "--end", "2024-09-30", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["pnl_dollars"] == "9.4500"
    assert data["total"]["contracts_filled"] == "15.00"
    assert [w["event_ticker"] for w in data["weeks"]] == [EVENT]
    rc = cli.main(["backtest", "--prices", str(prices), "--config", str(cfg),
                   "--start", "2024-09-01", "--end", "2024-09-30", "--ignore-book"])
    assert rc == 0 and "total pnl 9.4500" in capsys.readouterr().out
    assert cli.main(["backtest", "--prices", str(tmp_path / "none"), "--config", str(cfg),
                     "--start", "2024-09-01", "--end", "2024-09-30"]) == 1
    assert "no markets/ directory" in capsys.readouterr().err
