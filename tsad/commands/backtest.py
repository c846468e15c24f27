"""The walk-forward backtest of the forecaster and of the mid-week hooks' true values.

For every complete week in range and every known-days state k = 0..6 (Monday..k-th day
known), the forecast uses only actuals through that state's information date
(``forecaster.state_cutoff``). The error history that prices the strikes is built from
earlier weeks whose outcome was published by then, written and read back through the very
code the daemon uses (``forecast.format_history_csv`` → ``inputs.parse_history_csv``), and
priced through the same hooks, so the scores are those of the daemon's default valuation.
Outcomes are YES iff the realised Monday–Sunday average is strictly above the strike
(tsa-markets.md §3.1). A trading backtest (fills, fees, PnL) belongs in its own module.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from tsad.commands.actuals import atomic_write_text, read_actuals
from tsad.commands.forecast import format_history_csv, parse_day
from tsad.commands.forecaster import (
    DEFAULT_PARAMS,
    ForecastParams,
    HistoryRow,
    in_pandemic,
    information_time,
    last_week_mean,
    naive_last_year,
    sundays_between,
    walk_forward,
    week_dates,
)
from tsad.core.midweek import WeekContext, apply_hooks, resolve_hooks
from tsad.core.model import MIN_HISTORY, ErrorHistory
from tsad.core.tickers import event_ticker
from tsad.errors import HookError, InputError, TsadError
from tsad.runtime.inputs import parse_history_csv


__all__ = [
    "NEAR_MONEY",
    "STRIKES",
    "BacktestRow",
    "Report",
    "cmd_backtest",
    "format_report",
    "format_rows_csv",
    "register_backtest",
    "run_backtest",
    "summarize",
]

#: The KXTSAW ladder: 1.80M to 2.90M by 0.05M (tsa-markets.md §3.4).
STRIKES: Final = tuple(range(1_800_000, 2_900_001, 50_000))

#: Strikes within this distance of the forecast are "near the money": where prices trade.
NEAR_MONEY: Final = 100_000

#: Log loss clips probabilities to [EPS, 1 − EPS] so a certain miss costs a finite amount.
LOG_LOSS_EPS: Final = Fraction(1, 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRow:
    """One week in one known-days state.

    Attributes:
        forecast: the walk-forward forecast row.
        naive_mean: known days as actuals, the rest the same weekday 364 days back.
        last_week: known days as actuals, the rest the same weekday a week back.
        true_values: per hook name, P(YES) per strike (empty when the history was too short).
        history_n: how many past Monday-open errors the history held.
    """

    forecast: HistoryRow
    naive_mean: Fraction
    last_week: Fraction
    true_values: Mapping[str, tuple[Fraction, ...]]
    history_n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Summary statistics of a backtest (plain JSON-able values)."""

    weeks: int
    mape: dict[int, float]
    naive_mape: dict[int, float]
    last_week_mape: dict[int, float]
    mape_by_year: dict[int, dict[int, float]]
    mape_by_holiday: dict[str, dict[int, float]]
    brier: dict[str, float]
    log_loss: dict[str, float]
    brier_by_state: dict[str, dict[int, float]]
    near_money_brier_by_state: dict[str, dict[int, float]]
    reliability: dict[str, list[dict[str, float | int]]]

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-able dict (state keys as strings)."""
        def keyed(d: Mapping[int, float]) -> dict[str, float]:
            return {str(k): v for k, v in d.items()}

        return {
            "weeks": self.weeks,
            "mape_pct": keyed(self.mape),
            "naive_last_year_mape_pct": keyed(self.naive_mape),
            "last_week_mape_pct": keyed(self.last_week_mape),
            "mape_pct_by_year": {str(y): keyed(v) for y, v in self.mape_by_year.items()},
            "mape_pct_by_holiday": {h: keyed(v) for h, v in self.mape_by_holiday.items()},
            "brier": self.brier,
            "log_loss": self.log_loss,
            "brier_by_state": {h: keyed(v) for h, v in self.brier_by_state.items()},
            "near_money_brier_by_state": {
                h: keyed(v) for h, v in self.near_money_brier_by_state.items()
            },
            "reliability": self.reliability,
        }


def _history(past: Sequence[HistoryRow], stated: bool) -> ErrorHistory:
    """Build the error history the daemon would load from these rows."""
    history = parse_history_csv(format_history_csv(past), "walk-forward history")
    return history if stated else ErrorHistory(errors=history.errors)


def run_backtest(
    actuals: Mapping[date, int],
    *,
    start: date,
    end: date,
    hooks: Sequence[str],
    params: ForecastParams = DEFAULT_PARAMS,
    history_weeks: int = 104,
    history_from: date | None = None,
    min_history: int = MIN_HISTORY,
    include_pandemic: bool = False,
    stated_history: bool = True,
) -> list[BacktestRow]:
    """Walk forward over the complete weeks ending in [start, end], states 0–6.

    Args:
        actuals: passengers by date.
        start: first week considered (any day; its week's Sunday must be ≥ start).
        end: last Sunday considered.
        hooks: hook names to price with (``seed``, ``realized_days``, dotted paths).
        params: forecaster tuning.
        history_weeks: trailing weeks of errors that price a week.
        history_from: no error from a week ending before this date.
        min_history: fewer Monday-open errors than this (or than ``MIN_HISTORY``) leaves
            the true values empty.
        include_pandemic: keep 2020-03..2021-12 weeks in the histories.
        stated_history: histories record their states (the default); False prices with
            the Monday-open errors alone, as before states were recorded.

    Returns:
        Rows ordered by week, then state.

    Raises:
        ConfigError: an unknown hook name.
        HookError: a hook failed.
    """
    named = resolve_hooks(hooks)
    first_hist = start - timedelta(days=7 * history_weeks)
    if history_from is not None:
        first_hist = max(first_hist, history_from)
    all_rows = walk_forward(actuals, sundays_between(first_hist, end), params=params)
    usable = [r for r in all_rows if include_pandemic or not in_pandemic(r.week_end)]
    out: list[BacktestRow] = []
    cache: dict[date, tuple[ErrorHistory | None, int]] = {}
    for r in all_rows:
        if r.week_end < start:
            continue
        if r.week_end not in cache:
            lo = r.week_end - timedelta(days=7 * history_weeks)
            # Published by the week's Monday-open decision, hence by every state of it.
            past = [p for p in usable if lo <= p.week_end < r.week_end]
            n = sum(1 for p in past if p.known_days == 0)
            ok = n >= max(min_history, MIN_HISTORY)
            cache[r.week_end] = (_history(past, stated_history) if ok else None, n)
        history, n = cache[r.week_end]
        dates = week_dates(r.week_end)
        tvs: dict[str, tuple[Fraction, ...]] = {}
        if history is not None:
            now = information_time(r.week_end, r.known_days)
            ctx = WeekContext(
                event_ticker=event_ticker(r.week_end), dates=dates, now=now,
                # The state says what is known (states 5-6: a weekend release).
                known={d: actuals[d] for d in dates if d <= r.known_through},
                prediction=float(r.prediction), history=history, holiday=r.holiday,
            )
            for h in named:
                dist = apply_hooks(ctx, [h])
                tvs[h.name] = tuple(dist.prob_above(float(k)) for k in STRIKES)
        out.append(BacktestRow(
            forecast=r,
            naive_mean=naive_last_year(actuals, r.week_end, known_through=r.known_through),
            last_week=last_week_mean(actuals, r.week_end, known_through=r.known_through),
            true_values=tvs, history_n=n,
        ))
    return out


def _mape(pairs: Sequence[tuple[Fraction, Fraction]]) -> float:
    return 100 * math.fsum(abs(float(f / a) - 1) for f, a in pairs) / len(pairs)


def _mape_by_state(rows: Sequence[BacktestRow]) -> dict[int, float]:
    states = sorted({r.forecast.known_days for r in rows})
    return {
        k: _mape([(r.forecast.forecast_mean, r.forecast.actual_mean)
                  for r in rows if r.forecast.known_days == k])
        for k in states
    }


def summarize(rows: Sequence[BacktestRow], hooks: Sequence[str]) -> Report:
    """Score a backtest: MAPE per state (overall, by year, holiday or not) against the
    naive last-year and last-week forecasts; Brier (full ladder and near the money), log
    loss and reliability deciles per hook.
    """
    states = sorted({r.forecast.known_days for r in rows})
    naive: dict[int, float] = {}
    last: dict[int, float] = {}
    for k in states:
        sel = [r for r in rows if r.forecast.known_days == k]
        naive[k] = _mape([(r.naive_mean, r.forecast.actual_mean) for r in sel])
        last[k] = _mape([(r.last_week, r.forecast.actual_mean) for r in sel])
    years = sorted({r.forecast.week_end.year for r in rows})
    by_year = {y: _mape_by_state([r for r in rows if r.forecast.week_end.year == y])
               for y in years}
    by_holiday: dict[str, dict[int, float]] = {}
    for label, flag in (("holiday", True), ("other", False)):
        sel = [r for r in rows if r.forecast.holiday is flag]
        if sel:
            by_holiday[label] = _mape_by_state(sel)
    brier: dict[str, float] = {}
    loss: dict[str, float] = {}
    brier_by_state: dict[str, dict[int, float]] = {}
    near_by_state: dict[str, dict[int, float]] = {}
    reliability: dict[str, list[dict[str, float | int]]] = {}
    for h in hooks:
        sq: list[float] = []
        ll: list[float] = []
        per_state: dict[int, list[float]] = {}
        near: dict[int, list[float]] = {}
        bins: list[list[tuple[float, int]]] = [[] for _ in range(10)]
        for r in rows:
            tv = r.true_values.get(h)
            if tv is None:
                continue
            k = r.forecast.known_days
            for strike, p in zip(STRIKES, tv, strict=True):
                y = 1 if r.forecast.actual_mean > strike else 0
                e = float((p - y) ** 2)
                sq.append(e)
                per_state.setdefault(k, []).append(e)
                if abs(strike - r.forecast.prediction) <= NEAR_MONEY:
                    near.setdefault(k, []).append(e)
                q = min(max(p, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS)
                ll.append(-math.log(float(q if y else 1 - q)))
                bins[min(int(p * 10), 9)].append((float(p), y))
        if not sq:
            continue
        brier[h] = math.fsum(sq) / len(sq)
        loss[h] = math.fsum(ll) / len(ll)
        brier_by_state[h] = {k: math.fsum(v) / len(v) for k, v in sorted(per_state.items())}
        near_by_state[h] = {k: math.fsum(v) / len(v) for k, v in sorted(near.items())}
        reliability[h] = [
            {
                "bin": i,
                "lo": i / 10,
                "hi": (i + 1) / 10,
                "n": len(b),
                "mean_tv": math.fsum(p for p, _ in b) / len(b),
                "observed": sum(y for _, y in b) / len(b),
            }
            for i, b in enumerate(bins)
            if b
        ]
    return Report(
        weeks=len({r.forecast.week_end for r in rows}),
        mape=_mape_by_state(rows),
        naive_mape=naive,
        last_week_mape=last,
        mape_by_year=by_year,
        mape_by_holiday=by_holiday,
        brier=brier,
        log_loss=loss,
        brier_by_state=brier_by_state,
        near_money_brier_by_state=near_by_state,
        reliability=reliability,
    )


def _column(hook: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", hook).strip("_")


def format_rows_csv(rows: Sequence[BacktestRow], hooks: Sequence[str]) -> str:
    """Render backtest rows as CSV, one row per week and state, one column per hook×strike.

    Args:
        rows: the backtest rows.
        hooks: the hook names priced.

    Returns:
        CSV text with a header.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    tv_cols = [f"tv_{_column(h)}_{k}" for h in hooks for k in STRIKES]
    w.writerow(
        [
            "week_end_sunday",
            "known_days",
            "known_through",
            "forecast_mean",
            "actual_mean",
            "naive_mean",
            "history_n",
            *tv_cols,
        ]
    )
    for r in rows:
        f = r.forecast
        tvs: list[str] = []
        for h in hooks:
            values = r.true_values.get(h)
            tvs.extend(["" if values is None else f"{float(v):.6f}" for v in (values or STRIKES)])
        w.writerow(
            [
                f.week_end.isoformat(),
                f.known_days,
                f.known_through.isoformat(),
                f.prediction,
                f"{float(f.actual_mean):.3f}",
                f"{float(r.naive_mean):.3f}",
                r.history_n,
                *tvs,
            ]
        )
    return buf.getvalue()


def _table(title: str, columns: Sequence[str], rows: Mapping[str, Mapping[int, float]],
           fmt: str) -> list[str]:
    states = sorted({k for v in rows.values() for k in v})
    head = f"| {title} | " + " | ".join(columns[k] if k < len(columns) else str(k)
                                         for k in states) + " |"
    lines = [head, "|" + "---|" * (len(states) + 1)]
    for label, by in rows.items():
        cells = " | ".join(format(by[k], fmt) if k in by else "" for k in states)
        lines.append(f"| {label} | {cells} |")
    return lines


STATE_COLUMNS: Final = tuple(f"{k} known" for k in range(7))


def format_report(report: Report) -> str:
    """Render the report as Markdown tables (MAPE %, Brier), one column per state."""
    mape: dict[str, Mapping[int, float]] = {
        "forecaster (all weeks)": report.mape,
        "same weekdays last year": report.naive_mape,
        "last week's mean": report.last_week_mape,
    }
    mape.update({f"forecaster, {y}": v for y, v in report.mape_by_year.items()})
    mape.update({f"forecaster, {h} weeks": v for h, v in report.mape_by_holiday.items()})
    lines = [f"weeks: {report.weeks}", "", "MAPE % by information state (known days)", ""]
    lines += _table("forecast", STATE_COLUMNS, mape, ".2f")
    lines += ["", "Brier by state, full ladder 1.80M-2.90M", ""]
    lines += _table("hook", STATE_COLUMNS, report.brier_by_state, ".4f")
    lines += ["", f"Brier by state, strikes within {NEAR_MONEY:,} of the forecast", ""]
    lines += _table("hook", STATE_COLUMNS, report.near_money_brier_by_state, ".4f")
    lines += ["", "| hook | Brier | log loss |", "|---|---|---|"]
    for h, b in report.brier.items():
        lines.append(f"| {h} | {b:.5f} | {report.log_loss[h]:.5f} |")
    for h, table in report.reliability.items():
        lines += ["", f"reliability [{h}]: bin, n, mean true value, observed"]
        for row in table:
            lines.append(
                f"  {row['lo']:.1f}-{row['hi']:.1f}  {row['n']:>6}  "
                f"{row['mean_tv']:.3f}  {row['observed']:.3f}"
            )
    return "\n".join(lines)


def write_calibration_png(report: Report, path: Path) -> bool:
    """Draw the reliability diagram if matplotlib is importable (it is not a dependency).

    Args:
        report: the summary.
        path: the PNG to write.

    Returns:
        True if a file was written.
    """
    try:
        mpl: Any = importlib.import_module("matplotlib")
        mpl.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    for h, table in report.reliability.items():
        ax.plot([b["mean_tv"] for b in table], [b["observed"] for b in table], marker="o", label=h)
    ax.set_xlabel("true value (P(YES))")
    ax.set_ylabel("observed frequency")
    ax.legend()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run ``tsad backtest``: walk forward, write the CSV, print the summary.

    Args:
        args: parsed arguments (``actuals``, ``start``, ``end``, ``out``, ``json``,
            ``hooks``, ``history_weeks``, ``history_from``, ``min_history``,
            ``include_pandemic``, ``trend_days``).

    Returns:
        0 on success, 1 on bad input or a failing hook.
    """
    hooks = [h.strip() for h in args.hooks.split(",") if h.strip()]
    try:
        start = parse_day(args.start, "--start")
        end = parse_day(args.end, "--end")
        if end < start:
            raise InputError(f"--end {end} is before --start {start}")
        since = parse_day(args.history_from, "--history-from") if args.history_from else None
        actuals = read_actuals(Path(args.actuals))
        rows = run_backtest(
            actuals,
            start=start,
            end=end,
            hooks=hooks,
            params=DEFAULT_PARAMS if args.trend_days is None
            else ForecastParams.single(args.trend_days),
            history_weeks=args.history_weeks,
            history_from=since,
            min_history=args.min_history,
            include_pandemic=args.include_pandemic,
        )
        if not rows:
            raise InputError(f"{args.actuals}: no complete week to backtest in {start}..{end}")
        out = Path(args.out)
        atomic_write_text(out, format_rows_csv(rows, hooks))
    except (TsadError, HookError, ValueError, OSError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 1
    report = summarize(rows, hooks)
    write_calibration_png(report, out.with_suffix(".png"))
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print(format_report(report))
    return 0


def register_backtest(sub: Any) -> argparse.ArgumentParser:
    """Register ``backtest`` on an argparse subparsers object.

    Args:
        sub: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The new subcommand parser (its ``func`` default is ``cmd_backtest``).
    """
    p: argparse.ArgumentParser = sub.add_parser(
        "backtest",
        help="walk-forward backtest of the forecaster and the hooks' true values",
        description="Walk forward over complete weeks and known-days states 0-6, no look-ahead.",
    )
    p.add_argument("--actuals", required=True, help="actuals CSV (date,passengers)")
    p.add_argument("--start", required=True, help="first week (YYYY-MM-DD, any day of it)")
    p.add_argument("--end", required=True, help="last week's Sunday or later (YYYY-MM-DD)")
    p.add_argument("--out", required=True, help="per-week CSV to write")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--hooks", default="seed,realized_days", help="comma-separated hook names")
    p.add_argument("--history-weeks", type=int, default=104, help="trailing weeks of errors")
    p.add_argument("--history-from", help="no error from a week before this date")
    p.add_argument("--min-history", type=int, default=MIN_HISTORY,
                   help="fewest Monday-open errors to price a week")
    p.add_argument(
        "--include-pandemic", action="store_true",
        help="keep weeks of 2020-03..2021-12 in the error histories",
    )
    p.add_argument(
        "--trend-days", type=int, default=None,
        help="use one YoY trend window of this many days instead of the weighted mix",
    )
    p.set_defaults(func=cmd_backtest)
    return p
