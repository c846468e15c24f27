"""Tests for the forecaster file loaders: predictions, error history, daily actuals."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tsad.core.model import MIN_HISTORY
from tsad.errors import InputError
from tsad.runtime.inputs import (
    MAX_PASSENGERS,
    MIN_PASSENGERS,
    file_version,
    load_actuals,
    load_history,
    load_predictions,
    prediction_for,
)


DATA = Path(__file__).parent / "data" / "inputs"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "name",
    [pytest.param("predictions.json", id="json"), pytest.param("predictions.csv", id="csv")],
)
def test_load_predictions_fixture(name: str) -> None:
    """Both prediction formats load into floats keyed by the week's Sunday."""
    preds = load_predictions(DATA / name)
    assert set(preds) == {date(2024, 9, 1), date(2024, 9, 8)}
    assert preds[date(2024, 9, 1)] == 2_512_000.0
    assert isinstance(preds[date(2024, 9, 8)], float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"2024-09-08": {"prediction": 2440000}}', 2_440_000.0, id="json-content"),
        pytest.param("date,prediction\n2024-09-08,2440000\n", 2_440_000.0, id="csv-content"),
    ],
)
def test_load_predictions_by_content(tmp_path: Path, text: str, expected: float) -> None:
    """Without a telling extension the format is chosen by content."""
    preds = load_predictions(write(tmp_path, "predictions.txt", text))
    assert preds == {date(2024, 9, 8): expected}


def test_prediction_for() -> None:
    """A week's prediction is found by its Sunday; a missing week names file and week."""
    path = DATA / "predictions.json"
    preds = load_predictions(path)
    assert prediction_for(preds, date(2024, 9, 8), path) == 2_440_000.0
    with pytest.raises(InputError, match=r"predictions\.json: no prediction for week ending "
                                         r"2024-09-15"):
        prediction_for(preds, date(2024, 9, 15), path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("", "file is empty", id="empty"),
        pytest.param('{"2024-09-08": ', r"line 1: malformed JSON", id="malformed"),
        pytest.param("[1, 2]", "expected a JSON object", id="not-object"),
        pytest.param("{}", "no predictions", id="no-entries"),
        pytest.param('{"2024-09-07": {"prediction": 2440000}}', "Saturday, not a Sunday",
                     id="not-sunday"),
        pytest.param('{"2024-13-08": {"prediction": 2440000}}', "key '2024-13-08'.*ISO date",
                     id="bad-date"),
        pytest.param('{"2024-09-08": 2440000}', r"key '2024-09-08'.*expected", id="bare-number"),
        pytest.param('{"2024-09-08": {"pred": 2440000}}', "key '2024-09-08'.*expected",
                     id="missing-field"),
        pytest.param('{"2024-09-08": {"prediction": "2440000"}}', "field 'prediction'.*number",
                     id="string"),
        pytest.param('{"2024-09-08": {"prediction": true}}', "not a number", id="bool"),
        pytest.param('{"2024-09-08": {"prediction": NaN}}', "not a finite number", id="nan"),
        pytest.param('{"2024-09-08": {"prediction": -2440000}}', "negative", id="negative"),
        pytest.param('{"2024-09-08": {"prediction": 24400}}', "absurd", id="absurd-low"),
        pytest.param('{"2024-09-08": {"prediction": 24400000}}', "absurd", id="absurd-high"),
        pytest.param(
            '{"2024-09-08": {"prediction": 2440000},\n "2024-09-08": {"prediction": 2}}',
            "duplicate key '2024-09-08'",
            id="duplicate",
        ),
    ],
)
def test_predictions_json_errors(tmp_path: Path, text: str, match: str) -> None:
    """Bad prediction JSON is an InputError naming the file and the offending key."""
    path = write(tmp_path, "preds.json", text)
    with pytest.raises(InputError, match=match) as info:
        load_predictions(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("date,prediction\n", "no predictions", id="header-only"),
        pytest.param("day,prediction\n2024-09-08,2440000\n", r"row 1: missing column.*'date'",
                     id="missing-column"),
        pytest.param("date,prediction\n2024-09-08,abc\n", r"row 2, column 'prediction'.*number",
                     id="malformed"),
        pytest.param("date,prediction\n2024-09-08,\n", r"row 2, column 'prediction'",
                     id="missing-value"),
        pytest.param("date,prediction\n2024-09-08,nan\n", r"row 2, .*not a finite",
                     id="nan"),
        pytest.param("date,prediction\n2024-09-08,-1\n", r"row 2, .*negative", id="negative"),
        pytest.param("date,prediction\n2024-09-08,99999\n", r"row 2, .*absurd", id="absurd"),
        pytest.param("date,prediction\n09/08/2024,2440000\n", r"row 2, column 'date'",
                     id="bad-date"),
        pytest.param("date,prediction\n2024-09-01,2440000\n2024-09-08,2440000,7\n",
                     r"row 3: 3 fields", id="extra-field"),
        pytest.param(
            "date,prediction\n2024-09-08,2440000\n2024-09-01,2500000\n2024-09-08,2450000\n",
            r"rows 2 and 4: two different values of prediction for 2024-09-08",
            id="duplicate",
        ),
    ],
)
def test_predictions_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    """Bad prediction CSV is an InputError naming the file, row and column."""
    path = write(tmp_path, "preds.csv", text)
    with pytest.raises(InputError, match=match) as info:
        load_predictions(path)
    assert str(info.value).startswith(str(path))


