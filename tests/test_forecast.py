"""Tests of the holiday rules, publication timing and the baseline forecaster."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from tsad.commands.actuals import read_actuals, write_actuals
from tsad.commands.forecast import (
    ForecastParams,
    analog_day,
    forecast_at,
    forecast_week,
    information_time,
    published_through,
    register_forecast,
    round_half_up,
    state_cutoff,
    week_end_sunday,
)
from tsad.core.holidays import Holiday, easter, holiday_date, is_holiday_week, nth_weekday
from tsad.errors import InputError
from tsad.runtime.inputs import load_history


ET = ZoneInfo("America/New_York")
FIXTURE = Path(__file__).parent / "data" / "tsa" / "daily_2022-09_2024-03.csv"
FULL = Path(__file__).parent / "data" / "tsa" / "daily_2019-2024.csv"


@pytest.fixture(name="actuals", scope="module")
def _actuals() -> dict[date, int]:
    return read_actuals(FIXTURE)


# --------------------------------------------------------------------------- holidays


@pytest.mark.parametrize(
    ("holiday", "year", "expected"),
    [
        (Holiday.THANKSGIVING, 2023, date(2023, 11, 23)),
        (Holiday.THANKSGIVING, 2024, date(2024, 11, 28)),
        (Holiday.MEMORIAL, 2024, date(2024, 5, 27)),
        (Holiday.MEMORIAL, 2021, date(2021, 5, 31)),
        (Holiday.LABOR, 2024, date(2024, 9, 2)),
        (Holiday.MLK, 2024, date(2024, 1, 15)),
        (Holiday.PRESIDENTS, 2024, date(2024, 2, 19)),
        (Holiday.COLUMBUS, 2024, date(2024, 10, 14)),
        (Holiday.VETERANS, 2024, date(2024, 11, 11)),
        (Holiday.INDEPENDENCE, 2024, date(2024, 7, 4)),
        (Holiday.CHRISTMAS, 2024, date(2024, 12, 25)),
        (Holiday.NEW_YEAR, 2025, date(2025, 1, 1)),
        (Holiday.EASTER, 2024, date(2024, 3, 31)),
    ],
    ids=lambda v: str(v),
)
def test_holiday_dates(holiday: Holiday, year: int, expected: date) -> None:
    """Each holiday rule lands on the known date."""
    assert holiday_date(holiday, year) == expected


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2019, date(2019, 4, 21)),
        (2020, date(2020, 4, 12)),
        (2023, date(2023, 4, 9)),
        (2025, date(2025, 4, 20)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),
    ],
    ids=str,
)
def test_easter_computus(year: int, expected: date) -> None:
    """The Gregorian computus matches published Easter dates, including the extremes."""
    assert easter(year) == expected


@given(st.integers(min_value=1900, max_value=2200))
def test_easter_is_a_spring_sunday(year: int) -> None:
    """Easter is always a Sunday between March 22 and April 25."""
    day = easter(year)
    assert day.weekday() == 6
    assert date(year, 3, 22) <= day <= date(year, 4, 25)


def test_nth_weekday_rejects_impossible() -> None:
    """A fifth Monday that does not exist is an error, not a date in the next month."""
    with pytest.raises(ValueError, match="no weekday"):
        nth_weekday(2024, 2, 0, 5)


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 9, 3, 10, 0, tzinfo=ET), date(2024, 9, 2)),  # Tue after release
        (datetime(2024, 9, 3, 8, 59, tzinfo=ET), date(2024, 9, 1)),  # Tue before release
        (datetime(2024, 9, 9, 9, 0, tzinfo=ET), date(2024, 9, 8)),  # Mon release: Fri-Sun
        (datetime(2024, 9, 9, 8, 0, tzinfo=ET), date(2024, 9, 5)),  # Mon before: Thu
        (datetime(2024, 9, 6, 12, 0, tzinfo=ET), date(2024, 9, 5)),  # Fri: Thu
        (datetime(2024, 9, 7, 12, 0, tzinfo=ET), date(2024, 9, 5)),  # Sat: still Thu
        (datetime(2024, 9, 8, 23, 59, tzinfo=ET), date(2024, 9, 5)),  # Sun close: Thu
        (datetime(2024, 3, 11, 13, 30, tzinfo=UTC), date(2024, 3, 10)),  # 09:30 EDT
        (datetime(2024, 3, 4, 13, 30, tzinfo=UTC), date(2024, 2, 29)),  # Mon 08:30 EST
        (datetime(2024, 3, 4, 13, 59, tzinfo=UTC), date(2024, 2, 29)),  # Mon 08:59 EST
        (datetime(2024, 3, 4, 14, 0, tzinfo=UTC), date(2024, 3, 3)),  # 09:00 EST Mon
        (datetime(2024, 3, 5, 13, 59, tzinfo=UTC), date(2024, 3, 3)),  # 08:59 EST Tue
        (datetime(2024, 1, 1, 3, 0, tzinfo=UTC), date(2023, 12, 28)),  # Sun night ET
    ],
    ids=[
        "tue-after",
        "tue-before",
        "mon-release",
        "mon-early",
        "fri",
        "sat",
        "sun-close",
        "dst-edt",
        "est-early",
        "est-0859",
        "est-0900",
        "tue-0859-est",
        "utc-new-year",
    ],
)
def test_published_through(now: datetime, expected: date) -> None:
    """A day is published on the first weekday 09:00 ET after it."""
    assert published_through(now) == expected


def test_published_through_rejects_naive() -> None:
    """A naive time is refused rather than guessed."""
    with pytest.raises(ValueError, match="aware"):
        published_through(datetime(2024, 9, 3, 10, 0))


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
)
def test_published_through_is_past_and_monotone(naive: datetime, step: timedelta) -> None:
    """Published data always ends before today (ET) and never shrinks as time passes."""
    now = naive.replace(tzinfo=UTC)
    got = published_through(now)
    assert got < now.astimezone(ET).date()
    assert (now.astimezone(ET).date() - got).days <= 4
    assert published_through(now + step) >= got


@pytest.mark.parametrize("k", range(5), ids=lambda k: f"k{k}")
def test_information_time_matches_state(k: int) -> None:
    """States 0–4 have a wall-clock time at which exactly k days of the week are published."""
    sunday = date(2024, 9, 8)
    assert published_through(information_time(sunday, k)) == state_cutoff(sunday, k)


# --------------------------------------------------------------------------- analog days


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 6, 12), date(2023, 6, 14)),  # ordinary: 364 days
        (date(2024, 11, 28), date(2023, 11, 23)),  # Thanksgiving → Thanksgiving
        (date(2024, 12, 1), date(2023, 11, 26)),  # Sunday after Thanksgiving
        (date(2024, 3, 31), date(2023, 4, 9)),  # Easter → Easter
        (date(2024, 5, 27), date(2023, 5, 29)),  # Memorial Day
        (date(2024, 12, 25), date(2023, 12, 25)),  # Christmas: calendar date
        (date(2024, 12, 31), date(2023, 12, 31)),  # New Year's Eve: calendar date
        (date(2024, 7, 4), date(2023, 7, 4)),  # July 4th: calendar date
    ],
    ids=["plain", "thanksgiving", "thx-sunday", "easter", "memorial", "xmas", "nye", "july4"],
)
def test_analog_day(day: date, expected: date) -> None:
    """The analog is holiday-anchored near holidays and 364 days back elsewhere."""
    assert analog_day(day) == expected


def test_analog_day_fixed_alignment_can_be_disabled() -> None:
    """With fixed_radius -1, Christmas uses the same weekday 364 days back."""
    params = ForecastParams(fixed_radius=-1)
    assert analog_day(date(2024, 12, 25), params) == date(2023, 12, 27)


# --------------------------------------------------------------------------- forecasts


WEEKS = [date(2023, 11, 26), date(2023, 12, 31), date(2024, 1, 21), date(2024, 3, 31)]


@pytest.mark.parametrize("week_end", WEEKS, ids=str)
@pytest.mark.parametrize("k", range(7), ids=lambda k: f"k{k}")
def test_forecast_ignores_the_future(actuals: dict[date, int], week_end: date, k: int) -> None:
    """Replacing or removing every number after the information date changes nothing."""
    cutoff = state_cutoff(week_end, k)
    full = forecast_week(actuals, week_end, known_through=cutoff)
    garbage = {d: (1 if d > cutoff else v) for d, v in actuals.items()}
    garbage.update({cutoff + timedelta(days=i): 9_999_999 for i in range(1, 30)})
    removed = {d: v for d, v in actuals.items() if d <= cutoff}
    assert forecast_week(garbage, week_end, known_through=cutoff) == full
    assert forecast_week(removed, week_end, known_through=cutoff) == full
    assert full.known_days == k


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=15), st.integers(min_value=0, max_value=6))
def test_forecast_at_ignores_the_future(week_index: int, k: int) -> None:
    """forecast_at at a state's information time equals the truncated-data forecast."""
    actuals = read_actuals(FIXTURE)
    week_end = date(2023, 12, 3) + timedelta(days=7 * week_index)
    now = information_time(week_end, k)
    cutoff = published_through(now)
    trimmed = {d: v for d, v in actuals.items() if d <= cutoff}
    assert forecast_at(actuals, week_end - timedelta(days=3), now) == forecast_at(
        trimmed, week_end, now
    )


