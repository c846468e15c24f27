"""The baseline forecaster of a week's Monday–Sunday average TSA throughput.

Method (tsa-markets.md §1.5 and §5):

* every day of the target week that is published enters as its actual;
* every other day ``d`` is last year's analog day ``analog_day(d)`` scaled by a trailing
  year-over-year trend: the sum of the last ``trend_days`` published days over the sum of
  their analog days;
* the analog is the same weekday 364 days back, except near a moving holiday (within
  ``holiday_radius`` days of MLK, Presidents' Day, Easter, Memorial Day, Labor Day,
  Columbus Day, Thanksgiving), where last year's holiday is mapped onto this year's, and
  near a fixed-date holiday (New Year, July 4th, Veterans Day, Christmas, within
  ``fixed_radius`` days), where the same calendar date a year back is used.

No look-ahead: ``forecast_week`` is the one entry point and it drops every actual after its
information date before anything else; ``published_through(now)`` turns a wall-clock time
into that date.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from tsad.clock import SystemClock
from tsad.commands.actuals import atomic_write_text, read_actuals
from tsad.core.holidays import FIXED_DATE_HOLIDAYS, MOVING_HOLIDAYS, holiday_date
from tsad.core.midweek import RELEASE_TIME, published_through
from tsad.errors import InputError, TsadError


__all__ = [
    "DEFAULT_PARAMS",
    "RELEASE_TIME",
    "Forecast",
    "ForecastParams",
    "HistoryRow",
    "analog_day",
    "cmd_forecast",
    "forecast_at",
    "forecast_week",
    "format_history_csv",
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

NEW_YORK: Final = ZoneInfo("America/New_York")

#: TSA's weekday release is in by about 09:00 ET (tsa-markets.md §1.3: 07:00–10:15 seen).

#: The Kalshi market opens Monday 10:00 ET; each state's nominal information time is 10:00.
_DECISION_TIME: Final = time(10, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastParams:
    """Tuning of the baseline forecaster.

    Attributes:
        trend_days: how many latest published days set the year-over-year factor.
        holiday_radius: days around a moving holiday that use the holiday-to-holiday lag.
        fixed_radius: days around a fixed-date holiday that use the calendar-date lag
            (-1 disables it: plain 364 days there).
    """

    trend_days: int = 7
    holiday_radius: int = 12
    fixed_radius: int = 10

    def __post_init__(self) -> None:
        if self.trend_days < 1:
            raise ValueError("trend_days must be >= 1")
        if self.holiday_radius < -1 or self.fixed_radius < -1:
            raise ValueError("holiday radii must be >= -1")


DEFAULT_PARAMS: Final = ForecastParams()


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """One forecast of a week's average.

    Attributes:
        week_end: the Sunday ending the Monday–Sunday week (the event's date).
        known_through: the information date: no actual after it was used.
        known_days: how many days of the target week entered as actuals.
        known_sum: their sum.
        trend: the year-over-year factor applied to the unknown days.
        mean: the forecast average, exact.
        prediction: ``mean`` rounded half up to a whole number of travellers.
    """

    week_end: date
    known_through: date
    known_days: int
    known_sum: int
    trend: Fraction
    mean: Fraction
    prediction: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One walk-forward forecast against its realised weekly average."""

    week_end: date
    known_days: int
    known_through: date
    prediction: int
    forecast_mean: Fraction
    actual_mean: Fraction


def round_half_up(x: Fraction) -> int:
    """Round a non-negative fraction to the nearest integer, halves up.

    Args:
        x: the value.

    Returns:
        The rounded integer.
    """
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def week_end_sunday(day: date) -> date:
    """Return the Sunday that ends the Monday–Sunday week containing ``day``.

    Args:
        day: any day of the week (a Sunday maps to itself).

    Returns:
        That Sunday.
    """
    return day + timedelta(days=6 - day.weekday())


def state_cutoff(week_end: date, known_days: int) -> date:
    """Return the information date of a known-days state: Monday..(k-th day) known.

    Args:
        week_end: the week's Sunday.
        known_days: 0–7.

    Returns:
        The last known day (state 0: the previous Sunday).
    """
    if not 0 <= known_days <= 7:
        raise ValueError(f"known_days must be 0..7, got {known_days}")
    return week_end - timedelta(days=7 - known_days)


def information_time(week_end: date, known_days: int) -> datetime:
    """Return the nominal wall-clock time (UTC) of a known-days state.

    States 0–4 are 10:00 ET Monday–Friday of the week (after TSA's release), where
    ``published_through`` gives exactly that state. States 5 and 6 only arise when TSA
    posts on a weekend (holiday weekends); their nominal time is 10:00 ET Saturday/Sunday.

    Args:
        week_end: the week's Sunday.
        known_days: 0–6.

    Returns:
        An aware UTC datetime.
    """
    day = state_cutoff(week_end, known_days) + timedelta(days=1)
    return datetime.combine(day, _DECISION_TIME, tzinfo=NEW_YORK).astimezone(UTC)


def _nearest_anchor(day: date, holidays: Iterable[Any], radius: int) -> tuple[date, date] | None:
    """Find the nearest holiday within ``radius`` days and last year's same holiday."""
    if radius < 0:
        return None
    best: tuple[int, date, date] | None = None
    for holiday in holidays:
        for year in (day.year - 1, day.year, day.year + 1):
            h = holiday_date(holiday, year)
            gap = abs((day - h).days)
            if gap <= radius and (best is None or gap < best[0]):
                best = (gap, h, holiday_date(holiday, year - 1))
    return None if best is None else (best[1], best[2])


def analog_day(day: date, params: ForecastParams = DEFAULT_PARAMS) -> date:
    """Return last year's day that plays the role of ``day``.

    Args:
        day: a day to forecast (or a trend day).
        params: holiday radii.

    Returns:
        The analog: holiday-anchored near a moving holiday, calendar date near a fixed-date
        holiday, else the same weekday 364 days back.
    """
    moving = _nearest_anchor(day, MOVING_HOLIDAYS, params.holiday_radius)
    fixed = _nearest_anchor(day, FIXED_DATE_HOLIDAYS, params.fixed_radius)
    if moving is not None and fixed is not None:
        # The nearer holiday wins; a tie goes to the moving one.
        if abs((day - fixed[0]).days) < abs((day - moving[0]).days):
            moving = None
        else:
            fixed = None
    anchor = moving or fixed
    if anchor is None:
        return day - timedelta(days=364)
    this_year, last_year = anchor
    return last_year + (day - this_year)


def _need(data: Mapping[date, int], day: date, why: str) -> int:
    try:
        return data[day]
    except KeyError:
        raise InputError(f"actuals: no number for {day.isoformat()} ({why})") from None


def forecast_week(
    actuals: Mapping[date, int],
    week_end: date,
    *,
    known_through: date,
    params: ForecastParams = DEFAULT_PARAMS,
) -> Forecast:
    """Forecast a week's Monday–Sunday average from the actuals known through a date.

    This is the single entry point of the forecaster: it truncates ``actuals`` to
    ``known_through`` before reading anything, so no later number can leak in.

    Args:
        actuals: passengers by date (may extend past ``known_through``; ignored there).
        week_end: the target week's Sunday.
        known_through: the information date (see ``published_through``).
        params: tuning.

    Returns:
        The forecast.

    Raises:
        InputError: the actuals lack a day the method needs (named).
        ValueError: ``week_end`` is not a Sunday.
    """
    if week_end.weekday() != 6:
        raise ValueError(f"week_end {week_end.isoformat()} is not a Sunday")
    data = {d: v for d, v in actuals.items() if d <= known_through}
    days = [week_end - timedelta(days=6 - i) for i in range(7)]
    known = [d for d in days if d in data]
    known_sum = sum(data[d] for d in known)
    unknown = [d for d in days if d not in data]
    trend = Fraction(1)
    total = Fraction(known_sum)
    if unknown:
        recent = sorted(d for d in data if d > known_through - timedelta(days=3 * 366))
        window = recent[-params.trend_days :]
        if not window:
            raise InputError(f"actuals: nothing published before {known_through.isoformat()}")
        num = sum(data[d] for d in window)
        den = sum(_need(data, analog_day(d, params), "trend analog") for d in window)
        if den <= 0:
            raise InputError("actuals: last year's trend days sum to zero")
        trend = Fraction(num, den)
        for d in unknown:
            total += trend * _need(data, analog_day(d, params), f"analog of {d.isoformat()}")
    mean = total / 7
    return Forecast(
        week_end=week_end,
        known_through=known_through,
        known_days=len(known),
        known_sum=known_sum,
        trend=trend,
        mean=mean,
        prediction=round_half_up(mean),
    )


def forecast_at(
    actuals: Mapping[date, int],
    week: date,
    now: datetime,
    *,
    params: ForecastParams = DEFAULT_PARAMS,
) -> Forecast:
    """Forecast the week containing ``week`` with what TSA had published at ``now``.

    Args:
        actuals: passengers by date.
        week: any day of the target week.
        now: an aware datetime; the information date is ``published_through(now)``.
        params: tuning.

    Returns:
        The forecast.
    """
    return forecast_week(
        actuals, week_end_sunday(week), known_through=published_through(now), params=params
    )


def naive_last_year(
    actuals: Mapping[date, int], week_end: date, *, known_through: date
) -> Fraction:
    """Plain comparison forecast: known days as actuals, the rest the same weekday 364 days back.

    Args:
        actuals: passengers by date.
        week_end: the week's Sunday.
        known_through: the information date.

    Returns:
        The forecast average, exact.
    """
    data = {d: v for d, v in actuals.items() if d <= known_through}
    total = 0
    for i in range(7):
        d = week_end - timedelta(days=6 - i)
        total += data[d] if d in data else _need(data, d - timedelta(days=364), "naive analog")
    return Fraction(total, 7)


def week_mean(actuals: Mapping[date, int], week_end: date) -> Fraction | None:
    """Return the exact Monday–Sunday average, or None if a day is missing."""
    days = [week_end - timedelta(days=i) for i in range(7)]
    if any(d not in actuals for d in days):
        return None
    return Fraction(sum(actuals[d] for d in days), 7)


def walk_forward(
    actuals: Mapping[date, int],
    week_ends: Sequence[date],
    *,
    states: Sequence[int] = tuple(range(7)),
    params: ForecastParams = DEFAULT_PARAMS,
) -> list[HistoryRow]:
    """Forecast each complete week in each known-days state, each from its own past only.

    Weeks that lack a realised average, or whose forecast lacks data, are skipped.

    Args:
        actuals: passengers by date.
        week_ends: the Sundays to evaluate.
        states: known-days states (0–6).
        params: tuning.

    Returns:
        Rows ordered by week, then state.
    """
    rows: list[HistoryRow] = []
    for week_end in week_ends:
        actual = week_mean(actuals, week_end)
        if actual is None:
            continue
        for k in states:
            cutoff = state_cutoff(week_end, k)
            try:
                fc = forecast_week(actuals, week_end, known_through=cutoff, params=params)
            except InputError:
                continue
            rows.append(
                HistoryRow(
                    week_end=week_end,
                    known_days=k,
                    known_through=cutoff,
                    prediction=fc.prediction,
                    forecast_mean=fc.mean,
                    actual_mean=actual,
                )
            )
    return rows


def format_history_csv(rows: Iterable[HistoryRow]) -> str:
    """Render history rows in the seed's ``lagged_tsa_data.csv`` shape.

    Columns: ``date`` (the week's Sunday), ``passengers_7_day_moving_average`` (the realised
    Monday–Sunday average, rounded half up), ``prediction``, ``known_days``,
    ``known_through``.

    Args:
        rows: walk-forward rows.

    Returns:
        CSV text with a header.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["date", "passengers_7_day_moving_average", "prediction", "known_days", "known_through"]
    )
    for r in rows:
        w.writerow(
            [
                r.week_end.isoformat(),
                round_half_up(r.actual_mean),
                r.prediction,
                r.known_days,
                r.known_through.isoformat(),
            ]
        )
    return buf.getvalue()


def sundays_between(first: date, last: date) -> list[date]:
    """Return the Sundays ending weeks from ``first``'s week through ``last``'s, inclusive."""
    out: list[date] = []
    s = week_end_sunday(first)
    while s <= last:
        out.append(s)
        s += timedelta(days=7)
    return out


# --------------------------------------------------------------------------- CLI


def parse_now(text: str | None) -> datetime:
    """Parse ``--now``: ISO 8601; a naive time is taken as America/New_York.

    Args:
        text: the option value, or None for the system clock.

    Returns:
        An aware datetime.

    Raises:
        InputError: the text is not ISO 8601.
    """
    if text is None:
        return SystemClock().now()
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--now {text!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=NEW_YORK)
    return value


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
            ``history_weeks``, ``history_from``, ``history_state``, ``trend_days``).

    Returns:
        0 on success, 1 on bad input (the message names the file or option).
    """
    try:
        params = ForecastParams(trend_days=args.trend_days)
        now = parse_now(args.now)
        # Without --week: the Mon–Sun week containing `now` in New York (the week to trade).
        week = parse_day(args.week, "--week") if args.week else now.astimezone(NEW_YORK).date()
        actuals = read_actuals(Path(args.actuals))
        cutoff = published_through(now)
        fc = forecast_week(actuals, week_end_sunday(week), known_through=cutoff, params=params)
        if args.out:
            merge_prediction_file(Path(args.out), fc.week_end, fc.prediction)
        if args.history_out:
            since = parse_day(args.history_from, "--history-from") if args.history_from else None
            # Only weeks whose outcome is published at `now` enter the history.
            last = week_end_sunday(cutoff)
            last = last if last <= cutoff else last - timedelta(days=7)
            weeks = history_weeks(actuals, before=last, weeks=args.history_weeks, since=since)
            states = tuple(range(7)) if args.history_state is None else (args.history_state,)
            rows = walk_forward(
                {d: v for d, v in actuals.items() if d <= cutoff},
                weeks,
                states=states,
                params=params,
            )
            atomic_write_text(Path(args.history_out), format_history_csv(rows))
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
                "trend": float(fc.trend),
                "now": now.isoformat(),
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
        description="Baseline holiday-anchored year-over-year forecast of a week's average.",
    )
    p.add_argument("--actuals", required=True, help="actuals CSV (date,passengers)")
    p.add_argument("--week", help="any date of the target week (YYYY-MM-DD; default: now's week)")
    p.add_argument("--now", help="information time, ISO 8601 (naive = America/New_York)")
    p.add_argument("--out", help="prediction JSON file to merge this week's prediction into")
    p.add_argument("--history-out", help="write a walk-forward history CSV (lagged_tsa_data)")
    p.add_argument("--history-weeks", type=int, default=104, help="weeks of history (104)")
    p.add_argument("--history-from", help="no history week before this date (YYYY-MM-DD)")
    p.add_argument(
        "--history-state",
        type=int,
        choices=range(7),
        help="write only this known-days state (default: all 0-6; 0 suits realized_days)",
    )
    p.add_argument(
        "--trend-days", type=int, default=DEFAULT_PARAMS.trend_days, help="YoY trend window"
    )
    p.set_defaults(func=cmd_forecast)
    return p
