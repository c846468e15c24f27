"""Loaders for the forecaster's files: predictions, error history and daily actuals.

The ``load_*`` functions read a file; the ``parse_*`` functions are pure and take the text
and a file name for messages. Every problem is an ``InputError`` naming the file, the row
and, where there is one, the column. Row numbers are file line numbers (a CSV header is
row 1); rows of a JSON predictions file are named by their key.

Sanity bounds: a daily or weekly-average passenger number outside
[``MIN_PASSENGERS``, ``MAX_PASSENGERS``] is absurd (TSA's daily record is about 3.1M; the
2020 trough about 0.09M, which predates the markets) and refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Final, TypeVar

from tsad.core.holidays import is_holiday_week
from tsad.core.model import MIN_HISTORY, ErrorHistory, spread_ratio
from tsad.errors import InputError


__all__ = [
    "MAX_PASSENGERS",
    "MIN_PASSENGERS",
    "file_version",
    "load_actuals",
    "load_history",
    "load_predictions",
    "parse_actuals_csv",
    "parse_history_csv",
    "parse_predictions_csv",
    "parse_predictions_json",
    "prediction_for",
    "version_of",
]

MIN_PASSENGERS: Final = 100_000
"""Smallest plausible daily number or weekly average of TSA checkpoint passengers."""
MAX_PASSENGERS: Final = 5_000_000
"""Largest plausible daily number or weekly average of TSA checkpoint passengers."""

HISTORY_ACTUAL: Final = "passengers_7_day_moving_average"
HISTORY_PREDICTION: Final = "prediction"
HISTORY_STATE: Final = "known_days"
HISTORY_HOLIDAY: Final = "holiday"
HISTORY_KNOWN_SUM: Final = "known_sum"

_INT_RE: Final = re.compile(r"^[0-9]+(?:\.0*)?$")

StrPath = str | os.PathLike[str]


def version_of(data: bytes) -> str:
    """Return a short content version of ``data``: the first 12 hex digits of its sha256."""
    return hashlib.sha256(data).hexdigest()[:12]


def file_version(path: StrPath) -> str:
    """Return the content version of the file at ``path`` (see ``version_of``).

    The journal records it so a decision can be traced to the inputs that produced it.

    Raises:
        InputError: the file cannot be read.
    """
    return version_of(_read_bytes(path))


def _read_bytes(path: StrPath) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{os.fspath(path)}: cannot read: {exc.strerror or exc}") from exc


def _read_text(path: StrPath) -> str:
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{os.fspath(path)}: not UTF-8 text: {exc}") from exc


def _where(name: str, row: int | str, column: str | None = None) -> str:
    where = f"{name} row {row}" if isinstance(row, int) else f"{name} {row}"
    return f"{where}, column {column!r}" if column else where


def _parse_date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{where}: {text!r} is not an ISO date (YYYY-MM-DD)") from None


def _check_passengers(value: float, where: str) -> None:
    if not MIN_PASSENGERS <= value <= MAX_PASSENGERS:
        problem = "negative" if value < 0 else "absurd"
        raise InputError(
            f"{where}: {problem} passenger number {value:g} "
            f"(expected {MIN_PASSENGERS:,}–{MAX_PASSENGERS:,})"
        )


def _parse_number(text: str, where: str) -> float:
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        raise InputError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {text!r} is not a finite number")
    _check_passengers(value, where)
    return value


def _parse_count(text: str, where: str) -> int:
    stripped = text.strip()
    if stripped.startswith("-") and _INT_RE.match(stripped[1:]):
        raise InputError(f"{where}: negative passenger number {stripped}")
    if not _INT_RE.match(stripped):
        raise InputError(f"{where}: {text!r} is not a whole number of passengers")
    value = int(stripped.split(".")[0])
    _check_passengers(value, where)
    return value


def _csv_rows(
    text: str, name: str, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row number, row)`` of a CSV with a header holding ``required`` columns."""
    if not text.strip():
        raise InputError(f"{name}: file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise InputError(f"{name} row 1: malformed CSV header: {exc}") from exc
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{name} row 1: missing column(s) {', '.join(map(repr, missing))}")
    index = {c: header.index(c) for c in required}
    try:
        for fields in reader:
            row = reader.line_num
            if not fields or not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise InputError(
                    f"{name} row {row}: {len(fields)} fields, header has {len(header)}"
                )
            yield row, {c: fields[i] for c, i in index.items()}
    except csv.Error as exc:
        raise InputError(f"{name} row {reader.line_num}: malformed CSV: {exc}") from exc


def _sunday_key(key: str, where: str) -> date:
    day = _parse_date(key, where)
    if day.weekday() != 6:
        raise InputError(f"{where}: {day.isoformat()} is a {day.strftime('%A')}, not a Sunday")
    return day


def parse_predictions_json(text: str, name: str) -> dict[date, float]:
    """Parse ``{"2024-09-08": {"prediction": 2440000}, …}`` keyed by each week's Sunday.

    Args:
        text: the file's content.
        name: the file name, for messages.

    Returns:
        The prediction of each week's average, by the week's Sunday.

    Raises:
        InputError: malformed JSON, duplicate or non-Sunday keys, missing, NaN, negative or
            absurd predictions, or no prediction at all.
    """
    if not text.strip():
        raise InputError(f"{name}: file is empty")

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in items:
            if k in out:
                raise InputError(f"{name}: duplicate key {k!r}")
            out[k] = v
        return out

    try:
        doc = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name} line {exc.lineno}: malformed JSON: {exc.msg}") from exc
    if not isinstance(doc, dict):
        raise InputError(f"{name}: expected a JSON object keyed by date, got {type(doc).__name__}")
    out: dict[date, float] = {}
    for key, entry in doc.items():
        where = _where(name, f"key {key!r}")
        sunday = _sunday_key(key, where)
        if not isinstance(entry, dict) or "prediction" not in entry:
            raise InputError(f'{where}: expected {{"prediction": <number>}}, got {entry!r}')
        value = entry["prediction"]
        where = f"{where}, field 'prediction'"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: {value!r} is not a number")
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"{where}: {value!r} is not a finite number")
        _check_passengers(value, where)
        out[sunday] = value
    if not out:
        raise InputError(f"{name}: no predictions")
    return out


