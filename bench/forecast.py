"""Forecast-quality figures: walk-forward MAPE and Brier by information state, to a file.

``python -m bench.forecast --actuals daily.csv [--start 2023-01-01 --end 2024-12-31]``
writes ``bench/FORECAST.md``: the forecaster against the same-weekdays-last-year and
last-week baselines (by state, year, holiday flag), and the Brier of each hook by state,
next to the earlier default (one 7-day trend window).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from tsad.commands.actuals import read_actuals
from tsad.commands.backtest import format_report, run_backtest, summarize
from tsad.commands.forecaster import ForecastParams


HOOKS = ("seed", "realized_days", "state_errors")


def main() -> None:
    """Run the walk-forward and write the Markdown report."""
    p = argparse.ArgumentParser(prog="python -m bench.forecast")
    p.add_argument("--actuals", default="tests/data/tsa/daily_2019-2024.csv")
    p.add_argument("--start", default="2023-01-01")
    p.add_argument("--end", default="2024-12-31")
    p.add_argument("--out", default=str(Path(__file__).with_name("FORECAST.md")))
    args = p.parse_args()
    actuals = read_actuals(Path(args.actuals))
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    parts = [f"# Forecast walk-forward, weeks {start} to {end}\n",
             f"Command: `python -m bench.forecast --actuals {args.actuals} "
             f"--start {start} --end {end}`\n"]
    for title, params in (("Forecaster (weighted trend windows)", ForecastParams()),
                          ("Earlier default (one 7-day window)", ForecastParams.single(7))):
        rows = run_backtest(actuals, start=start, end=end, hooks=HOOKS, params=params)
        parts += [f"## {title}\n", format_report(summarize(rows, HOOKS)), ""]
    Path(args.out).write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
