"""Paper mode: its own state folder, synthetic actuals that follow TSA's releases."""

from __future__ import annotations

import argparse
import io
import itertools
import json
import shutil
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tsad.commands.report import cmd_report, register_report
from tsad.core import midweek
from tsad.core.orders import BookSide, Fill
from tsad.runtime import inputs, paper
from tsad.runtime.config import load_config
from tsad.runtime.control import socket_path_for_config_file
from tsad.runtime.journal import Journal
from tsad.sim.week import build_event, pick_fair_center


SHIPPED = Path(__file__).resolve().parent.parent / "config.toml"
ET = ZoneInfo("America/New_York")
EVENT = "KXTSAW-26DEC06"  # Monday 2026-11-30 … Sunday 2026-12-06


def _report(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="tsad")
    register_report(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    return cmd_report(parser.parse_args(["report", *argv]), stdout=out), out.getvalue()


def test_paper_state_lives_apart_and_report_reads_it(tmp_path: Path) -> None:
    """The shipped (paper) config keeps its journal and synthetic files under state/paper/,
    `tsad status` looks for the socket there, and `tsad report` reads that journal."""
    cfg_path = tmp_path / "config.toml"
    shutil.copy(SHIPPED, cfg_path)
    cfg = paper.with_paper_paths(load_config(cfg_path, environ={}))
    folder = tmp_path / "state" / "paper"
    assert cfg.journal.path == folder / "journal.sqlite3"
    assert (cfg.model.prediction_path, cfg.model.history_path, cfg.model.actuals_path) == (
        folder / "prediction.json", folder / "history.csv", folder / "actuals.csv")
    assert socket_path_for_config_file(cfg_path, {}).parent == folder
    # A live config's journal stays where it was.
    live = tmp_path / "live.toml"
    live.write_text('[exchange]\nenvironment = "demo"\n')
    assert socket_path_for_config_file(live, {}).parent == tmp_path / "state"
    fill = Fill(trade_id="t-1", order_id="o-1", ticker=f"{EVENT}-A2.50", side=BookSide.BID,
                price=5400, count=1000, fee=0, ts=datetime(2026, 12, 6, 14, tzinfo=UTC))
    with Journal.open(cfg.journal.path) as j:
        j.record_fill(fill, true_value=Fraction(7, 10))
    rc, text = _report("--config", str(cfg_path), "--json")
    assert rc == 0
    data = json.loads(text)
    assert data["journal"] == str(folder / "journal.sqlite3")
    assert [m["ticker"] for m in data["markets"]] == [fill.ticker]
    assert "pnl" in data


def test_an_explicit_journal_keeps_the_paper_files_beside_it(tmp_path: Path) -> None:
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text('[journal]\npath = "data/j.sqlite3"\n')
    cfg = paper.with_paper_paths(load_config(cfg_path, environ={}))
    assert cfg.model.actuals_path == tmp_path / "data" / "paper" / "actuals.csv"


@pytest.mark.parametrize(("now", "days"), [
    (datetime(2026, 11, 30, 8, 0, tzinfo=ET), []),  # Monday before TSA's 09:00 release
    (datetime(2026, 11, 30, 9, 30, tzinfo=ET), [date(2026, 11, 29)]),
    (datetime(2026, 12, 2, 10, 0, tzinfo=ET),
     [date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1)]),
    (datetime(2026, 12, 6, 12, 0, tzinfo=ET),  # Sunday: Friday's release carried Thursday
     [date(2026, 11, 29), *(date(2026, 11, 30 + i) if i == 0 else date(2026, 12, i)
                            for i in range(4))]),
])
def test_actuals_hold_the_days_tsa_has_published(tmp_path: Path, now: datetime,
                                                 days: list[date]) -> None:
    path = tmp_path / "actuals.csv"
    written = paper.write_paper_actuals(path, event_ticker=EVENT, center=2_500_000.0, now=now)
    assert written == days
    actuals = inputs.load_actuals(path)
    assert sorted(actuals) == days
    assert all(1_900_000 < v < 3_000_000 for v in actuals.values())
    # Exactly what TSA had released: never stale, nothing from the future.
    assert midweek.missing_published(actuals, now, since=date(2026, 11, 29)) == []
    assert all(d <= midweek.published_through(now) for d in actuals)


def test_the_whole_week_averages_the_emulators_centre(tmp_path: Path) -> None:
    path = tmp_path / "actuals.csv"
    end = datetime(2026, 12, 8, 10, 0, tzinfo=ET)  # Tuesday after: Monday's release is out
    paper.write_paper_actuals(path, event_ticker=EVENT, center=2_500_000.0, now=end, seed=3)
    week = [v for d, v in inputs.load_actuals(path).items() if d >= date(2026, 11, 30)]
    assert len(week) == 7
    assert sum(week) / 7 == pytest.approx(2_500_000, rel=0.01)


def test_quotes_narrow_as_the_week_goes_on(tmp_path: Path) -> None:
    """With paper's actuals, realized_days prices fewer markets inside the quoted band (and
    each away from 1/2) as TSA publishes more days of the week."""
    center = pick_fair_center(0)
    pred, hist, actuals = (tmp_path / n for n in ("p.json", "h.csv", "a.csv"))
    start = datetime(2026, 11, 30, 8, 0, tzinfo=ET)
    paper.write_paper_inputs(prediction_path=pred, history_path=hist, event_ticker=EVENT,
                             center=center, now=start)
    history = inputs.load_history(hist)
    markets = list(build_event(datetime(2026, 12, 2, 12, tzinfo=ET)).markets)
    hooks = midweek.resolve_hooks(["realized_days"])
    band: list[int] = []
    spread: list[Fraction] = []
    for day in (30, 1, 3, 5):  # Monday, Tuesday, Thursday and Saturday, mid-morning
        now = datetime(2026, 11 if day == 30 else 12, day, 10, 30, tzinfo=ET)
        paper.write_paper_actuals(actuals, event_ticker=EVENT, center=center, now=now)
        vals = midweek.value_week(EVENT, markets, now=now, prediction=center,
                                  history=history, actuals=inputs.load_actuals(actuals),
                                  hooks=hooks)
        yes = [v.true_value for v in vals]
        band.append(sum(1 for p in yes if Fraction(1, 20) < p < Fraction(19, 20)))
        spread.append(sum(p * (1 - p) for p in yes))  # zero once every market is certain
    assert band == sorted(band, reverse=True) and band[0] > band[-1]
    assert all(a > b for a, b in itertools.pairwise(spread))


async def test_sim_serves_the_generated_history() -> None:
    """`tsad sim` answers fetch-history's reads: settled past weeks, historical partition."""
    import asyncio
    import subprocess
    import sys

    import httpx

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", "sim", "--port", "0", "--no-outside-traders",
        "--history-weeks", "3", stdout=asyncio.subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{info['rest_url']}/historical/markets",
                                 params={"series_ticker": "KXTSAW", "limit": 1000})
        assert r.status_code == 200
        markets = r.json()["markets"]
        assert len({m["event_ticker"] for m in markets}) == 3
        assert all(m["status"] == "finalized" and m["result"] in ("yes", "no") for m in markets)
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0


def test_a_forecasters_own_prediction_gets_no_synthetic_actuals(tmp_path: Path) -> None:
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text('[model]\nprediction_path = "p.json"\nhistory_path = "h.csv"\n')
    cfg = paper.with_paper_paths(load_config(cfg_path, environ={}))
    assert cfg.model.actuals_path is None
