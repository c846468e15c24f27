"""Tests for week, event and ticker arithmetic in America/New_York time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from tsad.core.tickers import (
    EventId,
    MarketId,
    current_event_ticker,
    event_close_time,
    event_dates,
    event_open_time,
    event_ticker,
    next_event_ticker,
    parse_event_ticker,
    parse_market_ticker,
    parse_now,
    week_sunday,
)
from tsad.errors import InputError


ET = ZoneInfo("America/New_York")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def et(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ET)


@pytest.mark.parametrize(
    ("now", "sunday"),
    [
        pytest.param(et(2026, 11, 23, 0, 0), date(2026, 11, 29), id="monday-midnight-et"),
        pytest.param(et(2026, 11, 29, 23, 59), date(2026, 11, 29), id="sunday-2359-et"),
        pytest.param(et(2026, 11, 30, 0, 0), date(2026, 12, 6), id="next-monday-et"),
        # 2026-11-30 02:00 UTC is still Sunday 2026-11-29 21:00 EST
        pytest.param(utc(2026, 11, 30, 2, 0), date(2026, 11, 29), id="utc-monday-et-sunday"),
        pytest.param(utc(2026, 11, 30, 5, 0), date(2026, 12, 6), id="utc-monday-et-monday"),
        # DST starts 2026-03-08 02:00 EST -> 03:00 EDT
        pytest.param(et(2026, 3, 8, 3, 30), date(2026, 3, 8), id="dst-start-sunday"),
        pytest.param(utc(2026, 3, 9, 3, 59), date(2026, 3, 8), id="dst-start-edt-sunday-late"),
        pytest.param(utc(2026, 3, 9, 4, 0), date(2026, 3, 15), id="dst-start-edt-monday"),
        # DST ends 2026-11-01 02:00 EDT -> 01:00 EST
        pytest.param(utc(2026, 11, 2, 4, 59), date(2026, 11, 1), id="dst-end-est-sunday-late"),
        pytest.param(utc(2026, 11, 2, 5, 0), date(2026, 11, 8), id="dst-end-est-monday"),
        pytest.param(et(2026, 12, 31, 12, 0), date(2027, 1, 3), id="year-end-week"),
        pytest.param(et(2026, 12, 28, 0, 0), date(2027, 1, 3), id="year-end-monday"),
        pytest.param(et(2027, 1, 3, 23, 0), date(2027, 1, 3), id="year-end-sunday"),
    ],
)
def test_week_sunday(now: datetime, sunday: date) -> None:
    """The week of a moment is the Sunday ending its ET Monday–Sunday week."""
    assert week_sunday(now) == sunday


@pytest.mark.parametrize(
    ("sunday", "series", "ticker"),
    [
        pytest.param(date(2026, 11, 29), None, "KXTSAW-26NOV29", id="kx-by-date"),
        pytest.param(date(2024, 10, 27), None, "KXTSAW-24OCT27", id="first-kx"),
        pytest.param(date(2024, 10, 20), None, "TSAW-24OCT20", id="last-tsaw"),
        pytest.param(date(2024, 9, 8), None, "TSAW-24SEP08", id="seed-week"),
        pytest.param(date(2024, 9, 8), "KXTSAW", "KXTSAW-24SEP08", id="explicit-series"),
        pytest.param(date(2027, 1, 3), None, "KXTSAW-27JAN03", id="year-end"),
    ],
)
def test_event_ticker(sunday: date, series: str | None, ticker: str) -> None:
    """Event tickers are SERIES-YYMONDD, with TSAW before 2024-10-27 and KXTSAW after."""
    assert event_ticker(sunday, series) == ticker
    assert parse_event_ticker(ticker) == EventId(series=ticker.split("-")[0], sunday=sunday)


@pytest.mark.parametrize(
    ("now", "ticker"),
    [
        pytest.param(et(2026, 11, 29, 23, 58, 59), "KXTSAW-26NOV29", id="sunday-before-close"),
        pytest.param(et(2026, 11, 29, 23, 59), "KXTSAW-26DEC06", id="sunday-at-close"),
        pytest.param(et(2026, 11, 29, 23, 59, 30), "KXTSAW-26DEC06", id="sunday-after-close"),
        pytest.param(et(2026, 11, 30, 9, 0), "KXTSAW-26DEC06", id="monday-before-open"),
        pytest.param(et(2026, 11, 25, 12, 0), "KXTSAW-26NOV29", id="midweek"),
        pytest.param(utc(2026, 11, 30, 4, 58), "KXTSAW-26NOV29", id="utc-before-close-est"),
        pytest.param(utc(2026, 11, 30, 4, 59), "KXTSAW-26DEC06", id="utc-at-close-est"),
        pytest.param(utc(2026, 7, 6, 3, 58), "KXTSAW-26JUL05", id="utc-before-close-edt"),
        pytest.param(utc(2026, 7, 6, 3, 59), "KXTSAW-26JUL12", id="utc-at-close-edt"),
        pytest.param(et(2027, 1, 3, 23, 59), "KXTSAW-27JAN10", id="year-end-roll"),
        pytest.param(et(2024, 10, 20, 23, 59), "KXTSAW-24OCT27", id="series-switch-roll"),
        pytest.param(et(2024, 10, 20, 12, 0), "TSAW-24OCT20", id="series-switch-before"),
        pytest.param(et(2026, 11, 1, 23, 59), "KXTSAW-26NOV08", id="dst-end-roll"),
    ],
)
def test_current_event_ticker(now: datetime, ticker: str) -> None:
    """The current event is the one still open; from Sunday 23:59 ET it is next week's."""
    assert current_event_ticker(now) == ticker


