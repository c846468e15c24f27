"""The forecaster of a week's Monday–Sunday average TSA throughput, and its walk-forward.

Method (chosen by walk-forward evaluation on 2022–2024, see ``bench/forecast.py``):

* every day of the target week that is published enters as its actual;
* every other day ``d`` is last year's analog day ``analog_day(d)`` times a year-over-year
  trend: the sum of the latest ``n`` published days over the sum of their analog days;
* one such forecast per trend window ``n`` in ``trend_windows`` (3 to 56 days: short ones
  follow a changing growth rate, long ones average out noise when growth is flat), combined
  with weights ``1 / MSE`` of each window's own errors over the last ``lookback_weeks``
  complete weeks forecast in the same information state — so the mix moves to whichever
  windows have been right lately (recency weighting, no fixed regime assumption);
* the analog is the same weekday 364 days back, except near a moving holiday (MLK,
  Presidents' Day, Easter, Memorial Day, Labor Day, Columbus Day, Thanksgiving), where last
  year's holiday is mapped onto this year's, and near a fixed-date holiday (New Year,
  July 4th, Veterans Day, Christmas), where the same calendar date a year back is used;
* once some days of the week are published, a second, independent forecast of the rest is
  blended in with a fixed ``ratio_weight`` (0.2): the known days' sum times the mean ratio
  of the same unknown to known weekdays over the latest ``ratio_weeks`` complete
  non-holiday weeks. It reads this year's within-week shape, not last year's, so its errors
  are only loosely tied to the year-over-year forecast's: alone it is worse (about 1.5 % MAPE
  at four known days against 0.96 %), blended it cut the error at every state from one to
  six known days in each of 2022, 2023 and 2024 (four known: 2.28/1.05/0.87 % to
  2.08/0.86/0.82 %). A weight set each week from trailing errors was tried and was noisier.

No look-ahead: every number is read through ``_Series.value(day, cutoff)``, which refuses a
day after the information date, and ``forecast_week`` truncates its input first.
Plain floats and ints, no pandas: this runs on every timer tick.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Final

from tsad.core.holidays import (
    FIXED_DATE_HOLIDAYS,
    MOVING_HOLIDAYS,
    Holiday,
    holiday_date,
    is_holiday_week,
)
from tsad.core.midweek import published_through
from tsad.core.tickers import ET
from tsad.errors import InputError


__all__ = [
    "DEFAULT_PARAMS",
    "PANDEMIC",
    "Forecast",
    "ForecastParams",
    "HistoryRow",
    "analog_day",
    "forecast_at",
    "forecast_week",
    "in_pandemic",
    "information_time",
    "last_week_mean",
    "naive_last_year",
    "round_half_up",
    "state_cutoff",
    "sundays_between",
    "walk_forward",
    "week_dates",
    "week_end_sunday",
    "week_mean",
]

#: The Kalshi market opens Monday 10:00 ET; each state's nominal information time is 10:00.
_DECISION_TIME: Final = time(10, 0)

PANDEMIC: Final = (date(2020, 3, 1), date(2021, 12, 31))
"""Weeks ending in this range are left out of error histories by default: travel then
followed the pandemic, not the calendar, and its errors would widen every distribution."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastParams:
    """Tuning of the forecaster.

    Attributes:
        trend_windows: trend windows (days) whose forecasts are combined.
        lookback_weeks: how many past complete weeks weigh the windows.
        holiday_radius: days around a moving holiday that use the holiday-to-holiday lag.
        fixed_radius: days around a fixed-date holiday that use the calendar-date lag
            (-1 disables it: plain 364 days there).
        ratio_weight: share of the within-week ratio forecast of the unknown days once some
            days are known (0 disables it).
        ratio_weeks: how many recent complete non-holiday weeks give that ratio.
    """

    trend_windows: tuple[int, ...] = (3, 7, 14, 28, 56)
    lookback_weeks: int = 13
    holiday_radius: int = 12
    fixed_radius: int = 10
    ratio_weight: float = 0.2
    ratio_weeks: int = 8

    def __post_init__(self) -> None:
        if not self.trend_windows or min(self.trend_windows) < 1:
            raise ValueError("trend windows must be >= 1 day")
        if self.lookback_weeks < 1:
            raise ValueError("lookback_weeks must be >= 1")
        if self.holiday_radius < -1 or self.fixed_radius < -1:
            raise ValueError("holiday radii must be >= -1")
        if not 0.0 <= self.ratio_weight <= 1.0 or self.ratio_weeks < 1:
            raise ValueError("ratio_weight must be in [0, 1] and ratio_weeks >= 1")

    @classmethod
    def single(cls, trend_days: int) -> ForecastParams:
        """Return the plain one-window forecaster (the earlier baseline with ``trend_days``)."""
        return cls(trend_windows=(trend_days,), ratio_weight=0.0)