def test_all_days_known_gives_the_actual_mean(actuals: dict[date, int]) -> None:
    """With the whole week published the forecast is the realised average."""
    week_end = date(2024, 2, 4)
    fc = forecast_week(actuals, week_end, known_through=week_end)
    exact = Fraction(sum(actuals[week_end - timedelta(days=i)] for i in range(7)), 7)
    assert fc.mean == exact
    assert fc.prediction == round_half_up(exact)
    assert fc.known_days == 7


def test_known_days_enter_as_actuals(actuals: dict[date, int]) -> None:
    """Known days of the week are summed exactly; unknown days are scaled analogs."""
    week_end = date(2024, 2, 4)
    params = ForecastParams.single(7)
    fc = forecast_week(actuals, week_end, known_through=state_cutoff(week_end, 3), params=params)
    known = [week_end - timedelta(days=6 - i) for i in range(3)]
    assert fc.known_sum == sum(actuals[d] for d in known)
    unknown = [week_end - timedelta(days=6 - i) for i in range(3, 7)]
    rest = sum(fc.trend * actuals[analog_day(d)] for d in unknown)
    assert float(fc.mean) == pytest.approx((fc.known_sum + rest) / 7, rel=1e-12)


def test_windows_are_weighted_by_recent_error(actuals: dict[date, int]) -> None:
    """The mix lies between its windows' forecasts, with weights summing to one."""
    week_end, cutoff = date(2024, 2, 4), date(2024, 1, 28)
    fc = forecast_week(actuals, week_end, known_through=cutoff)
    singles = [
        forecast_week(actuals, week_end, known_through=cutoff,
                      params=ForecastParams.single(n)).mean
        for n in ForecastParams().trend_windows
    ]
    assert min(singles) <= fc.mean <= max(singles)
    assert sum(w for _, w in fc.weights) == pytest.approx(1.0)
    assert len({round(w, 6) for _, w in fc.weights}) > 1  # not an equal split


