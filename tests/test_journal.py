"""Tests for the SQLite journal: durability, exactly-once fills, generations, errors."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from tsad.core.orders import BookSide, Fill, Order, OrderStatus
from tsad.runtime.journal import (
    SCHEMA_VERSION,
    Decision,
    IntentKind,
    Journal,
    JournalError,
    Mark,
    ResultOutcome,
    Settlement,
    event_of,
)


T0 = datetime(2024, 9, 4, 14, 0, tzinfo=UTC)


class FakeClock:
    """A clock that advances one second per reading."""

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t

    def monotonic(self) -> float:
        return (self.t - T0).total_seconds()


@pytest.fixture(name="journal")
def _journal(tmp_path: Path):
    j = Journal.open(tmp_path / "state" / "journal.db", clock=FakeClock())
    yield j
    j.close()


def _fill(trade_id: str, *, ticker: str = "KXTSAW-24SEP08-A2.45", side: BookSide = BookSide.BID,
          price: int = 5600, count: int = 1000, fee: int = 12_000) -> Fill:
    return Fill(trade_id=trade_id, order_id="o-1", ticker=ticker, side=side, price=price,
                count=count, fee=fee, client_order_id="tsad-x", ts=T0)


def test_open_enables_wal_and_private_permissions(tmp_path: Path) -> None:
    """Opening creates a 0700 parent and a 0600 file, in WAL mode."""
    path = tmp_path / "a" / "b" / "journal.db"
    Journal.open(path).close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert row[0] == str(SCHEMA_VERSION)


def test_generations_increment_and_persist_across_reopen(tmp_path: Path) -> None:
    """Generations count up per (ticker, side) from the journal's base and survive a reopen."""
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        first = j.next_generation("T-1", BookSide.BID)
        base = first - 1
        assert [j.next_generation("T-1", BookSide.BID) for _ in range(2)] == [base + 2, base + 3]
        assert j.next_generation("T-1", BookSide.ASK) == base + 1
        assert j.next_generation("T-2", "bid") == base + 1
    with Journal.open(path) as j:
        assert j.next_generation("T-1", BookSide.BID) == base + 4
        assert j.next_generation("T-1", "ask") == base + 2


def test_a_new_journal_never_reuses_an_old_ones_generations(tmp_path: Path) -> None:
    """A replacement journal starts its generations above the old one's (time-based base)."""
    from datetime import timedelta

    from tsad.clock import SystemClock

    class Later(SystemClock):
        """The wall clock five seconds on: the replacement journal is made later."""

        def now(self):
            return super().now() + timedelta(seconds=5)

    with Journal.open(tmp_path / "old.db") as old:
        used = [old.next_generation("T-1", "bid") for _ in range(4000)]
    with Journal.open(tmp_path / "new.db", clock=Later()) as new:
        assert new.next_generation("T-1", "bid") > max(used)


@pytest.mark.parametrize(
    ("outcomes", "unresolved"),
    [
        pytest.param([], True, id="no-result"),
        pytest.param(["ok"], False, id="ok"),
        pytest.param(["error"], False, id="error"),
        pytest.param(["ambiguous"], True, id="ambiguous"),
        pytest.param(["ambiguous", "ok"], False, id="ambiguous-then-resolved"),
    ],
)
def test_unresolved_intents_follow_results(
    journal: Journal, outcomes: list[str], unresolved: bool
) -> None:
    """An intent stays unresolved until an ok or error result is recorded."""
    iid = journal.record_intent(
        IntentKind.CREATE, ticker="KXTSAW-24SEP08-A2.45", side=BookSide.BID,
        client_order_id="tsad-1", price=5600, count=1000, config_version="c1",
        prediction_version="p1", cycle=7,
    )
    for outcome in outcomes:
        journal.record_result(iid, outcome, order_id="o-1", detail="x")
    got = journal.unresolved_intents()
    assert [i.id for i in got] == ([iid] if unresolved else [])
    if unresolved:
        intent = got[0]
        assert (intent.kind, intent.ticker, intent.side, intent.price, intent.count) == (
            IntentKind.CREATE, "KXTSAW-24SEP08-A2.45", BookSide.BID, 5600, 1000)
        assert (intent.client_order_id, intent.cycle, intent.config_version) == ("tsad-1", 7, "c1")
        assert intent.ts.tzinfo is not None


