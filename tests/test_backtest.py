"""Tests of the walk-forward backtest: no look-ahead, true values, scores and the CLI."""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from tsad.commands.actuals import read_actuals
from tsad.commands.backtest import (
    STRIKES,
    BacktestRow,
    format_rows_csv,
    register_backtest,
    run_backtest,
    summarize,
)


FIXTURE = Path(__file__).parent / "data" / "tsa" / "daily_2019-2024.csv"
HOOKS = ("seed", "realized_days")


@pytest.fixture(name="actuals", scope="module")
def _actuals() -> dict[date, int]:
    return read_actuals(FIXTURE)


@pytest.fixture(name="rows", scope="module")
def _rows(actuals: dict[date, int]) -> list[BacktestRow]:
    return run_backtest(
        actuals, start=date(2024, 1, 1), end=date(2024, 3, 31), hooks=HOOKS
    )


def test_rows_cover_every_week_and_state(rows: list[BacktestRow]) -> None:
    """Each complete week in range appears once per known-days state 0–6."""
    weeks = sorted({r.forecast.week_end for r in rows})
    assert weeks[0] == date(2024, 1, 7)
    assert weeks[-1] == date(2024, 3, 31)
    assert len(rows) == 7 * len(weeks)
    for r in rows:
        assert r.forecast.known_through == r.forecast.week_end - timedelta(
            days=7 - r.forecast.known_days
        )


def test_history_comes_from_earlier_weeks(rows: list[BacktestRow]) -> None:
    """Every state of a week is priced by the same history, of weeks before it (104 max)."""
    by_week: dict[date, set[int]] = {}
    for r in rows:
        by_week.setdefault(r.forecast.week_end, set()).add(r.history_n)
    assert all(len(v) == 1 for v in by_week.values())
    assert all(20 <= next(iter(v)) <= 104 for v in by_week.values())


def test_true_values_are_probabilities_falling_with_strike(rows: list[BacktestRow]) -> None:
    """Every true value is in [0, 1] and never rises with the strike."""
    for r in rows:
        assert set(r.true_values) == set(HOOKS)
        for tv in r.true_values.values():
            assert len(tv) == len(STRIKES)
            assert all(Fraction(0) <= p <= 1 for p in tv)
            assert all(a >= b for a, b in itertools.pairwise(tv))


def test_six_known_days_is_certain_far_from_the_money(actuals: dict[date, int]) -> None:
    """With six days known, realized_days prices strikes >10% away at 0 or 1, correctly."""
    rows = run_backtest(
        actuals, start=date(2024, 3, 1), end=date(2024, 3, 31), hooks=HOOKS
    )
    for r in rows:
        tv = r.true_values["realized_days"]
        actual = r.forecast.actual_mean
        for strike, p in zip(STRIKES, tv, strict=True):
            if r.forecast.known_days == 6 and abs(actual - strike) > actual / 10:
                assert p == (1 if actual > strike else 0)


def test_no_look_ahead(actuals: dict[date, int], rows: list[BacktestRow]) -> None:
    """Rows of a week are identical when every later number is removed from the actuals."""
    cut = date(2024, 2, 11)
    trimmed = {d: v for d, v in actuals.items() if d <= cut}
    early = run_backtest(trimmed, start=date(2024, 1, 1), end=cut, hooks=HOOKS)
    assert early == [r for r in rows if r.forecast.week_end <= cut]


def test_too_little_history_leaves_true_values_empty(actuals: dict[date, int]) -> None:
    """Weeks with fewer past errors than min_history carry no true values."""
    rows = run_backtest(
        actuals, start=date(2024, 1, 1), end=date(2024, 1, 31), hooks=HOOKS, min_history=1000
    )
    assert rows
    assert all(r.true_values == {} for r in rows)
    assert summarize(rows, HOOKS).brier == {}


def test_summary_scores(rows: list[BacktestRow]) -> None:
    """MAPE shrinks from Monday to Friday, and the Brier scores and deciles are consistent."""
    report = summarize(rows, HOOKS)
    assert sorted(report.mape) == list(range(7))
    assert report.mape[4] < report.mape[0]
    assert report.mape[0] < report.naive_mape[0]
    for h in HOOKS:
        assert 0 <= report.brier[h] <= 1
        assert report.log_loss[h] > 0
        assert sum(int(b["n"]) for b in report.reliability[h]) == len(rows) * len(STRIKES)
    # realized_days is the better-scored one at every state: at Monday open, where nothing
    # is known, by the spread of the latest year's errors alone.
    seed, realized = report.brier_by_state["seed"], report.brier_by_state["realized_days"]
    assert all(realized[k] < seed[k] for k in range(7))


def test_csv_columns(rows: list[BacktestRow]) -> None:
    """The CSV has the documented columns and one true-value column per hook × strike."""
    text = format_rows_csv(rows, HOOKS)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for col in ("week_end_sunday", "known_days", "forecast_mean", "actual_mean"):
        assert col in header
    assert "tv_seed_1800000" in header
    assert "tv_realized_days_2900000" in header
    assert sum(c.startswith("tv_") for c in header) == 2 * len(STRIKES)
    assert len(list(reader)) == len(rows)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tsad")
    register_backtest(parser.add_subparsers(required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_cmd_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    """The command writes the CSV and prints MAPE, naive MAPE, Brier and reliability."""
    out = tmp_path / "bt.csv"
    argv = ["backtest", "--actuals", str(FIXTURE), "--start", "2024-01-01", "--end"]
    argv += ["2024-03-31", "--out", str(out), "--min-history", "5"]
    if as_json:
        argv.append("--json")
    args = _parse(argv)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert out.read_text().startswith("week_end_sunday,known_days,")
    if as_json:
        doc = json.loads(printed.strip().splitlines()[-1])
        assert set(doc["brier"]) == set(HOOKS)
        assert set(doc["mape_pct"]) == {str(k) for k in range(7)}
        assert "naive_last_year_mape_pct" in doc
        assert "last_week_mape_pct" in doc
        assert set(doc["mape_pct_by_year"]) == {"2024"}
        assert doc["reliability"]["seed"]
    else:
        assert "MAPE % by information state" in printed
        assert "| last week's mean |" in printed
        assert "reliability [realized_days]" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2024-03-01", "--end", "2024-01-01"], "before --start"),
        (["--start", "2024-01-01", "--end", "2024-03-31", "--hooks", "nope"], "unknown hook"),
        (["--start", "2030-01-01", "--end", "2030-03-31"], "no complete week"),
    ],
    ids=["reversed", "unknown-hook", "no-weeks"],
)
def test_cmd_backtest_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Bad options exit 1 with a message and write no CSV."""
    out = tmp_path / "bt.csv"
    args = _parse(["backtest", "--actuals", str(FIXTURE), "--out", str(out), *extra])
    assert args.func(args) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