def test_known_days_blend_in_the_recent_within_week_ratio(actuals: dict[date, int]) -> None:
    """With days known, a fifth of the unknown days' forecast is the known sum times the mean
    unknown-to-known ratio of the last eight complete non-holiday weeks (computed by hand)."""
    week_end, k = date(2023, 11, 5), 4
    cutoff = state_cutoff(week_end, k)
    blended = forecast_week(actuals, week_end, known_through=cutoff)
    yoy = forecast_week(actuals, week_end, known_through=cutoff,
                        params=ForecastParams(ratio_weight=0.0))
    ratios, j = [], 0
    while len(ratios) < 8:
        j += 1
        days = tuple(week_end - timedelta(days=7 * j + 6 - i) for i in range(7))
        if is_holiday_week(days):  # Labor and Columbus Day weeks are left out
            continue
        known = sum(actuals[d] for d in days[:k])
        ratios.append((sum(actuals[d] for d in days) - known) / known)
    assert j > 8
    ratio = sum(ratios) / len(ratios)
    assert blended.remainder_ratio == pytest.approx(ratio, rel=1e-12)
    rest_yoy = 7 * float(yoy.mean) - yoy.known_sum
    expected = (blended.known_sum + 0.8 * rest_yoy + 0.2 * blended.known_sum * ratio) / 7
    assert float(blended.mean) == pytest.approx(expected, rel=1e-12)
    assert yoy.remainder_ratio is None
    # Monday open: nothing known, nothing to scale: the year-over-year forecast alone.
    monday = forecast_week(actuals, week_end, known_through=state_cutoff(week_end, 0))
    assert monday.remainder_ratio is None