def test_predictions_csv_same_duplicate_is_fine(tmp_path: Path) -> None:
    """A date repeated with the same value is accepted."""
    text = "date,prediction\n2024-09-08,2440000\n2024-09-08,2440000.0\n"
    assert load_predictions(write(tmp_path, "p.csv", text)) == {date(2024, 9, 8): 2_440_000.0}


def test_load_history_fixture_matches_pandas() -> None:
    """The history fixture's errors equal pandas' actual / prediction − 1, bit for bit."""
    path = DATA / "history.csv"
    hist = load_history(path)
    df = pd.read_csv(path).dropna(subset=["prediction"])
    errors = sorted(df["passengers_7_day_moving_average"] / df["prediction"] - 1)
    assert hist.n == len(df) > 0
    assert list(hist.errors) == errors


H = "date,passengers_7_day_moving_average,day_of_week,prediction\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("", "file is empty", id="empty"),
        pytest.param(H, "no rows with both", id="header-only"),
        pytest.param(H + "2024-09-01,2400000,Sunday,\n", "no rows with both", id="no-predictions"),
        pytest.param("date,prediction\n2024-09-01,2400000\n",
                     r"row 1: missing column.*passengers_7_day_moving_average",
                     id="missing-column"),
        pytest.param(H + "2024-09-01,2400000,Sunday,2450000\n2024-09-02,abc,Monday,2450000\n",
                     r"row 3, column 'passengers_7_day_moving_average'.*not a number",
                     id="malformed"),
        pytest.param(H + "2024-09-01,2400000,Sunday,NaN\n",
                     r"row 2, column 'prediction'.*not a finite", id="nan"),
        pytest.param(H + "2024-09-01,-2400000,Sunday,2450000\n",
                     r"row 2, column 'passengers_7_day_moving_average'.*negative",
                     id="negative"),
        pytest.param(H + "2024-09-01,2400000,Sunday,0\n", r"row 2, column 'prediction'.*absurd",
                     id="zero-prediction"),
        pytest.param(H + "2024-09-01,6000000,Sunday,2450000\n", r"row 2, .*absurd",
                     id="absurd"),
        pytest.param(H + '2024-09-01,"2400000,Sunday,2450000\n', r"row \d+", id="bad-quote"),
    ],
)
def test_history_errors(tmp_path: Path, text: str, match: str) -> None:
    """Bad history rows are InputErrors naming the file, row and column."""
    path = write(tmp_path, "lagged.csv", text)
    with pytest.raises(InputError, match=match) as info:
        load_history(path)
    assert str(info.value).startswith(str(path))


def test_history_skips_rows_without_prediction_or_outcome(tmp_path: Path) -> None:
    """Rows lacking the prediction (or the outcome) are ignored, not errors."""
    text = H + (
        "2024-09-01,,Sunday,2450000\n"
        "2024-09-02,2400000,Monday,\n"
        + "2024-09-03,2400000,Tuesday,2000000\n" * MIN_HISTORY
        + "\n"
    )
    hist = load_history(write(tmp_path, "lagged.csv", text))
    assert hist.errors == (2_400_000 / 2_000_000 - 1,) * MIN_HISTORY


def test_load_actuals_fixture() -> None:
    """Daily actuals load as ints by date."""
    actuals = load_actuals(DATA / "actuals.csv")
    assert len(actuals) == 14
    assert actuals[date(2024, 9, 8)] == 2_635_080