def test_current_event_ticker_explicit_series() -> None:
    """An explicit series overrides the date-based choice."""
    assert current_event_ticker(et(2024, 9, 3, 12), "KXTSAW") == "KXTSAW-24SEP08"


@pytest.mark.parametrize(
    ("ticker", "nxt"),
    [
        pytest.param("KXTSAW-26NOV29", "KXTSAW-26DEC06", id="month"),
        pytest.param("KXTSAW-26DEC27", "KXTSAW-27JAN03", id="year"),
        pytest.param("TSAW-24OCT20", "KXTSAW-24OCT27", id="rename"),
        pytest.param("TSAW-24SEP08", "TSAW-24SEP15", id="tsaw"),
        pytest.param("OTHER-26NOV29", "OTHER-26DEC06", id="other-series-kept"),
    ],
)
def test_next_event_ticker(ticker: str, nxt: str) -> None:
    """The next event is seven days later, following the TSAW→KXTSAW rename."""
    assert next_event_ticker(ticker) == nxt


@pytest.mark.parametrize(
    ("ticker", "first", "last"),
    [
        pytest.param("KXTSAW-26NOV29", date(2026, 11, 23), date(2026, 11, 29), id="plain"),
        pytest.param("KXTSAW-27JAN03", date(2026, 12, 28), date(2027, 1, 3), id="year-end"),
        pytest.param("KXTSAW-26MAR08", date(2026, 3, 2), date(2026, 3, 8), id="dst-start"),
    ],
)
def test_event_dates(ticker: str, first: date, last: date) -> None:
    """An event covers seven consecutive dates, Monday to its Sunday."""
    dates = event_dates(ticker)
    assert len(dates) == 7
    assert dates[0] == first and dates[-1] == last
    assert [d.weekday() for d in dates] == list(range(7))


@pytest.mark.parametrize(
    ("sunday", "open_utc", "close_utc"),
    [
        pytest.param(
            date(2025, 4, 20), utc(2025, 4, 14, 14), utc(2025, 4, 21, 3, 59), id="edt"
        ),
        pytest.param(
            date(2025, 1, 5), utc(2024, 12, 30, 15), utc(2025, 1, 6, 4, 59), id="est"
        ),
        # Opens Monday 2026-03-02 (EST), closes Sunday 2026-03-08 (EDT, the DST day)
        pytest.param(
            date(2026, 3, 8), utc(2026, 3, 2, 15), utc(2026, 3, 9, 3, 59), id="dst-start-week"
        ),
        pytest.param(
            date(2026, 11, 1), utc(2026, 10, 26, 14), utc(2026, 11, 2, 4, 59), id="dst-end-week"
        ),
    ],
)
def test_open_close_times(sunday: date, open_utc: datetime, close_utc: datetime) -> None:
    """Events open Monday 10:00 ET and close Sunday 23:59 ET, returned as aware UTC."""
    assert event_open_time(sunday) == open_utc
    assert event_close_time(sunday) == close_utc
    assert event_open_time(sunday).tzinfo is UTC


