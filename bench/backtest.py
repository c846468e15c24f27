"""Figure: the price backtest over a year of one series (≈ 200k market-hours) — target < 30 s.

The year is `tsad.sim.history.GeneratedHistory` (52 weeks × 23 strikes, hourly candles and
about 1.5 trades per market-hour), written to a temporary archive exactly as
``tsad fetch-history`` writes it; the timed run is what ``tsad backtest --prices`` does:
read the archive, then replay every hour through the daemon's valuation, quoting and risk
code and settle. The baseline, in the same run, prices the same market-hours the seed's way
(one pandas filter over the error history per strike and hour) and does nothing else.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from bench.fair_value import seed_ladder
from bench.harness import Figure, Row, summarize
from tsad.commands.replay import load_weeks, render_json, run_backtest
from tsad.runtime.config import load_config
from tsad.sim.history import GeneratedHistory, write_forecaster_files


__all__ = ["measure", "write_archive"]

START, END = date(2025, 1, 5), date(2025, 12, 28)


def write_archive(hist: GeneratedHistory, out: Path) -> None:
    """Write the generated weeks as ``fetch-history`` would."""
    for d in ("markets", "candlesticks", "trades"):
        (out / d).mkdir(parents=True, exist_ok=True)
    for w in hist.weeks:
        markets = [hist.market(w, k) for k in w.strikes]
        (out / "markets" / f"{w.event_ticker}.json").write_text(json.dumps({"markets": markets}))
        for m in markets:
            t = m["ticker"]
            (out / "candlesticks" / f"{t}.json").write_text(json.dumps(hist.candlesticks(t)))
            (out / "trades" / f"{t}.json").write_text(
                json.dumps({"trades": hist.trades(t), "cursor": ""}))


def _seed_baseline(hist: GeneratedHistory, errors: pd.DataFrame, hours: int) -> float:
    """Seconds to price ``hours`` market-hours the seed's way (pandas filter per strike)."""
    from tsad.core.market import Market, StrikeType

    w = hist.weeks[0]
    markets = [Market(ticker=hist.ticker(w, k), event_ticker=w.event_ticker,
                      strike_type=StrikeType.GREATER, floor_strike=float(k)) for k in w.strikes]
    t0 = time.perf_counter()
    for _ in range(hours // len(markets)):
        seed_ladder(errors, markets, float(w.prediction))
    return time.perf_counter() - t0


async def measure(quick: bool) -> Figure:
    """Time a year's backtest (load + replay) and the seed-style pricing baseline."""
    fig = Figure(name="backtest — a year of KXTSAW replayed hour by hour (target < 30 s)")
    end = date(2025, 3, 30) if quick else END
    hist = GeneratedHistory(START, end, seed=11)
    runs = 1 if quick else 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_archive(hist, root / "prices")
        write_forecaster_files(hist, root)
        (root / "config.toml").write_text(
            '[model]\nprediction_path = "predictions.json"\nhistory_path = "history.csv"\n')
        config = load_config(root / "config.toml")
        seconds: list[float] = []
        result = None
        for _ in range(runs):
            t0 = time.perf_counter()
            weeks = load_weeks(root / "prices", START, end)
            result = run_backtest(config, weeks)
            seconds.append(time.perf_counter() - t0)
        assert result is not None
        total = render_json(result)["total"]
        hours = int(total["market_hours"])
        errors = pd.read_csv(root / "history.csv").rename(
            columns={"passengers_7_day_moving_average": "actual"})
        base = [_seed_baseline(hist, errors, hours) for _ in range(runs)]
    value = summarize(seconds)
    fig.rows.append(Row(
        metric=f"backtest of {len(hist.weeks)} weeks, {hours:,} market-hours (load + replay)",
        unit="s", value=value, baseline_name="seed pandas pricing of the same market-hours",
        baseline=summarize(base), target="< 30 s" if not quick else "",
        met=(value.median < 30.0) if not quick else None,
    ))
    fig.notes.append(
        f"result: pnl {total['pnl_dollars']}, {total['contracts_filled']} contracts filled, "
        f"edge {total['edge_per_contract_dollars']} per contract, Brier true value "
        f"{total['brier_true_value']} vs market mid {total['brier_market_mid']}")
    return fig