def test_truncating_the_future_changes_no_forecast_over_a_year() -> None:
    """Every week of 2024 in every state: the full file and the file cut at the information
    date give the same forecast (the ensemble's error weights included)."""
    full = read_actuals(FULL)
    for week_end in [date(2024, 1, 7) + timedelta(days=7 * i) for i in range(0, 52, 5)]:
        for k in range(7):
            cutoff = state_cutoff(week_end, k)
            cut = {d: v for d, v in full.items() if d <= cutoff}
            assert forecast_week(full, week_end, known_through=cutoff) == forecast_week(
                cut, week_end, known_through=cutoff
            )


@pytest.mark.parametrize(
    ("week_end", "k"), [(date(2024, 1, 21), 0), (date(2024, 3, 10), 4)], ids=["mon", "fri"]
)
def test_forecast_is_close_on_real_data(actuals: dict[date, int], week_end: date, k: int) -> None:
    """On ordinary weeks the baseline lands within 5% of the realised average."""
    fc = forecast_week(actuals, week_end, known_through=state_cutoff(week_end, k))
    actual = Fraction(sum(actuals[week_end - timedelta(days=i)] for i in range(7)), 7)
    assert abs(fc.mean / actual - 1) < Fraction(5, 100)


@pytest.mark.parametrize(
    ("actuals", "match"),
    [
        ({date(2024, 1, 1) + timedelta(days=i): 2_000_000 for i in range(20)},
         "no number for|published days"),
        ({}, "nothing published"),
    ],
    ids=["no-analog", "empty"],
)
def test_forecast_missing_data_is_named(actuals: dict[date, int], match: str) -> None:
    """A forecast that lacks data raises InputError naming what is missing."""
    with pytest.raises(InputError, match=match):
        forecast_week(actuals, date(2024, 1, 28), known_through=date(2024, 1, 20))


def test_forecast_requires_a_sunday(actuals: dict[date, int]) -> None:
    """The week is named by its Sunday; another weekday is a caller error."""
    with pytest.raises(ValueError, match="not a Sunday"):
        forecast_week(actuals, date(2024, 1, 27), known_through=date(2024, 1, 20))


@pytest.mark.parametrize(
    ("day", "sunday"),
    [(date(2024, 9, 2), date(2024, 9, 8)), (date(2024, 9, 8), date(2024, 9, 8))],
    ids=["monday", "sunday"],
)
def test_week_end_sunday(day: date, sunday: date) -> None:
    """Any day maps to the Sunday ending its Monday–Sunday week."""
    assert week_end_sunday(day) == sunday


# --------------------------------------------------------------------------- CLI


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tsad")
    register_forecast(parser.add_subparsers(required=True))
    return parser.parse_args(argv)


def test_cmd_forecast_merges_prediction_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command merges its week into the prediction file and prints the forecast."""
    out = tmp_path / "predictions.json"
    out.write_text(json.dumps({"2024-01-07": {"prediction": 2100000}}))
    args = _parse(
        [
            "forecast",
            "--actuals",
            str(FIXTURE),
            "--week",
            "2024-01-24",
            "--now",
            "2024-01-24T10:00:00-05:00",
            "--out",
            str(out),
        ]
    )
    assert args.func(args) == 0
    doc = json.loads(out.read_text())
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["2024-01-07"] == {"prediction": 2100000}
    assert doc["2024-01-28"] == {"prediction": printed["prediction"]}
    assert printed["known_days"] == 2
    assert printed["known_through"] == "2024-01-23"
    assert not list(tmp_path.glob(".*.tmp"))


def test_cmd_forecast_history_out(tmp_path: Path) -> None:
    """--history-out writes past weeks in every state, with their state, only weeks
    published at --now, and no pandemic week."""
    hist = tmp_path / "lagged_tsa_data.csv"
    args = _parse(
        [
            "forecast", "--actuals", str(FULL), "--week", "2022-09-01",
            "--now", "2022-09-01T10:00:00-04:00", "--history-out", str(hist),
        ]
    )
    assert args.func(args) == 0
    lines = hist.read_text().splitlines()
    header = lines[0].split(",")
    assert header == [
        "date", "passengers_7_day_moving_average", "prediction", "known_days",
        "known_through", "holiday", "known_sum",
    ]
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert {r["known_days"] for r in rows} == {str(k) for k in range(7)}
    assert max(r["date"] for r in rows) == "2022-08-28"
    assert min(r["date"] for r in rows) >= "2022-01-01"
    assert len(rows) == 7 * len({r["date"] for r in rows})
    assert {r["holiday"] for r in rows} == {"0", "1"}
    # The daemon's loader reads it back split by state: state 0 only for realized_days.
    history = load_history(hist)
    assert history.n == sum(1 for r in rows if r["known_days"] == "0")
    assert history.states == tuple(range(7))


def test_cmd_forecast_refuses_a_history_too_small(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Too few past weeks to price from: exit 1 naming the minimum, no file written."""
    hist = tmp_path / "h.csv"
    argv = ["forecast", "--actuals", str(FIXTURE), "--week", "2024-02-01", "--now"]
    argv += ["2024-02-01T10:00:00-05:00", "--history-out", str(hist), "--history-weeks", "10"]
    args = _parse(argv)
    assert args.func(args) == 1
    assert "at least 20 are needed" in capsys.readouterr().err
    assert not hist.exists()


