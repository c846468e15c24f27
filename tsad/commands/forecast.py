"""``tsad forecast``: forecast a week, write the daemon's prediction and error-history files.

The method is in ``forecaster``. This command adds what an operator relies on:

* stale actuals are refused: if the actuals lack days TSA has already published at
  ``--now`` (``midweek.missing_published``), the command exits 1 naming them instead of
  pricing an old state as fresh;
* the history it writes records each row's information state (``known_days``, ``holiday``,
  ``known_sum``), every state 0–6 by default, so the loader can give each state its own
  errors and never mixes them; pandemic weeks (``forecaster.PANDEMIC``) are left out
  unless ``--history-from`` reaches back into them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tsad.clock import SystemClock
from tsad.commands.actuals import atomic_write_text, read_actuals
from tsad.commands.forecaster import (
    DEFAULT_PARAMS,
    Forecast,
    ForecastParams,
    HistoryRow,
    analog_day,
    forecast_at,
    forecast_week,
    in_pandemic,
    information_time,
    naive_last_year,
    round_half_up,
    state_cutoff,
    sundays_between,
    walk_forward,
    week_end_sunday,
    week_mean,
)
from tsad.core import tickers
from tsad.core.midweek import format_days, missing_published, published_through
from tsad.core.model import MIN_HISTORY
from tsad.core.tickers import ET
from tsad.errors import InputError, TsadError
from tsad.runtime.inputs import parse_history_csv


__all__ = [
    "DEFAULT_PARAMS",
    "Forecast",
    "ForecastParams",
    "HistoryRow",
    "analog_day",
    "check_fresh",
    "cmd_forecast",
    "forecast_at",
    "forecast_week",
    "format_history_csv",
    "history_rows",
    "history_weeks",
    "information_time",
    "merge_prediction_file",
    "naive_last_year",
    "parse_day",
    "parse_now",
    "published_through",
    "register_forecast",
    "round_half_up",
    "state_cutoff",
    "sundays_between",
    "walk_forward",
    "week_end_sunday",
    "week_mean",
]

#: Columns of the history file: the seed's two, then the row's information state.
HISTORY_COLUMNS = (
    "date", "passengers_7_day_moving_average", "prediction", "known_days", "known_through",
    "holiday", "known_sum",
)


def format_history_csv(rows: Iterable[HistoryRow]) -> str:
    """Render history rows in the seed's ``lagged_tsa_data.csv`` shape plus their state.

    Columns: ``date`` (the week's Sunday), ``passengers_7_day_moving_average`` (the realised
    Monday–Sunday average, rounded half up), ``prediction``, ``known_days``,
    ``known_through``, ``holiday`` (1 for a holiday week) and ``known_sum`` (the known
    days' sum, so the loader can recover the error of the unknown days).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for r in rows:
        w.writerow(
            [
                r.week_end.isoformat(), round_half_up(r.actual_mean), r.prediction,
                r.known_days, r.known_through.isoformat(), int(r.holiday), r.known_sum,
            ]
        )
    return buf.getvalue()


def history_rows(
    actuals: Mapping[date, int],
    weeks: list[date],
    *,
    states: tuple[int, ...] = tuple(range(7)),
    params: ForecastParams = DEFAULT_PARAMS,
    include_pandemic: bool = False,
) -> list[HistoryRow]:
    """Walk forward over ``weeks`` and keep the rows a default history holds.

    Pandemic weeks are dropped unless ``include_pandemic``.
    """
    kept = [w for w in weeks if include_pandemic or not in_pandemic(w)]
    return walk_forward(actuals, kept, states=states, params=params)


def check_fresh(actuals: Mapping[date, int], now: datetime, path: str) -> None:
    """Refuse actuals that lack days TSA has published by ``now`` (the last two weeks).

    Raises:
        InputError: naming the missing days and the file.
    """
    last = published_through(now)
    missing = missing_published(actuals, now, since=last - timedelta(days=13))
    if missing:
        newest = max(actuals).isoformat() if actuals else "nothing"
        raise InputError(
            f"{path}: actuals are stale (they end {newest}); TSA has published "
            f"{format_days(missing)} by {now.isoformat()}: run `tsad fetch-actuals` first"
        )


def parse_now(text: str | None) -> datetime:
    """Parse ``--now`` with the core's one parser (naive = America/New_York); None = now.

    Raises:
        InputError: the text is not ISO 8601.
    """
    return SystemClock().now() if text is None else tickers.parse_now(text)


def parse_day(text: str, option: str) -> date:
    """Parse a ``YYYY-MM-DD`` option value, naming the option on error."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a YYYY-MM-DD date") from exc


def merge_prediction_file(path: Path, week_end: date, prediction: int) -> None:
    """Set one week's prediction in the daemon's prediction file, keeping the other weeks.

    The file is ``{"YYYY-MM-DD": {"prediction": N}}`` keyed by the event's Sunday; it is
    rewritten atomically.

    Args:
        path: the prediction file (created if missing).
        week_end: the week's Sunday.
        prediction: the forecast average, whole travellers.

    Raises:
        InputError: the existing file is not a JSON object of that shape.
    """
    content: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read prediction file: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InputError(f"{path}: prediction file must be a JSON object")
        content = loaded
    content[week_end.isoformat()] = {"prediction": prediction}
    text = json.dumps(dict(sorted(content.items())), indent=2) + "\n"
    atomic_write_text(path, text)


def history_weeks(
    actuals: Mapping[date, int], *, before: date, weeks: int, since: date | None
) -> list[date]:
    """Return the complete weeks (Sundays) ending on or before ``before`` to walk forward."""
    if not actuals:
        return []
    first = max(min(actuals) + timedelta(days=7), before - timedelta(days=7 * weeks))
    if since is not None:
        first = max(first, since)
    return [s for s in sundays_between(first, before) if s <= before]


def cmd_forecast(args: argparse.Namespace) -> int:
    """Run ``tsad forecast``: forecast one week, optionally write the prediction and history.

    Args:
        args: parsed arguments (``actuals``, ``week``, ``now``, ``out``, ``history_out``,
            ``history_weeks``, ``history_from``, ``history_state``, ``include_pandemic``,
            ``trend_days``).

    Returns:
        0 on success, 1 on bad input or stale actuals (the message names the file, the
        option or the missing days).
    """
    try:
        params = DEFAULT_PARAMS if args.trend_days is None else ForecastParams.single(
            args.trend_days
        )
        now = parse_now(args.now)
        # Without --week: the Mon–Sun week containing `now` in New York (the week to trade).
        week = parse_day(args.week, "--week") if args.week else now.astimezone(ET).date()
        actuals = read_actuals(Path(args.actuals))
        check_fresh(actuals, now, args.actuals)
        cutoff = published_through(now)
        spread: float | None = None
        fc = forecast_week(actuals, week_end_sunday(week), known_through=cutoff, params=params)
        if args.history_out:
            since = parse_day(args.history_from, "--history-from") if args.history_from else None
            # Only weeks whose outcome is published at `now` enter the history.
            last = week_end_sunday(cutoff)
            last = last if last <= cutoff else last - timedelta(days=7)
            weeks = history_weeks(actuals, before=last, weeks=args.history_weeks, since=since)
            states = tuple(range(7)) if args.history_state is None else (args.history_state,)
            rows = history_rows(
                {d: v for d, v in actuals.items() if d <= cutoff}, weeks, states=states,
                params=params, include_pandemic=args.include_pandemic,
            )
            first = min(states)
            n = sum(1 for r in rows if r.known_days == first)
            if n < MIN_HISTORY:
                raise InputError(
                    f"{args.actuals}: the history would hold {n} weeks in state {first}; at "
                    f"least {MIN_HISTORY} are needed to price (fetch past years with "
                    "`tsad fetch-actuals --backfill`)"
                )
            text = format_history_csv(rows)
            atomic_write_text(Path(args.history_out), text)
            if first == 0:  # what the daemon will read from the file: the same loader
                spread = parse_history_csv(text, args.history_out).spread_scale
        if args.out:
            merge_prediction_file(Path(args.out), fc.week_end, fc.prediction)
    except (TsadError, ValueError, OSError) as exc:
        print(f"forecast: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "week_end": fc.week_end.isoformat(),
                "prediction": fc.prediction,
                "known_days": fc.known_days,
                "known_through": fc.known_through.isoformat(),
                "trend": round(fc.trend, 6),
                "weights": {str(n): round(w, 4) for n, w in fc.weights},
                "remainder_ratio": (
                    None if fc.remainder_ratio is None else round(fc.remainder_ratio, 6)
                ),
                "now": now.isoformat(),
                # How wide realized_days will run the history's errors (latest year / all).
                "history_spread_scale": None if spread is None else round(spread, 4),
            },
            sort_keys=True,
        )
    )
    return 0


def register_forecast(sub: Any) -> argparse.ArgumentParser:
    """Register ``forecast`` on an argparse subparsers object.

    Args:
        sub: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The new subcommand parser (its ``func`` default is ``cmd_forecast``).
    """
    p: argparse.ArgumentParser = sub.add_parser(
        "forecast",
        help="forecast a week's average TSA throughput and write the prediction file",
        description="Holiday-anchored year-over-year forecast of a week's average, several "
        "trend windows weighted by their recent walk-forward error.",
    )
    p.add_argument("--actuals", required=True, help="actuals CSV (date,passengers)")
    p.add_argument("--week", help="any date of the target week (YYYY-MM-DD; default: now's week)")
    p.add_argument("--now", help="information time, ISO 8601 (naive = America/New_York)")
    p.add_argument("--out", help="prediction JSON file to merge this week's prediction into")
    p.add_argument(
        "--history-out",
        help="write the walk-forward error history CSV, every known-days state 0-6 with "
        "its state recorded (what realized_days prices each state with)",
    )
    p.add_argument("--history-weeks", type=int, default=104, help="weeks of history (104)")
    p.add_argument("--history-from", help="no history week before this date (YYYY-MM-DD)")
    p.add_argument(
        "--history-state",
        type=int,
        choices=range(7),
        help="write only this known-days state (default: all; the daemon then prices only "
        "that state and refuses the others)",
    )
    p.add_argument(
        "--include-pandemic",
        action="store_true",
        help="keep weeks of 2020-03..2021-12 in the history (left out by default)",
    )
    p.add_argument(
        "--trend-days",
        type=int,
        default=None,
        help="use one YoY trend window of this many days instead of the weighted mix",
    )
    p.set_defaults(func=cmd_forecast)
    return p