def test_intent_for_client_order_id(journal: Journal) -> None:
    """The latest intent that used a client_order_id can be looked up."""
    journal.record_intent("create", ticker="T-1", side="ask", client_order_id="c-9", count=100)
    second = journal.record_intent("cancel", ticker="T-1", side="ask", client_order_id="c-9",
                                   order_id="o-9")
    found = journal.intent_for("c-9")
    assert found is not None and found.id == second and found.kind is IntentKind.CANCEL
    assert journal.intent_for("nope") is None


def test_result_for_unknown_intent_is_an_error(journal: Journal) -> None:
    """Recording a result for an intent that does not exist names the intent id."""
    with pytest.raises(JournalError, match="no intent with id 42"):
        journal.record_result(42, ResultOutcome.OK)


@pytest.mark.parametrize(
    ("kind", "side"),
    [pytest.param("replace", "bid", id="bad-kind"), pytest.param("create", "buy", id="bad-side")],
)
def test_bad_intent_values_are_refused(journal: Journal, kind: str, side: str) -> None:
    """Unknown kinds and sides are refused before anything is written."""
    with pytest.raises(ValueError, match=f"'{kind if kind == 'replace' else side}'"):
        journal.record_intent(kind, ticker="T-1", side=side)
    assert journal.unresolved_intents() == []


def test_duplicate_fills_are_ignored(journal: Journal) -> None:
    """A trade_id is recorded once; a repeat returns False and changes nothing."""
    assert journal.record_fill(_fill("t-1")) is True
    assert journal.record_fill(_fill("t-1", price=1)) is False
    assert journal.record_fill(_fill("t-2", side=BookSide.ASK)) is True
    fills = journal.fills()
    assert [f.trade_id for f in fills] == ["t-1", "t-2"]
    assert fills[0] == _fill("t-1")


def test_fills_filter_by_event(journal: Journal) -> None:
    """fills(event_ticker) returns only that event's fills."""
    journal.record_fill(_fill("a", ticker="KXTSAW-24SEP08-A2.45"))
    journal.record_fill(_fill("b", ticker="KXTSAW-24SEP15-A2.45"))
    assert [f.trade_id for f in journal.fills("KXTSAW-24SEP15")] == ["b"]
    assert journal.fills("KXTSAW-24SEP22") == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["t1", "t2", "t3", "t4"]), max_size=12))
def test_fills_are_exactly_once_for_any_replay(tmp_path_factory, trade_ids: list[str]) -> None:
    """Any replay order of fills leaves exactly one row per distinct trade_id."""
    path = tmp_path_factory.mktemp("j") / "j.db"
    with Journal.open(path) as j:
        news = [j.record_fill(_fill(t)) for t in trade_ids]
        assert sum(news) == len(set(trade_ids))
        assert sorted(f.trade_id for f in j.fills()) == sorted(set(trade_ids))


def test_decisions_round_trip_exactly(journal: Journal) -> None:
    """A cycle's decisions come back with exact fractions and last_cycle tracks them."""
    assert journal.last_cycle() is None
    decisions = [
        Decision(ticker="T-A", side=BookSide.BID, true_value=Fraction(7, 20), price=2600,
                 count=1000),
        Decision(ticker="T-B", side=None, true_value=None, price=None, count=None,
                 reason="true value out of band"),
    ]
    journal.record_decisions(3, decisions, config_version="c", prediction_version="p")
    journal.record_decisions(5, decisions[:1])
    assert journal.decisions(3) == decisions
    assert journal.last_cycle() == 5
    journal.record_intent("create", ticker="T-A", side="bid", cycle=9)
    assert journal.last_cycle() == 9


def test_orders_seen_keeps_latest_state(journal: Journal) -> None:
    """orders_seen upserts by order_id and filters by event and status."""
    order = Order(order_id="o-1", client_order_id="c-1", ticker="KXTSAW-24SEP08-A2.45",
                  side=BookSide.BID, price=5600, remaining=1000, filled=0, initial=1000,
                  status=OrderStatus.RESTING, created_time=T0)
    other = Order(order_id="o-2", client_order_id="c-2", ticker="KXTSAW-24SEP15-A2.50",
                  side=BookSide.ASK, price=6100, remaining=500, filled=0, initial=500,
                  status=OrderStatus.RESTING)
    journal.record_orders([order, other])
    done = Order(order_id="o-1", client_order_id="c-1", ticker=order.ticker, side=order.side,
                 price=5600, remaining=0, filled=1000, initial=1000,
                 status=OrderStatus.EXECUTED)
    journal.record_orders([done])
    assert journal.orders_seen(status="resting") == [other]
    got = journal.orders_seen(event_ticker="KXTSAW-24SEP08")
    assert len(got) == 1 and got[0].status is OrderStatus.EXECUTED and got[0].created_time == T0