V = TypeVar("V", int, float)


def _dated_column(
    text: str,
    name: str,
    column: str,
    parse_day: Callable[[str, str], date],
    parse_value: Callable[[str, str], V],
) -> dict[date, V]:
    """Read a ``date,<column>`` CSV into a dict; the same date twice must agree.

    Raises:
        InputError: a malformed row, or one date with two different values (naming both
            rows).
    """
    out: dict[date, V] = {}
    rows: dict[date, int] = {}
    for row, fields in _csv_rows(text, name, ("date", column)):
        day = parse_day(fields["date"], _where(name, row, "date"))
        value = parse_value(fields[column], _where(name, row, column))
        if day in out and out[day] != value:
            raise InputError(
                f"{name} rows {rows[day]} and {row}: two different values of {column} for "
                f"{day.isoformat()} ({out[day]} and {value})"
            )
        out[day] = value
        rows.setdefault(day, row)
    return out


def parse_predictions_csv(text: str, name: str) -> dict[date, float]:
    """Parse a ``date,prediction`` CSV keyed by each week's Sunday.

    Raises:
        InputError: as ``parse_predictions_json``; duplicate dates with different values
            name both rows.
    """
    out = _dated_column(text, name, "prediction", _sunday_key, _parse_number)
    if not out:
        raise InputError(f"{name}: no predictions")
    return out


