"""US holiday dates that move air travel: the rules that place each holiday in a given year."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum


__all__ = [
    "FIXED_DATE_HOLIDAYS",
    "HOLIDAY_WEEK_RADIUS",
    "MOVING_HOLIDAYS",
    "Holiday",
    "easter",
    "holiday_date",
    "is_holiday_week",
    "near_holiday",
    "nth_weekday",
]

_MONDAY = 0
_THURSDAY = 3


class Holiday(StrEnum):
    """Holidays that shape TSA checkpoint volumes."""

    NEW_YEAR = "new_year"
    MLK = "mlk"
    PRESIDENTS = "presidents"
    EASTER = "easter"
    MEMORIAL = "memorial"
    INDEPENDENCE = "independence"
    LABOR = "labor"
    COLUMBUS = "columbus"
    VETERANS = "veterans"
    THANKSGIVING = "thanksgiving"
    CHRISTMAS = "christmas"


#: Holidays tied to a weekday: last year's holiday is found by the same rule.
MOVING_HOLIDAYS: tuple[Holiday, ...] = (
    Holiday.MLK,
    Holiday.PRESIDENTS,
    Holiday.EASTER,
    Holiday.MEMORIAL,
    Holiday.LABOR,
    Holiday.COLUMBUS,
    Holiday.THANKSGIVING,
)

#: Holidays on a fixed calendar date: their weekday moves every year.
FIXED_DATE_HOLIDAYS: tuple[Holiday, ...] = (
    Holiday.NEW_YEAR,
    Holiday.INDEPENDENCE,
    Holiday.VETERANS,
    Holiday.CHRISTMAS,
)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """Return the n-th given weekday of a month; n = -1 means the last one.

    Args:
        year: the year.
        month: the month, 1–12.
        weekday: Monday = 0 … Sunday = 6.
        n: 1-based ordinal, or -1 for the last such weekday.

    Returns:
        The date.

    Raises:
        ValueError: if n is 0, or the month has no such n-th weekday.
    """
    if n == 0:
        raise ValueError("n must be non-zero")
    if n > 0:
        first = date(year, month, 1)
        day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
        if day.month != month:
            raise ValueError(f"{year}-{month:02d} has no weekday {weekday} number {n}")
        return day
    if n != -1:
        raise ValueError("only n = -1 is supported for counting from the end")
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def easter(year: int) -> date:
    """Return Western (Gregorian) Easter Sunday by the anonymous Gregorian computus.

    Args:
        year: a Gregorian year.

    Returns:
        Easter Sunday of that year.
    """
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def holiday_date(holiday: Holiday, year: int) -> date:
    """Return the date of a holiday in a year (the day itself, not the observed day).

    Args:
        holiday: which holiday.
        year: the year.

    Returns:
        The holiday's date.
    """
    match holiday:
        case Holiday.NEW_YEAR:
            return date(year, 1, 1)
        case Holiday.MLK:
            return nth_weekday(year, 1, _MONDAY, 3)
        case Holiday.PRESIDENTS:
            return nth_weekday(year, 2, _MONDAY, 3)
        case Holiday.EASTER:
            return easter(year)
        case Holiday.MEMORIAL:
            return nth_weekday(year, 5, _MONDAY, -1)
        case Holiday.INDEPENDENCE:
            return date(year, 7, 4)
        case Holiday.LABOR:
            return nth_weekday(year, 9, _MONDAY, 1)
        case Holiday.COLUMBUS:
            return nth_weekday(year, 10, _MONDAY, 2)
        case Holiday.VETERANS:
            return date(year, 11, 11)
        case Holiday.THANKSGIVING:
            return nth_weekday(year, 11, _THURSDAY, 4)
        case Holiday.CHRISTMAS:
            return date(year, 12, 25)


HOLIDAY_WEEK_RADIUS = 3
"""A week is a holiday week when one of its days is this close to a holiday (either list)."""


def near_holiday(day: date, radius: int = HOLIDAY_WEEK_RADIUS) -> bool:
    """Return whether ``day`` is within ``radius`` days of any holiday (moving or fixed)."""
    for holiday in MOVING_HOLIDAYS + FIXED_DATE_HOLIDAYS:
        for year in (day.year - 1, day.year, day.year + 1):
            if abs((day - holiday_date(holiday, year)).days) <= radius:
                return True
    return False


def is_holiday_week(dates: tuple[date, ...] | list[date]) -> bool:
    """Return whether a Monday–Sunday week is a holiday week (see ``HOLIDAY_WEEK_RADIUS``).

    Holiday weeks forecast worse (tsa-markets.md §5.2), so their errors are kept apart.
    """
    return any(near_holiday(d) for d in dates)