CRASHER = textwrap.dedent(
    """
    import sys, time
    from tsad.runtime.journal import Journal
    j = Journal.open(sys.argv[1])
    for i in range(5):
        g = j.next_generation("KXTSAW-24SEP08-A2.45", "bid")
        iid = j.record_intent("create", ticker="KXTSAW-24SEP08-A2.45", side="bid",
                              client_order_id=f"tsad-{g}", price=5600, count=1000, cycle=i)
        if i < 2:
            j.record_result(iid, "ok", order_id=f"o-{g}")
    print("written", flush=True)
    time.sleep(60)
    """
)


def test_intents_survive_kill_9(tmp_path: Path) -> None:
    """Intents written before a SIGKILL are found unresolved after reopening."""
    path = tmp_path / "j.db"
    with subprocess.Popen([sys.executable, "-c", CRASHER, str(path)],
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "written"
        finally:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -9
    with Journal.open(path) as j:
        got = j.unresolved_intents()
        base = int(got[0].client_order_id.split("-")[1]) - 3
        assert [i.client_order_id for i in got] == [f"tsad-{base + g}" for g in (3, 4, 5)]
        assert j.next_generation("KXTSAW-24SEP08-A2.45", "bid") == base + 6


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    """A file that is not SQLite is refused with an error naming the file."""
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(JournalError, match=r"j\.db is corrupt or not a tsad journal"):
        Journal.open(path)


def test_locked_journal_is_a_clear_error(tmp_path: Path) -> None:
    """A journal held by another writer is reported as locked, not as a crash."""
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(JournalError, match="locked by another process"):
                j.next_generation("T-1", "bid")
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A journal written by a newer schema is refused rather than misread."""
    path = tmp_path / "j.db"
    Journal.open(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match="schema version 99"):
        Journal.open(path)


def test_unwritable_parent_is_a_clear_error(tmp_path: Path) -> None:
    """A path under a regular file cannot be created and the error names it."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(JournalError, match="cannot create"):
        Journal.open(tmp_path / "file" / "j.db")


@pytest.mark.parametrize(
    ("ticker", "event"),
    [
        pytest.param("KXTSAW-24SEP08-A2.45", "KXTSAW-24SEP08", id="market"),
        pytest.param("KXTSAW-24SEP08", "KXTSAW", id="event-itself"),
        pytest.param("PLAIN", "PLAIN", id="no-dash"),
    ],
)
def test_event_of(ticker: str, event: str) -> None:
    """event_of drops the last dash-separated part of a ticker."""
    assert event_of(ticker) == event


def test_close_is_idempotent_and_repr_is_plain(tmp_path: Path) -> None:
    """close() twice is harmless and the repr shows only the path."""
    j = Journal.open(tmp_path / "j.db")
    assert repr(j) == f"Journal(path={str(tmp_path / 'j.db')!r})"
    j.close()
    j.close()


_V1_FILLS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1'), ('generation_base', '1000');
CREATE TABLE fills (
    trade_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, client_order_id TEXT,
    event_ticker TEXT NOT NULL, ticker TEXT NOT NULL, side TEXT NOT NULL,
    price INTEGER NOT NULL, count INTEGER NOT NULL, fee INTEGER NOT NULL,
    is_taker INTEGER NOT NULL, ts TEXT, recorded_ts TEXT NOT NULL);
INSERT INTO fills VALUES ('t-old', 'o-1', NULL, 'KXTSAW-24SEP08', 'KXTSAW-24SEP08-A2.45',
    'bid', 4000, 1000, 7000, 0, NULL, '2024-09-04T14:00:00+00:00');
"""


def test_migrates_a_version_1_journal(tmp_path: Path) -> None:
    """A journal written before fees' true values and settlements opens, keeps its fills, and
    gains the new columns and tables."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(_V1_FILLS)
    with Journal.open(path) as j:
        [old] = j.fills()
        assert (old.trade_id, old.fee) == ("t-old", 7000)
        new = Fill(trade_id="t-new", order_id="o-2", ticker="KXTSAW-24SEP08-A2.45",
                   side=BookSide.ASK, price=5000, count=100, fee=200)
        assert j.record_fill(new, true_value=Fraction(9, 20))
        assert j.fill_true_values() == {"t-new": Fraction(9, 20)}
        assert j.settlements() == []
    with closing(sqlite3.connect(path)) as db:
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert version == str(SCHEMA_VERSION) == "2"


def test_settlement_is_journaled_once(tmp_path: Path) -> None:
    """The feed's settlement is completed by the exchange's row, never duplicated or undone."""
    t = "KXTSAW-24SEP08-A2.45"
    with Journal.open(tmp_path / "j.db") as j:
        assert j.record_settlement(Settlement(ticker=t, result="yes", value=10_000,
                                              source="lifecycle"))
        assert not j.record_settlement(Settlement(ticker=t, result="yes", value=10_000,
                                                  source="lifecycle"))
        assert not j.record_settlement(Settlement(
            ticker=t, result="yes", value=10_000, source="exchange", revenue=1_000_000,
            yes_count=100, no_count=0, settled_ts=T0))
        assert not j.record_settlement(Settlement(ticker=t, result="yes", value=10_000,
                                                  source="lifecycle"))
        [st_] = j.settlements()
        assert (st_.source, st_.revenue, st_.yes_count, st_.settled_ts) == (
            "exchange", 1_000_000, 100, T0)
        assert j.settlements("KXTSAW-24SEP15") == []
        with pytest.raises(ValueError):
            j.record_settlement(Settlement(ticker=t, result="maybe", value=0, source="exchange"))


def test_marks_keep_the_last_known_values(tmp_path: Path) -> None:
    """A mark without a mid keeps the previous mid; the fair value updates."""
    t = "KXTSAW-24SEP08-A2.45"
    with Journal.open(tmp_path / "j.db") as j:
        j.record_marks([Mark(ticker=t, mid=5000, fair=Fraction(1, 2))])
        j.record_marks([Mark(ticker=t, mid=None, fair=Fraction(3, 5))])
        assert j.marks() == {t: Mark(ticker=t, mid=5000, fair=Fraction(3, 5))}


async def test_exchange_settlements_are_journaled_once(sim, rsa_key, key_id,
                                                       tmp_path: Path) -> None:
    """The client reads GET /portfolio/settlements from the emulator after an outside fill
    and a settlement; the journal records each market once, completing a lifecycle row with
    the exchange's revenue and counts, however often the list is passed again."""
    from tsad.clock import SystemClock
    from tsad.core.orders import OrderRequest
    from tsad.kalshi.rest import KalshiClient
    from tsad.kalshi.signing import Signer

    picks = []  # markets with room for our bid one cent above the best outside bid
    for m in sim.event.markets:
        levels = sim.book_levels(m.ticker)
        bid = max((p for p, c in levels.yes if c > 0), default=None)
        best_no = max((p for p, c in levels.no if c > 0), default=None)
        if bid is not None and best_no is not None and 10_000 - best_no - bid >= 200:
            picks.append((m.ticker, bid + 100))
    (won, won_price), (lost, lost_price) = picks[0], picks[1]
    client = KalshiClient(rest_url=sim.rest_url, signer=Signer(key_id, rsa_key),
                          clock=SystemClock())
    try:
        for t, price, cid in ((won, won_price, "tsad-s-1"), (lost, lost_price, "tsad-s-2")):
            await client.create_order(OrderRequest(ticker=t, side=BookSide.BID, price=price,
                                                   count=500, client_order_id=cid))
            sim.add_order(t, BookSide.ASK, price, 500)  # an outside seller fills us
        sim.settle(won, 1)
        sim.settle(lost, 0)
        rows = await client.list_settlements(event_ticker=sim.event_ticker)
    finally:
        await client.aclose()
    by = {r.ticker: r for r in rows}
    assert set(by) == {won, lost}
    assert (by[won].result, by[won].yes_count, by[won].revenue) == ("yes", 500, 5_000_000)
    assert (by[lost].result, by[lost].revenue) == ("no", 0)
    from tsad.runtime.ledger import Ledger

    with Journal.open(tmp_path / "j.db") as j:
        j.record_settlement(Settlement(ticker=won, result="yes", value=10_000,
                                       source="lifecycle"))
        assert Ledger(j).settlements(rows) == 1  # only `lost` was new
        assert Ledger(j).settlements(rows) == 0
        got = {st.ticker: st for st in j.settlements()}
    assert got[won].source == "exchange" and got[won].revenue == 5_000_000
    assert got[won].yes_count == 500 and got[lost].value == 0
