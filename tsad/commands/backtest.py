"""The walk-forward backtest of the baseline forecaster and the mid-week hooks' true values.

For every complete week in range and every known-days state k = 0..6 (Monday..k-th day
known), the forecast uses only actuals through that state's information date
(``forecast.state_cutoff``). The error history that prices the strikes comes from strictly
earlier weeks of the same state, so nothing is looked up ahead. Outcomes are YES iff the
realised Monday–Sunday average is strictly above the strike (tsa-markets.md §3.1).
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
from tsad.commands.forecast import (
    DEFAULT_PARAMS,
    ForecastParams,
    HistoryRow,
    information_time,
    naive_last_year,
    parse_day,
    round_half_up,
    sundays_between,
    walk_forward,
)
from tsad.core.midweek import WeekContext, apply_hooks, resolve_hooks
from tsad.core.model import ErrorHistory
from tsad.core.tickers import event_ticker
from tsad.errors import HookError, InputError, TsadError


__all__ = [
    "STRIKES",
    "BacktestRow",
    "Report",
    "cmd_backtest",
    "register_backtest",
    "run_backtest",
    "summarize",
]

#: The KXTSAW ladder: 1.80M to 2.90M by 0.05M (tsa-markets.md §3.4).
STRIKES: Final = tuple(range(1_800_000, 2_900_001, 50_000))

#: Log loss clips probabilities to [EPS, 1 − EPS] so a certain miss costs a finite amount.
LOG_LOSS_EPS: Final = Fraction(1, 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRow:
    """One week in one known-days state.

    Attributes:
        forecast: the walk-forward forecast row.
        naive_mean: known days as actuals, the rest the same weekday 364 days back.
        true_values: per hook name, P(YES) per strike (empty when the history was too short).
        history_n: how many past errors priced this row.
    """

    forecast: HistoryRow
    naive_mean: Fraction
    true_values: Mapping[str, tuple[Fraction, ...]]
    history_n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Summary statistics of a backtest (plain JSON-able values)."""

    weeks: int
    mape: dict[int, float]
    naive_mape: dict[int, float]
    brier: dict[str, float]
    log_loss: dict[str, float]
    brier_by_state: dict[str, dict[int, float]]
    reliability: dict[str, list[dict[str, float | int]]]

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-able dict (state keys as strings)."""
        return {
            "weeks": self.weeks,
            "mape_pct": {str(k): v for k, v in self.mape.items()},
            "naive_last_year_mape_pct": {str(k): v for k, v in self.naive_mape.items()},
            "brier": self.brier,
            "log_loss": self.log_loss,
            "brier_by_state": {
                h: {str(k): v for k, v in by.items()} for h, by in self.brier_by_state.items()
            },
            "reliability": self.reliability,
        }


def run_backtest(
    actuals: Mapping[date, int],
    *,
    start: date,
    end: date,
    hooks: Sequence[str],
    params: ForecastParams = DEFAULT_PARAMS,
    history_weeks: int = 104,
    history_from: date | None = None,
    min_history: int = 20,
    history_state: int | None = None,
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
        min_history: fewer past errors than this leaves the true values empty.
        history_state: price every state with the errors of this known-days state
            (e.g. 0: the whole-week error at Monday open, the error ``realized_days`` scales
            to the unknown days); None: the same state as the row.

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
    by_state: dict[int, list[HistoryRow]] = {}
    for r in all_rows:
        by_state.setdefault(r.known_days, []).append(r)
    out: list[BacktestRow] = []
    for r in all_rows:
        if r.week_end < start:
            continue
        lo = r.week_end - timedelta(days=7 * history_weeks)
        past = [
            p
            for p in by_state.get(r.known_days if history_state is None else history_state, [])
            if lo <= p.week_end < r.week_end
            and (history_from is None or p.week_end >= history_from)
        ]
        naive = naive_last_year(actuals, r.week_end, known_through=r.known_through)
        tvs: dict[str, tuple[Fraction, ...]] = {}
        if len(past) >= min_history:
            history = ErrorHistory.from_pairs(
                (float(round_half_up(p.actual_mean)), float(p.prediction)) for p in past
            )
            dates = tuple(r.week_end - timedelta(days=6 - i) for i in range(7))
            ctx = WeekContext(
                event_ticker=event_ticker(r.week_end),
                dates=dates,
                now=information_time(r.week_end, r.known_days),
                known={d: actuals[d] for d in dates if d <= r.known_through},
                prediction=float(r.prediction),
                history=history,
            )
            for h in named:
                dist = apply_hooks(ctx, [h])
                tvs[h.name] = tuple(dist.prob_above(float(k)) for k in STRIKES)
        out.append(BacktestRow(forecast=r, naive_mean=naive, true_values=tvs, history_n=len(past)))
    return out


def _mape(pairs: Sequence[tuple[Fraction, Fraction]]) -> float:
    return 100 * math.fsum(abs(float(f / a) - 1) for f, a in pairs) / len(pairs)


def summarize(rows: Sequence[BacktestRow], hooks: Sequence[str]) -> Report:
    """Score a backtest: MAPE per state, naive MAPE, Brier, log loss, reliability deciles.

    Args:
        rows: the backtest rows.
        hooks: the hook names priced.

    Returns:
        The report.
    """
    states = sorted({r.forecast.known_days for r in rows})
    mape: dict[int, float] = {}
    naive: dict[int, float] = {}
    for k in states:
        sel = [r for r in rows if r.forecast.known_days == k]
        mape[k] = _mape([(r.forecast.forecast_mean, r.forecast.actual_mean) for r in sel])
        naive[k] = _mape([(r.naive_mean, r.forecast.actual_mean) for r in sel])
    brier: dict[str, float] = {}
    loss: dict[str, float] = {}
    brier_by_state: dict[str, dict[int, float]] = {}
    reliability: dict[str, list[dict[str, float | int]]] = {}
    for h in hooks:
        sq: list[float] = []
        ll: list[float] = []
        per_state: dict[int, list[float]] = {}
        bins: list[list[tuple[float, int]]] = [[] for _ in range(10)]
        for r in rows:
            tv = r.true_values.get(h)
            if tv is None:
                continue
            for strike, p in zip(STRIKES, tv, strict=True):
                y = 1 if r.forecast.actual_mean > strike else 0
                e = float((p - y) ** 2)
                sq.append(e)
                per_state.setdefault(r.forecast.known_days, []).append(e)
                q = min(max(p, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS)
                ll.append(-math.log(float(q if y else 1 - q)))
                bins[min(int(p * 10), 9)].append((float(p), y))
        if not sq:
            continue
        brier[h] = math.fsum(sq) / len(sq)
        loss[h] = math.fsum(ll) / len(ll)
        brier_by_state[h] = {k: math.fsum(v) / len(v) for k, v in sorted(per_state.items())}
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
        mape=mape,
        naive_mape=naive,
        brier=brier,
        log_loss=loss,
        brier_by_state=brier_by_state,
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


def format_report(report: Report) -> str:
    """Render the report as a human-readable table.

    Args:
        report: the summary.

    Returns:
        Multi-line text.
    """
    lines = [f"weeks: {report.weeks}", "", "known_days  MAPE%   naive_last_year_MAPE%"]
    for k, v in report.mape.items():
        lines.append(f"{k:>10}  {v:5.2f}   {report.naive_mape[k]:5.2f}")
    lines.append("")
    lines.append("hook              brier     log_loss")
    for h, b in report.brier.items():
        lines.append(f"{h:<16}  {b:.5f}   {report.log_loss[h]:.5f}")
    for h, by in report.brier_by_state.items():
        cells = "  ".join(f"{k}:{v:.4f}" for k, v in by.items())
        lines.append(f"brier by state [{h}]  {cells}")
    for h, table in report.reliability.items():
        lines.append("")
        lines.append(f"reliability [{h}]   bin        n   mean_tv  observed")
        for row in table:
            lines.append(
                f"{'':>19}{row['lo']:.1f}-{row['hi']:.1f}  {row['n']:>6}   "
                f"{row['mean_tv']:.3f}    {row['observed']:.3f}"
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
            ``history_state``, ``trend_days``).

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
            params=ForecastParams(trend_days=args.trend_days),
            history_weeks=args.history_weeks,
            history_from=since,
            min_history=args.min_history,
            history_state=None if args.history_state == "same" else int(args.history_state),
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
    p.add_argument("--min-history", type=int, default=20, help="fewest errors to price a week")
    p.add_argument(
        "--history-state",
        choices=["same", *map(str, range(7))],
        default="same",
        help="known-days state whose errors price each row (default: the row's own)",
    )
    p.add_argument(
        "--trend-days", type=int, default=DEFAULT_PARAMS.trend_days, help="YoY trend window"
    )
    p.set_defaults(func=cmd_backtest)
    return p