DEFAULT_PARAMS: Final = ForecastParams()


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """One forecast of a week's average.

    Attributes:
        week_end: the Sunday ending the Monday–Sunday week (the event's date).
        known_through: the information date: no actual after it was used.
        known_days: how many days of the target week entered as actuals.
        known_sum: their sum.
        trend: the combined year-over-year factor applied to the unknown days.
        mean: the forecast average.
        prediction: ``mean`` rounded half up to a whole number of travellers.
        weights: each trend window's share of the combination, by window.
        remainder_ratio: the within-week ratio (unknown over known days) blended in, or
            None when it was not used (no day known, or too few clean weeks).
    """

    week_end: date
    known_through: date
    known_days: int
    known_sum: int
    trend: float
    mean: Fraction
    prediction: int
    weights: tuple[tuple[int, float], ...] = ()
    remainder_ratio: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One walk-forward forecast against its realised weekly average."""

    week_end: date
    known_days: int
    known_through: date
    prediction: int
    forecast_mean: Fraction
    actual_mean: Fraction
    known_sum: int = 0
    holiday: bool = False


def round_half_up(x: Fraction) -> int:
    """Round a non-negative fraction to the nearest integer, halves up."""
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def week_end_sunday(day: date) -> date:
    """Return the Sunday that ends the Monday–Sunday week containing ``day``."""
    return day + timedelta(days=6 - day.weekday())


def week_dates(week_end: date) -> tuple[date, ...]:
    """Return the seven dates Monday … Sunday of the week ending ``week_end``."""
    return tuple(week_end - timedelta(days=6 - i) for i in range(7))


def state_cutoff(week_end: date, known_days: int) -> date:
    """Return the information date of a known-days state: Monday..(k-th day) known.

    Raises:
        ValueError: ``known_days`` is not 0–7.
    """
    if not 0 <= known_days <= 7:
        raise ValueError(f"known_days must be 0..7, got {known_days}")
    return week_end - timedelta(days=7 - known_days)


def information_time(week_end: date, known_days: int) -> datetime:
    """Return the nominal wall-clock time (UTC) of a known-days state.

    States 0–4 are 10:00 ET Monday–Friday of the week (after TSA's release), where
    ``published_through`` gives exactly that state. States 5 and 6 only arise when TSA
    posts on a weekend (holiday weekends); their nominal time is 10:00 ET Saturday/Sunday.
    """
    day = state_cutoff(week_end, known_days) + timedelta(days=1)
    return datetime.combine(day, _DECISION_TIME, tzinfo=ET).astimezone(UTC)


def in_pandemic(week_end: date) -> bool:
    """Return whether a week falls in the pandemic years left out of default histories."""
    return PANDEMIC[0] <= week_end <= PANDEMIC[1]


def _nearest_anchor(
    day: date, holidays: Iterable[Holiday], radius: int
) -> tuple[date, date] | None:
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


@lru_cache(maxsize=1 << 15)
def analog_day(day: date, params: ForecastParams = DEFAULT_PARAMS) -> date:
    """Return last year's day that plays the role of ``day``.

    Holiday-anchored near a moving holiday, the calendar date near a fixed-date holiday,
    else the same weekday 364 days back (the nearer holiday wins; a tie goes to the moving
    one).
    """
    moving = _nearest_anchor(day, MOVING_HOLIDAYS, params.holiday_radius)
    fixed = _nearest_anchor(day, FIXED_DATE_HOLIDAYS, params.fixed_radius)
    if moving is not None and fixed is not None:
        if abs((day - fixed[0]).days) < abs((day - moving[0]).days):
            moving = None
        else:
            fixed = None
    anchor = moving or fixed
    if anchor is None:
        return day - timedelta(days=364)
    this_year, last_year = anchor
    return last_year + (day - this_year)


@dataclass(slots=True)
class _Series:
    """Daily actuals read only up to an information date, with per-window forecasts cached.

    The cache is keyed by ``(week_end, cutoff, window)``; a value depends only on days up
    to ``cutoff``, so sharing it between forecasts with later cutoffs leaks nothing.
    """

    data: Mapping[date, int]
    params: ForecastParams
    days: list[date] = field(default_factory=list)
    cache: dict[tuple[date, date, int], tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.days = sorted(self.data)

    def value(self, day: date, cutoff: date, why: str) -> int:
        if day > cutoff:  # the no-look-ahead guard
            raise InputError(f"actuals: {day.isoformat()} is after {cutoff.isoformat()} ({why})")
        try:
            return self.data[day]
        except KeyError:
            raise InputError(f"actuals: no number for {day.isoformat()} ({why})") from None

    def component(self, week_end: date, cutoff: date, window: int) -> tuple[float, float]:
        """Return ``(sum of the unknown days' forecast, trend)`` for one trend window."""
        key = (week_end, cutoff, window)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        end = bisect_right(self.days, cutoff)
        trend_days = self.days[max(0, end - window):end]
        if len(trend_days) < window or (cutoff - trend_days[0]).days > 2 * window + 7:
            raise InputError(
                f"actuals: fewer than {window} published days before {cutoff.isoformat()} "
                f"(nothing published)" if not trend_days else
                f"actuals: a gap in the {window} days before {cutoff.isoformat()}"
            )
        num = sum(self.data[d] for d in trend_days)
        den = sum(
            self.value(analog_day(d, self.params), cutoff, "trend analog") for d in trend_days
        )
        if den <= 0:
            raise InputError("actuals: last year's trend days sum to zero")
        trend = num / den
        rest = sum(
            trend * self.value(analog_day(d, self.params), cutoff, f"analog of {d.isoformat()}")
            for d in week_dates(week_end)
            if d > cutoff
        )
        self.cache[key] = (rest, trend)
        return rest, trend

    def remainder_ratio(
        self, week_end: date, cutoff: date, known: Sequence[int]
    ) -> float | None:
        """Return the mean ratio of the unknown to the ``known`` weekday positions (0 =
        Monday) over the latest complete non-holiday weeks published by ``cutoff``, or None
        with fewer than half of ``ratio_weeks`` such weeks in reach."""
        wanted = self.params.ratio_weeks
        ratios: list[float] = []
        past_end = week_end - timedelta(days=7)
        for _ in range(3 * wanted):
            if len(ratios) == wanted:
                break
            days = week_dates(past_end)
            past_end -= timedelta(days=7)
            if days[-1] > cutoff or is_holiday_week(days) or any(
                d not in self.data for d in days
            ):
                continue
            values = [self.value(d, cutoff, "within-week ratio") for d in days]
            k = sum(values[i] for i in known)
            if k > 0:
                ratios.append((sum(values) - k) / k)
        if 2 * len(ratios) < wanted:
            return None
        return math.fsum(ratios) / len(ratios)

    def combined(self, week_end: date, cutoff: date) -> tuple[float, float, dict[int, float]]:
        """Return the unknown days' combined forecast, its trend and the window weights."""
        windows = self.params.trend_windows
        parts = {n: self.component(week_end, cutoff, n) for n in windows}
        if len(windows) == 1:
            rest, trend = parts[windows[0]]
            return rest, trend, {windows[0]: 1.0}
        lead = week_end - cutoff  # how far before the week's end the forecast is made
        sq: dict[int, list[float]] = {n: [] for n in windows}
        for j in range(1, self.params.lookback_weeks + 1):
            past_end = week_end - timedelta(days=7 * j)
            if past_end > cutoff:
                continue  # its outcome is not published yet
            past_cut = past_end - lead
            try:
                actual = sum(self.value(d, cutoff, "past week") for d in week_dates(past_end))
                known = sum(self.data[d] for d in week_dates(past_end) if d <= past_cut)
                past = {n: self.component(past_end, past_cut, n)[0] for n in windows}
            except InputError:
                continue
            for n in windows:
                sq[n].append(((known + past[n]) / actual - 1) ** 2)
        if all(sq[n] for n in windows):
            raw = {n: 1 / (math.fsum(sq[n]) / len(sq[n]) + 1e-6) for n in windows}
        else:
            raw = dict.fromkeys(windows, 1.0)
        total = math.fsum(raw.values())
        weights = {n: raw[n] / total for n in windows}
        rest = math.fsum(weights[n] * parts[n][0] for n in windows)
        trend = math.fsum(weights[n] * parts[n][1] for n in windows)
        return rest, trend, weights


def _forecast(series: _Series, week_end: date, known_through: date) -> Forecast:
    if week_end.weekday() != 6:
        raise ValueError(f"week_end {week_end.isoformat()} is not a Sunday")
    known = [d for d in week_dates(week_end) if d <= known_through and d in series.data]
    known_sum = sum(series.data[d] for d in known)
    if len(known) == 7:
        mean = Fraction(known_sum, 7)
        return Forecast(
            week_end=week_end, known_through=known_through, known_days=7,
            known_sum=known_sum, trend=1.0, mean=mean, prediction=round_half_up(mean),
        )
    if not series.days or series.days[0] > known_through:
        raise InputError(f"actuals: nothing published before {known_through.isoformat()}")
    rest, trend, weights = series.combined(week_end, known_through)
    ratio = None
    share = series.params.ratio_weight
    if known and share > 0:
        positions = [i for i, d in enumerate(week_dates(week_end)) if d in known]
        ratio = series.remainder_ratio(week_end, known_through, positions)
        if ratio is not None:
            rest = (1 - share) * rest + share * known_sum * ratio
    mean = (Fraction(known_sum) + Fraction(rest)) / 7
    return Forecast(
        week_end=week_end, known_through=known_through, known_days=len(known),
        known_sum=known_sum, trend=trend, mean=mean, prediction=round_half_up(mean),
        weights=tuple(sorted(weights.items())), remainder_ratio=ratio,
    )


def forecast_week(
    actuals: Mapping[date, int],
    week_end: date,
    *,
    known_through: date,
    params: ForecastParams = DEFAULT_PARAMS,
) -> Forecast:
    """Forecast a week's Monday–Sunday average from the actuals known through a date.

    The single entry point of the forecaster: ``actuals`` is truncated to
    ``known_through`` before anything is read, so no later number can leak in.

    Raises:
        InputError: the actuals lack a day the method needs (named).
        ValueError: ``week_end`` is not a Sunday.
    """
    data = {d: v for d, v in actuals.items() if d <= known_through}
    return _forecast(_Series(data, params), week_end, known_through)


def forecast_at(
    actuals: Mapping[date, int],
    week: date,
    now: datetime,
    *,
    params: ForecastParams = DEFAULT_PARAMS,
) -> Forecast:
    """Forecast the week containing ``week`` with what TSA had published at ``now``."""
    return forecast_week(
        actuals, week_end_sunday(week), known_through=published_through(now), params=params
    )


def _with_known(
    actuals: Mapping[date, int], week_end: date, known_through: date, lag: int, why: str
) -> Fraction:
    total = 0
    for d in week_dates(week_end):
        if d <= known_through and d in actuals:
            total += actuals[d]
            continue
        back = d - timedelta(days=lag)
        while back > known_through:
            back -= timedelta(days=lag)
        try:
            total += actuals[back]
        except KeyError:
            raise InputError(f"actuals: no number for {back.isoformat()} ({why})") from None
    return Fraction(total, 7)


def naive_last_year(
    actuals: Mapping[date, int], week_end: date, *, known_through: date
) -> Fraction:
    """Comparison forecast: known days as actuals, the rest the same weekday 364 days back."""
    return _with_known(actuals, week_end, known_through, 364, "naive analog")


def last_week_mean(
    actuals: Mapping[date, int], week_end: date, *, known_through: date
) -> Fraction:
    """Comparison forecast: known days as actuals, the rest the same weekday a week back.

    In state 0 this is last week's mean.
    """
    return _with_known(actuals, week_end, known_through, 7, "last week")


def week_mean(actuals: Mapping[date, int], week_end: date) -> Fraction | None:
    """Return the exact Monday–Sunday average, or None if a day is missing."""
    days = week_dates(week_end)
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

    Weeks that lack a realised average, or whose forecast lacks data, are skipped. One
    cache serves every forecast; each reads only up to its own information date.

    Returns:
        Rows ordered by week, then state.
    """
    series = _Series(actuals, params)
    rows: list[HistoryRow] = []
    for week_end in week_ends:
        actual = week_mean(actuals, week_end)
        if actual is None:
            continue
        holiday = is_holiday_week(week_dates(week_end))
        for k in states:
            cutoff = state_cutoff(week_end, k)
            try:
                fc = _forecast(series, week_end, cutoff)
            except InputError:
                continue
            rows.append(
                HistoryRow(
                    week_end=week_end, known_days=k, known_through=cutoff,
                    prediction=fc.prediction, forecast_mean=fc.mean, actual_mean=actual,
                    known_sum=fc.known_sum, holiday=holiday,
                )
            )
    return rows


def sundays_between(first: date, last: date) -> list[date]:
    """Return the Sundays ending weeks from ``first``'s week through ``last``'s, inclusive."""
    out: list[date] = []
    s = week_end_sunday(first)
    while s <= last:
        out.append(s)
        s += timedelta(days=7)
    return out