def load_predictions(path: StrPath) -> dict[date, float]:
    """Load the forecaster's predictions file (JSON or CSV, by extension, else by content).

    Raises:
        InputError: the file is missing or malformed (the message names file and row).
    """
    name = os.fspath(path)
    text = _read_text(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".json" or (suffix != ".csv" and text.lstrip().startswith("{")):
        return parse_predictions_json(text, name)
    return parse_predictions_csv(text, name)


def prediction_for(preds: Mapping[date, float], sunday: date, path: StrPath) -> float:
    """Return the prediction for the week ending ``sunday``.

    Raises:
        InputError: ``preds`` (read from ``path``) has no prediction for that week.
    """
    try:
        return preds[sunday]
    except KeyError:
        raise InputError(
            f"{os.fspath(path)}: no prediction for week ending {sunday.isoformat()}"
        ) from None


def parse_history_csv(text: str, name: str) -> ErrorHistory:
    """Parse an error history: the seed's ``lagged_tsa_data.csv``, or one with states.

    Uses the columns ``passengers_7_day_moving_average`` (the week's realised average ``A``)
    and ``prediction`` (``P``); others are ignored. A row counts only when both are present.

    A history that records its information state (``tsad forecast --history-out``: columns
    ``date`` = the week's Sunday, ``known_days``, ``holiday``, ``known_sum``) is split by
    state, never mixed: state 0 rows give the Monday-open errors (what ``seed`` prices
    with), and every row gives its state's error of the unknown days
    ``(7A - S) / (7P - S) - 1`` (what ``realized_days`` prices each state with). Without a
    ``holiday`` column the week's holiday flag is computed from its Sunday. Its dated
    Monday-open rows also give the history's ``spread_scale`` (`model.spread_ratio`: how
    large the latest year's errors run against the whole history's).

    Raises:
        InputError: missing columns, malformed, NaN, negative or absurd values, a bad state,
            no state-0 row, or fewer than ``MIN_HISTORY`` Monday-open errors (the message
            names the minimum).
    """
    pairs: list[tuple[float, float]] = []
    dated: list[tuple[str, float]] = []  # (the week's Sunday, its Monday-open error)
    strata: dict[tuple[int, bool], list[float]] = {}
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    stated = HISTORY_STATE in [h.strip() for h in header]
    required = (HISTORY_ACTUAL, HISTORY_PREDICTION) + ((HISTORY_STATE,) if stated else ())
    columns = [h.strip() for h in header]
    optional = [c for c in ("date", HISTORY_HOLIDAY, HISTORY_KNOWN_SUM) if c in columns]
    for row, fields in _csv_rows(text, name, required + tuple(optional)):
        actual_text, pred_text = fields[HISTORY_ACTUAL], fields[HISTORY_PREDICTION]
        if not pred_text.strip() or not actual_text.strip():
            continue
        actual = _parse_number(actual_text, _where(name, row, HISTORY_ACTUAL))
        prediction = _parse_number(pred_text, _where(name, row, HISTORY_PREDICTION))
        if not stated:
            pairs.append((actual, prediction))
            continue
        known, holiday, known_sum = _state_of(fields, name, row)
        if known == 0:
            pairs.append((actual, prediction))
            if fields.get("date", "").strip() and prediction > 0:
                dated.append((fields["date"].strip(), actual / prediction - 1))
        rest = 7 * prediction - known_sum
        if rest <= 0:
            raise InputError(
                f"{_where(name, row, HISTORY_KNOWN_SUM)}: known sum {known_sum} leaves no "
                f"unknown days for prediction {prediction:g}"
            )
        strata.setdefault((known, holiday), []).append((7 * actual - known_sum) / rest - 1)
    if not pairs:
        what = "known_days 0 rows" if stated else f"rows with both {HISTORY_ACTUAL!r} and"
        raise InputError(
            f"{name}: no {what}{'' if stated else f' {HISTORY_PREDICTION!r}'}"
            + (" (the Monday-open state every history needs)" if stated else "")
        )
    if len(pairs) < MIN_HISTORY:
        raise InputError(
            f"{name}: {len(pairs)} Monday-open errors; at least {MIN_HISTORY} are needed "
            "to price"
        )
    base = ErrorHistory.from_pairs(pairs)
    scale = spread_ratio([e for _, e in sorted(dated)]) if len(dated) == len(pairs) else 1.0
    return ErrorHistory(errors=base.errors, strata={k: tuple(v) for k, v in strata.items()},
                        spread_scale=scale)


def _state_of(fields: Mapping[str, str], name: str, row: int) -> tuple[int, bool, float]:
    """Read a stated history row's ``(known days, holiday week, known sum)``."""
    text = fields[HISTORY_STATE].strip()
    if text not in {str(k) for k in range(7)}:
        raise InputError(f"{_where(name, row, HISTORY_STATE)}: {text!r} is not 0-6")
    known = int(text)
    if HISTORY_HOLIDAY in fields:
        flag = fields[HISTORY_HOLIDAY].strip()
        if flag not in ("0", "1"):
            raise InputError(f"{_where(name, row, HISTORY_HOLIDAY)}: {flag!r} is not 0 or 1")
        holiday = flag == "1"
    elif "date" in fields:
        sunday = _sunday_key(fields["date"], _where(name, row, "date"))
        holiday = is_holiday_week(tuple(date.fromordinal(sunday.toordinal() - i)
                                        for i in range(7)))
    else:
        raise InputError(f"{name} row 1: a stated history needs 'holiday' or 'date'")
    known_sum = 0.0
    if HISTORY_KNOWN_SUM in fields and fields[HISTORY_KNOWN_SUM].strip():
        where = _where(name, row, HISTORY_KNOWN_SUM)
        try:
            known_sum = float(fields[HISTORY_KNOWN_SUM])
        except ValueError:
            raise InputError(f"{where}: {fields[HISTORY_KNOWN_SUM]!r} is not a number") from None
        if not math.isfinite(known_sum) or known_sum < 0:
            raise InputError(f"{where}: {known_sum!r} is not a non-negative number")
    elif known:
        raise InputError(
            f"{_where(name, row, HISTORY_KNOWN_SUM)}: a row with {known} known days needs "
            "the known days' sum"
        )
    return known, holiday, known_sum


def load_history(path: StrPath) -> ErrorHistory:
    """Load the error history CSV (see ``parse_history_csv``).

    Raises:
        InputError: the file is missing or malformed.
    """
    return parse_history_csv(_read_text(path), os.fspath(path))


def parse_actuals_csv(text: str, name: str) -> dict[date, int]:
    """Parse a daily actuals CSV ``date,passengers``.

    Raises:
        InputError: malformed dates, non-integer, negative or absurd numbers, or the same
            date twice with different values (naming both rows).
    """
    return _dated_column(text, name, "passengers", _parse_date, _parse_count)


def load_actuals(path: StrPath) -> dict[date, int]:
    """Load the daily actuals CSV (see ``parse_actuals_csv``).

    Raises:
        InputError: the file is missing or malformed.
    """
    return parse_actuals_csv(_read_text(path), os.fspath(path))