A = "date,passengers\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("", "file is empty", id="empty"),
        pytest.param("date,count\n", r"row 1: missing column.*'passengers'", id="missing-col"),
        pytest.param(A + "2024-09-08,2.5e6\n", r"row 2, column 'passengers'.*whole number",
                     id="not-integer"),
        pytest.param(A + "2024-09-08,\n", r"row 2, column 'passengers'", id="missing-value"),
        pytest.param(A + "2024-09-08,NaN\n", r"row 2, column 'passengers'", id="nan"),
        pytest.param(A + "2024-09-08,-2000000\n", r"row 2, .*negative", id="negative"),
        pytest.param(A + "2024-09-08,5000\n", r"row 2, .*absurd", id="absurd"),
        pytest.param(A + "2024-09-31,2000000\n", r"row 2, column 'date'", id="bad-date"),
        pytest.param(
            A + "2024-09-07,2000000\n2024-09-08,2100000\n2024-09-07,2000001\n",
            r"rows 2 and 4: two different values of passengers for 2024-09-07 "
            r"\(2000000 and 2000001\)",
            id="duplicate",
        ),
    ],
)
def test_actuals_errors(tmp_path: Path, text: str, match: str) -> None:
    """Bad actuals are InputErrors naming the file, row and column (both rows for dups)."""
    path = write(tmp_path, "actuals.csv", text)
    with pytest.raises(InputError, match=match) as info:
        load_actuals(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(A, {}, id="header-only"),
        pytest.param(A + "2024-09-08,2000000\n2024-09-08,2000000\n",
                     {date(2024, 9, 8): 2_000_000}, id="same-duplicate"),
        pytest.param(A + "2024-09-08,2000000.0\n", {date(2024, 9, 8): 2_000_000},
                     id="trailing-zero-decimal"),
        pytest.param(f"{A}2024-09-08,{MIN_PASSENGERS}\n2024-09-09,{MAX_PASSENGERS}\n",
                     {date(2024, 9, 8): MIN_PASSENGERS, date(2024, 9, 9): MAX_PASSENGERS},
                     id="bounds-inclusive"),
    ],
)
def test_actuals_accepted(tmp_path: Path, text: str, expected) -> None:
    """Valid actuals files load, including an empty week and repeated identical rows."""
    assert load_actuals(write(tmp_path, "actuals.csv", text)) == expected


@pytest.mark.parametrize(
    "loader",
    [
        pytest.param(load_predictions, id="predictions"),
        pytest.param(load_history, id="history"),
        pytest.param(load_actuals, id="actuals"),
        pytest.param(file_version, id="version"),
    ],
)
def test_missing_file(tmp_path: Path, loader) -> None:
    """A missing file is an InputError naming it."""
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match=r"nope\.csv: cannot read"):
        loader(path)


def test_not_utf8(tmp_path: Path) -> None:
    """Undecodable bytes are an InputError naming the file."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b"date,passengers\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"bad\.csv: not UTF-8"):
        load_actuals(path)


def test_file_version(tmp_path: Path) -> None:
    """The version is the first 12 hex digits of the content's sha256 and tracks changes."""
    path = write(tmp_path, "p.json", '{"2024-09-08": {"prediction": 2440000}}')
    v1 = file_version(path)
    assert v1 == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    path.write_text('{"2024-09-08": {"prediction": 2440001}}')
    assert file_version(path) != v1


def test_a_stated_history_carries_the_spread_of_its_latest_year(tmp_path: Path) -> None:
    """Dated Monday-open rows, in any order, give the ratio of the latest 52 weeks' mean
    absolute error to all of them; the seed's undated history keeps 1."""
    rows = ["date,passengers_7_day_moving_average,prediction,known_days,holiday,known_sum"]
    sunday = date(2022, 1, 2)
    for i in range(104):
        actual = 2_020_000 if i < 52 else 2_010_000  # errors +1 % then +0.5 %
        rows.append(f"{sunday + timedelta(days=7 * i)},{actual},2000000,0,0,0")
    text = "\n".join([rows[0], *reversed(rows[1:])]) + "\n"
    hist = load_history(write(tmp_path, "stated.csv", text))
    assert hist.spread_scale == pytest.approx(0.005 / 0.0075)
    seed_text = H + "2024-09-03,2400000,Tuesday,2000000\n" * 60
    assert load_history(write(tmp_path, "lagged.csv", seed_text)).spread_scale == 1.0
