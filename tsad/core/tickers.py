"""Week, event and ticker arithmetic for weekly Kalshi series, in America/New_York time.

Rules (tsa-markets.md §3.1, §3.3):

* an event is dated by the **Sunday that ends its Monday–Sunday week**: ``KXTSAW-26NOV29``;
* the series was ``TSAW`` for weeks ending before 2024-10-27 and ``KXTSAW`` from then on;
* an event opens Monday 10:00 ET and its last trade is Sunday 23:59 ET;
* a market ticker is ``{event}-{suffix}`` (``KXTSAW-26NOV29-A2.45``); the suffix is
  informational only — strikes come from the market's ``floor_strike``/``cap_strike``.

Every function takes dates or aware datetimes as parameters; nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from tsad.errors import InputError


__all__ = [
    "ET",
    "KXTSAW",
    "SERIES_SWITCH_SUNDAY",
    "TSAW",
    "EventId",
    "MarketId",
    "current_event_ticker",
    "event_close_time",
    "event_dates",
    "event_open_time",
    "event_ticker",
    "next_event_ticker",
    "parse_event_ticker",
    "parse_market_ticker",
    "parse_now",
    "series_for",
    "week_sunday",
]

ET: Final = ZoneInfo("America/New_York")
TSAW: Final = "TSAW"
KXTSAW: Final = "KXTSAW"
SERIES_SWITCH_SUNDAY: Final = date(2024, 10, 27)
"""The first week whose event is ``KXTSAW-…`` (``TSAW-24OCT20`` was the last ``TSAW`` one)."""

OPEN_TIME_ET: Final = time(10, 0)
CLOSE_TIME_ET: Final = time(23, 59)

_MONTHS: Final = (
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
)
_EVENT_RE: Final = re.compile(r"^([A-Z][A-Z0-9]*)-(\d{2})([A-Z]{3})(\d{2})$")
_SUFFIX_RE: Final = re.compile(r"^[A-Z0-9][A-Z0-9.]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventId:
    """A parsed event ticker: its series and the Sunday ending its week."""

    series: str
    sunday: date

    @property
    def ticker(self) -> str:
        """The event ticker this id was parsed from (canonical form)."""
        return event_ticker(self.sunday, self.series)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketId:
    """A parsed market ticker: series, the Sunday ending its week, and the suffix.

    The suffix (``A2.45``) is informational only: never price from it.
    """

    series: str
    sunday: date
    suffix: str

    @property
    def event_ticker(self) -> str:
        """The ticker of the event this market belongs to."""
        return event_ticker(self.sunday, self.series)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got naive {now.isoformat()}")


def _require_sunday(sunday: date) -> None:
    if isinstance(sunday, datetime) or not isinstance(sunday, date):
        raise ValueError(f"expected a date, got {type(sunday).__name__} {sunday!r}")
    if sunday.weekday() != 6:
        raise ValueError(f"{sunday.isoformat()} is a {sunday.strftime('%A')}, not a Sunday")


def parse_now(text: str) -> datetime:
    """Parse an operator's ``--now``: ISO 8601; a time without a zone is America/New_York.

    Every command reads ``--now`` through this one function, so the same text means the
    same instant everywhere (a trader's "Friday 11:00" is New York time, like the market).

    Args:
        text: e.g. ``2026-08-28T11:00`` (New York) or ``2026-08-28T15:00Z``.

    Returns:
        An aware datetime.

    Raises:
        InputError: the text is not an ISO 8601 date or time.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--now {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=ET)
    return value


def series_for(sunday: date) -> str:
    """Return the TSA weekly series in use for the week ending ``sunday``.

    Args:
        sunday: the Sunday that ends the week.

    Returns:
        ``"TSAW"`` before 2024-10-27, ``"KXTSAW"`` from then on.
    """
    return TSAW if sunday < SERIES_SWITCH_SUNDAY else KXTSAW


def week_sunday(now: datetime) -> date:
    """Return the Sunday ending the Monday–Sunday week (in ET) that contains ``now``.

    Args:
        now: an aware datetime (any zone; it is converted to America/New_York).

    Returns:
        The Sunday of ``now``'s ET week; a Sunday maps to itself.

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now)
    local = now.astimezone(ET).date()
    return local + timedelta(days=6 - local.weekday())


def event_ticker(sunday: date, series: str | None = None) -> str:
    """Build the event ticker of the week ending ``sunday``: ``KXTSAW-26NOV29``.

    Args:
        sunday: the Sunday that ends the week.
        series: the series ticker; None picks ``TSAW``/``KXTSAW`` by date (see ``series_for``).

    Returns:
        ``{series}-{YY}{MON}{DD}``.

    Raises:
        ValueError: ``sunday`` is not a Sunday, or ``series`` is malformed.
    """
    _require_sunday(sunday)
    if series is None:
        series = series_for(sunday)
    if not re.fullmatch(r"[A-Z][A-Z0-9]*", series):
        raise ValueError(f"malformed series ticker {series!r}")
    return f"{series}-{sunday.year % 100:02d}{_MONTHS[sunday.month - 1]}{sunday.day:02d}"


def event_open_time(sunday: date) -> datetime:
    """Return when the week's event opens: Monday 10:00 ET, as an aware UTC datetime.

    Raises:
        ValueError: ``sunday`` is not a Sunday.
    """
    _require_sunday(sunday)
    monday = sunday - timedelta(days=6)
    return datetime.combine(monday, OPEN_TIME_ET, tzinfo=ET).astimezone(UTC)


def event_close_time(sunday: date) -> datetime:
    """Return the event's last trading time: Sunday 23:59 ET, as an aware UTC datetime.

    Raises:
        ValueError: ``sunday`` is not a Sunday.
    """
    _require_sunday(sunday)
    return datetime.combine(sunday, CLOSE_TIME_ET, tzinfo=ET).astimezone(UTC)


def current_event_ticker(now: datetime, series: str | None = None) -> str:
    """Return the event still open (or about to open) at ``now``.

    The week containing ``now`` (ET) gives the event, except from Sunday 23:59:00 ET on,
    when that event has closed and the next Sunday's event is the current one. Monday
    before 10:00 ET belongs to the new week even though its markets are not open yet.

    Args:
        now: an aware datetime.
        series: the series ticker; None picks ``TSAW``/``KXTSAW`` by date.

    Raises:
        ValueError: ``now`` is naive.
    """
    sunday = week_sunday(now)
    if now >= event_close_time(sunday):
        sunday += timedelta(days=7)
    return event_ticker(sunday, series)


def parse_event_ticker(ticker: str) -> EventId:
    """Parse ``KXTSAW-26NOV29`` into its series and Sunday.

    Raises:
        ValueError: malformed ticker, unknown month, impossible date, or not a Sunday.
    """
    m = _EVENT_RE.match(ticker)
    if m is None:
        raise ValueError(f"malformed event ticker {ticker!r}; expected like 'KXTSAW-26NOV29'")
    series, yy, mon, dd = m.groups()
    if mon not in _MONTHS:
        raise ValueError(f"malformed event ticker {ticker!r}: unknown month {mon!r}")
    try:
        sunday = date(2000 + int(yy), _MONTHS.index(mon) + 1, int(dd))
    except ValueError as exc:
        raise ValueError(f"malformed event ticker {ticker!r}: {exc}") from None
    if sunday.weekday() != 6:
        raise ValueError(f"event ticker {ticker!r}: {sunday.isoformat()} is not a Sunday")
    return EventId(series=series, sunday=sunday)


def parse_market_ticker(ticker: str) -> MarketId:
    """Parse ``KXTSAW-26NOV29-A2.45`` into series, Sunday and suffix.

    Never derive a strike from the suffix: read ``floor_strike`` from the market object.

    Raises:
        ValueError: malformed ticker.
    """
    if ticker.count("-") < 2:
        raise ValueError(
            f"malformed market ticker {ticker!r}; expected like 'KXTSAW-26NOV29-A2.45'"
        )
    event, _, suffix = ticker.rpartition("-")
    if not _SUFFIX_RE.match(suffix):
        raise ValueError(f"malformed market ticker {ticker!r}: bad suffix {suffix!r}")
    try:
        eid = parse_event_ticker(event)
    except ValueError as exc:
        raise ValueError(f"malformed market ticker {ticker!r}: {exc}") from None
    return MarketId(series=eid.series, sunday=eid.sunday, suffix=suffix)


def next_event_ticker(ticker: str) -> str:
    """Return the ticker of the week after ``ticker``'s.

    ``TSAW``/``KXTSAW`` tickers follow the rename by date (``TSAW-24OCT20`` →
    ``KXTSAW-24OCT27``); any other series is kept as is.

    Raises:
        ValueError: malformed ticker.
    """
    eid = parse_event_ticker(ticker)
    nxt = eid.sunday + timedelta(days=7)
    series = None if eid.series in (TSAW, KXTSAW) else eid.series
    return event_ticker(nxt, series)


def event_dates(ticker: str) -> tuple[date, ...]:
    """Return the seven dates (Monday … Sunday) whose average settles ``ticker``.

    Raises:
        ValueError: malformed ticker.
    """
    sunday = parse_event_ticker(ticker).sunday
    return tuple(sunday - timedelta(days=6 - i) for i in range(7))