@pytest.mark.parametrize(
    ("ticker", "expected"),
    [
        pytest.param(
            "KXTSAW-26NOV29-A2.45",
            MarketId(series="KXTSAW", sunday=date(2026, 11, 29), suffix="A2.45"),
            id="kx",
        ),
        pytest.param(
            "TSAW-24JUN30-A0.00",
            MarketId(series="TSAW", sunday=date(2024, 6, 30), suffix="A0.00"),
            id="anomaly-suffix",
        ),
    ],
)
def test_parse_market_ticker(ticker: str, expected: MarketId) -> None:
    """Market tickers split into series, Sunday and an informational suffix."""
    parsed = parse_market_ticker(ticker)
    assert parsed == expected
    assert parsed.event_ticker == ticker.rsplit("-", 1)[0]


@pytest.mark.parametrize(
    "ticker",
    [
        pytest.param("", id="empty"),
        pytest.param("KXTSAW", id="no-date"),
        pytest.param("KXTSAW-26XYZ29", id="bad-month"),
        pytest.param("KXTSAW-26NOV28", id="saturday"),
        pytest.param("KXTSAW-26FEB30", id="impossible-date"),
        pytest.param("kxtsaw-26NOV29", id="lowercase"),
        pytest.param("KXTSAW-26NOV29-A2.45", id="market-not-event"),
        pytest.param("KXTSAW-2026NOV29", id="four-digit-year"),
    ],
)
def test_parse_event_ticker_rejects(ticker: str) -> None:
    """Malformed event tickers raise ValueError naming the ticker."""
    with pytest.raises(ValueError, match="ticker"):
        parse_event_ticker(ticker)


@pytest.mark.parametrize(
    "ticker",
    [
        pytest.param("KXTSAW-26NOV29", id="event-only"),
        pytest.param("KXTSAW-26NOV29-", id="empty-suffix"),
        pytest.param("KXTSAW-26NOV28-A2.45", id="not-sunday"),
        pytest.param("KXTSAW-26NOV29-a 2", id="bad-suffix"),
    ],
)
def test_parse_market_ticker_rejects(ticker: str) -> None:
    """Malformed market tickers raise ValueError naming the ticker."""
    with pytest.raises(ValueError, match="market ticker"):
        parse_market_ticker(ticker)


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        pytest.param(event_ticker, date(2026, 11, 28), id="event_ticker"),
        pytest.param(event_open_time, date(2026, 11, 27), id="event_open_time"),
        pytest.param(event_close_time, date(2026, 11, 30), id="event_close_time"),
    ],
)
def test_non_sunday_rejected(call: object, arg: date) -> None:
    """Functions taking a week's Sunday refuse other weekdays."""
    assert callable(call)
    with pytest.raises(ValueError, match="not a Sunday"):
        call(arg)


def test_naive_now_rejected() -> None:
    """A naive `now` is refused rather than guessed."""
    with pytest.raises(ValueError, match="aware"):
        week_sunday(datetime(2026, 11, 25, 12))


@given(st.datetimes(min_value=datetime(2022, 1, 1), max_value=datetime(2035, 1, 1),
                    timezones=st.just(UTC)))
def test_current_event_contains_now(now: datetime) -> None:
    """The current event never closed before `now`, and the previous one has closed."""
    eid = parse_event_ticker(current_event_ticker(now))
    assert now < event_close_time(eid.sunday)
    assert now >= event_close_time(eid.sunday - timedelta(days=7))
    assert parse_event_ticker(event_ticker(eid.sunday)) == eid


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-08-28T11:00", datetime(2026, 8, 28, 15, 0, tzinfo=UTC)),  # EDT
        ("2026-01-09T11:00:00", datetime(2026, 1, 9, 16, 0, tzinfo=UTC)),  # EST
        ("2026-08-28T15:00Z", datetime(2026, 8, 28, 15, 0, tzinfo=UTC)),
        ("2026-08-28T15:00+00:00", datetime(2026, 8, 28, 15, 0, tzinfo=UTC)),
    ],
    ids=["naive-edt", "naive-est", "z", "offset"],
)
def test_parse_now_reads_naive_times_as_new_york(text: str, utc: datetime) -> None:
    """One parser for every command's --now: a time without a zone is New York time."""
    assert parse_now(text) == utc


def test_parse_now_rejects_garbage() -> None:
    """A malformed --now is an InputError naming the option."""
    with pytest.raises(InputError, match="--now"):
        parse_now("yesterday")


def test_forecast_and_quote_read_now_alike() -> None:
    """`tsad forecast` and `tsad quote` parse the same --now text to the same instant."""
    from tsad.commands import cli, forecast

    assert cli._parse_now("2026-08-28T11:00") == forecast.parse_now("2026-08-28T11:00")