def test_cmd_forecast_history_one_state(tmp_path: Path) -> None:
    """--history-state keeps only that known-days state's rows."""
    hist = tmp_path / "h.csv"
    argv = ["forecast", "--actuals", str(FULL), "--week", "2024-02-01", "--now"]
    argv += ["2024-02-01T10:00:00-05:00", "--history-out", str(hist), "--history-state", "0"]
    args = _parse(argv)
    assert args.func(args) == 0
    lines = hist.read_text().splitlines()[1:]
    assert lines
    assert {line.split(",")[3] for line in lines} == {"0"}


def test_cmd_forecast_refuses_stale_actuals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Actuals through Thu 2024-08-22 used on Fri 2024-08-30 11:00 (naive = New York):
    exit 1 naming every published day the file lacks; nothing is written."""
    full = read_actuals(FULL)
    stale = tmp_path / "actuals.csv"
    write_actuals(stale, {d: v for d, v in full.items() if d <= date(2024, 8, 22)})
    out = tmp_path / "prediction.json"
    argv = ["forecast", "--actuals", str(stale), "--now", "2024-08-30T11:00", "--out", str(out)]
    args = _parse(argv)
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    for day in range(23, 29):  # Thursday 29 is inside the grace after the release
        assert f"2024-08-{day}" in err
    assert "2024-08-22" not in err.split("published")[1]
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--week", "2024-13-01", "--now", "2024-01-24T10:00"], "--week"),
        (["--week", "2024-01-24", "--now", "yesterday"], "--now"),
        (["--week", "2030-01-24", "--now", "2030-01-24T10:00"], "actuals are stale"),
    ],
    ids=["bad-week", "bad-now", "no-data"],
)
def test_cmd_forecast_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options or data exit 1 with a message naming the problem."""
    args = _parse(["forecast", "--actuals", str(FIXTURE), *argv])
    assert args.func(args) == 1
    assert message in capsys.readouterr().err


def test_priced_band_scores_the_leg_the_model_quotes_strictly_inside_the_band() -> None:
    from bench.forecast import band_cells
    from tsad.commands.backtest import STRIKES, BacktestRow
    from tsad.commands.forecaster import HistoryRow

    # Prediction 2.30M, realised 2.31M. P(YES) 0.97 at 2.20M (leg YES 0.97: outside the
    # band), 0.6 at 2.25M (YES 0.6: in), 0.4 at 2.35M (leg NO 0.6: in, NO pays), 1/20 at
    # 2.40M (leg NO 19/20: the band is strict, so out); 0 elsewhere below, 1 above.
    p_yes = {2_200_000: Fraction(97, 100), 2_250_000: Fraction(3, 5),
             2_350_000: Fraction(2, 5), 2_400_000: Fraction(1, 20)}
    tv = tuple(p_yes.get(k, Fraction(1) if k < 2_200_000 else Fraction(0)) for k in STRIKES)
    row = BacktestRow(
        forecast=HistoryRow(week_end=date(2024, 6, 9), known_days=4,
                            known_through=date(2024, 6, 6), prediction=2_300_000,
                            forecast_mean=Fraction(2_300_000), actual_mean=Fraction(2_310_000)),
        naive_mean=Fraction(0), last_week=Fraction(0), true_values={"h": tv}, history_n=52,
    )
    cell = band_cells([row], ["h"])[("h", 2024, 4)]
    assert cell.band == [pytest.approx(0.4**2), pytest.approx(0.4**2)]
    assert cell.expected == [pytest.approx(0.24), pytest.approx(0.24)]
    assert len(cell.every) == len(STRIKES)
    assert band_cells([row], ["h"])[("h", None, 4)].band == cell.band
