"""Table and property tests of the engine's pure state machine (`tsad.core.engine_state`):
book and feed events, the order-group backstop, the halt file and the forecaster's inputs,
exchange status, write failures, the weekly roll and the read backs (one at a time, what
their outcome thaws), without sockets or a clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from tsad.core.book import BookResynced, BookStale, BookUpdated
from tsad.core.engine import BookView
from tsad.core.engine_messages import (
    EventChanged,
    EventFetched,
    FeedDown,
    FeedUp,
    FetchEvent,
    FillApplied,
    GroupResetDone,
    GroupTriggered,
    HaltChanged,
    InputsInvalid,
    InputsLoaded,
    Log,
    MarketsPulled,
    PollStatus,
    PredictionAged,
    ResetGroup,
    Resync,
    ResyncFailed,
    ResyncRead,
    ResyncWanted,
    Revalue,
    StatusPolled,
    Tick,
    Unvalued,
    ValuationFailed,
    Valued,
    WriteAcked,
    WriteFailed,
)
from tsad.core.engine_state import (
    GROUP_PULL,
    State,
    handle,
)
from tsad.core.market import Event, Market, Outcome, StrikeType, Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.model import ErrorHistory
from tsad.core.orders import BookSide, Position
from tsad.errors import (
    AmbiguousOutcome,
    Conflict,
    ExchangeError,
    NotFound,
    OrderRejected,
    RateLimited,
    ServerError,
)


A, B = "KXTSAW-26AUG09-A2.45", "KXTSAW-26AUG09-A2.50"
T0 = datetime(2026, 8, 5, 12, tzinfo=UTC)
# Past the Sunday 23:59 ET close of the week of A and B.
CLOSED = datetime(2026, 8, 10, 4, 0, tzinfo=UTC)
C = "KXTSAW-26AUG16-A2.45"
NEXT = Event(event_ticker="KXTSAW-26AUG16", series_ticker="KXTSAW",
             markets=(Market(ticker=C, event_ticker="KXTSAW-26AUG16",
                             strike_type=StrikeType.GREATER, floor_strike=2_450_000.0),))


def state(cooloff: float = 60.0) -> State:
    """Two markets, no book yet (stale from t=0)."""
    return State(
        mirror=OrderMirror(),
        event=Event(event_ticker="KXTSAW-26AUG09", series_ticker="KXTSAW"),
        markets={t: Market(ticker=t, event_ticker="KXTSAW-26AUG09",
                           strike_type=StrikeType.GREATER, floor_strike=2_450_000.0)
                 for t in (A, B)},
        books={t: BookView(stale_since=0.0) for t in (A, B)},
        dirty=False, group_cooloff=cooloff,
    )


def kinds(cmds: list[object]) -> list[str]:
    return [c.event if isinstance(c, Log) else type(c).__name__ for c in cmds]


def _history() -> ErrorHistory:
    return ErrorHistory(errors=(-0.01, 0.0, 0.01))


def test_a_snapshot_makes_its_book_fresh_and_a_drop_makes_every_book_stale() -> None:
    s = state()
    assert handle(s, BookUpdated(ticker=A, best_bid=4000, best_ask=4200), 1.0) == []
    assert s.books[A].fresh and s.books[A].stale_since is None and s.dirty
    assert (s.books[A].best_bid, s.books[A].best_ask) == (4000, 4200)
    assert not s.books[B].fresh and s.books[B].stale_since == 0.0, "B keeps its stale clock"
    s.dirty = False
    assert handle(s, BookUpdated(ticker=A, best_bid=4000, best_ask=4200), 2.0) == []
    assert not s.dirty, "the same top changes nothing"
    assert kinds(handle(s, FeedDown("closed"), 5.0)) == ["book.stale"]
    assert not s.books[A].fresh and s.books[A].stale_since == 5.0
    assert s.books[B].stale_since == 0.0, "a book already stale keeps when it went stale"
    handle(s, BookResynced(ticker=A), 6.0)
    assert s.books[A].fresh and s.books[A].stale_since is None
    handle(s, BookStale(tickers=(A,), reason="gap"), 7.0)
    assert s.books[A].stale_since == 7.0


def test_a_reconnect_freezes_every_market_and_reads_back() -> None:
    s = state()
    assert handle(s, FeedUp(), 1.0) == [Resync()]
    assert set(s.dirty_markets) == {A, B}


def test_unknown_events_and_tickers_are_ignored() -> None:
    s = state()
    assert handle(s, object(), 1.0) == []
    assert handle(s, BookUpdated(ticker="OTHER", best_bid=1, best_ask=2), 1.0) == []
    assert "OTHER" not in s.books


def test_a_triggered_group_pulls_cools_off_then_resets() -> None:
    s = state(cooloff=60.0)
    s.status_pending = True  # a status poll outstanding: ticks ask for no other
    out = handle(s, GroupTriggered("order_group_updates"), 100.0)
    assert kinds(out) == ["order_group.triggered", "Resync"]
    log = out[0]
    assert isinstance(log, Log) and log.level == "error"
    assert log.fields["reason"] == "order group triggered"
    assert s.pull_reasons[GROUP_PULL] == "order group triggered"
    # A create refused with the group's code while already pulled: no new line, same clock
    # (and no second read while the first is out).
    assert kinds(handle(s, GroupTriggered("create refused"), 110.0)) == []
    assert handle(s, Tick(), 159.0) == []
    assert handle(s, Tick(), 160.0) == [ResetGroup()]
    assert handle(s, Tick(), 161.0) == [], "one reset at a time"
    assert kinds(handle(s, GroupResetDone("ServerError: 503"), 162.0)) == [
        "order_group.reset_failed"]
    assert GROUP_PULL in s.pull_reasons
    assert handle(s, Tick(), 200.0) == []
    assert handle(s, Tick(), 222.0) == [ResetGroup()]
    assert kinds(handle(s, GroupResetDone(), 223.0)) == ["order_group.reset", "quotes.resumed"]
    assert GROUP_PULL not in s.pull_reasons
    assert handle(s, Tick(), 1000.0) == []


def test_no_reset_while_stopping() -> None:
    s = state(cooloff=1.0)
    handle(s, GroupTriggered("order_group_updates"), 0.0)
    s.stopping = True
    s.status_pending = True
    assert handle(s, Tick(), 100.0) == []


_events = st.one_of(
    st.builds(BookUpdated, ticker=st.sampled_from([A, B, "X"]),
              best_bid=st.none() | st.integers(0, 10_000),
              best_ask=st.none() | st.integers(0, 10_000)),
    st.builds(BookResynced, ticker=st.sampled_from([A, B, "X"])),
    st.builds(BookStale, tickers=st.lists(st.sampled_from([A, B, "X"])).map(tuple),
              reason=st.just("gap")),
    st.builds(FeedDown, st.just("closed")),
    st.just(FeedUp()),
    st.builds(GroupTriggered, st.sampled_from(["order_group_updates", "create refused"])),
    st.builds(GroupResetDone, st.none() | st.just("ServerError")),
    st.builds(HaltChanged, st.booleans(), st.just("halt"), st.none() | st.just("EACCES")),
    st.builds(InputsInvalid, st.sampled_from(["bad row", "missing"])),
    st.builds(InputsLoaded, predictions=st.just({}), history=st.builds(_history),
              actuals=st.just({}), version=st.sampled_from(["v1", "v2"])),
    st.builds(PredictionAged, st.just("p.csv"), st.none() | st.floats(0, 200),
              st.sampled_from([0.0, 100.0])),
    st.builds(StatusPolled, st.none() | st.booleans(), st.none() | st.booleans()),
    st.builds(WriteAcked, st.sampled_from([A, B]), st.sampled_from(list(BookSide))),
    st.builds(lambda t, e: WriteFailed(kind="create", ticker=t, side=BookSide.BID,
                                       order_id=None, error=e, at=T0),
              st.sampled_from([A, B, "X"]),
              st.sampled_from([NotFound("gone"), OrderRejected("x", code="market_closed"),
                               OrderRejected("x", code="trading_is_paused"),
                               OrderRejected("x", code="order_group_triggered"),
                               RateLimited("slow"), ServerError("503")])),
    st.builds(Tick, st.none() | st.sampled_from([T0, CLOSED])),
    st.builds(MarketsPulled, st.dictionaries(st.sampled_from([A, B]),
                                             st.sampled_from(["stale", "closed"]))),
    st.builds(EventFetched, st.none() | st.just(NEXT), st.none() | st.just("404")),
    st.builds(ResyncWanted, st.booleans()),
    st.builds(ResyncRead, st.integers(0, 5),
              st.none() | st.just((Position(ticker=A, position=300),))),
    st.builds(ResyncFailed, st.just("ServerError: 503")),
    st.just(FillApplied()),
)


@given(st.lists(st.tuples(_events, st.floats(0, 30)), max_size=60))
def test_no_event_sequence_raises_and_the_pull_matches_the_trip(
    steps: list[tuple[object, float]]
) -> None:
    """Nothing escapes `handle`; the group pull is on exactly while a trip awaits its reset;
    at most one reset is asked for until its outcome is handled."""
    s = state(cooloff=10.0)
    now, outstanding, fetches, reads = 0.0, 0, 0, 0
    for ev, dt in steps:
        now += dt
        if isinstance(ev, GroupResetDone):
            if not outstanding:
                continue  # an outcome only comes back for a reset that was asked for
            outstanding -= 1
        if isinstance(ev, ResyncRead | ResyncFailed):
            if not reads:
                continue  # an outcome only comes back for a read that was asked for
            reads -= 1
        cmds = handle(s, ev, now)
        reads += sum(isinstance(c, Resync) for c in cmds)
        assert reads <= 1 and s.resync_pending == bool(reads), "one read at a time"
        if isinstance(ev, ResyncFailed):
            assert not s.resync_pending and not any(isinstance(c, Resync) for c in cmds)
        if isinstance(ev, ResyncRead):
            assert all(m > ev.started_at for m in s.dirty_markets.values()), "thawed"
        outstanding += sum(isinstance(c, ResetGroup) for c in cmds)
        assert outstanding <= 1
        assert (GROUP_PULL in s.pull_reasons) == (s.group_reset_at is not None)
        for b in s.books.values():
            assert b.fresh == (b.stale_since is None)
        if isinstance(ev, HaltChanged):
            assert ("halt" in s.pull_reasons) == (ev.present or ev.error is not None)
        if isinstance(ev, InputsInvalid | InputsLoaded):
            assert ("inputs" in s.pull_reasons) == isinstance(ev, InputsInvalid)
        assert all(s.pull_reasons.values()), "every pull says why"
        assert sum(isinstance(c, PollStatus) for c in cmds) <= 1
        fetches += sum(isinstance(c, FetchEvent) for c in cmds)
        if isinstance(ev, EventFetched) and fetches:
            fetches -= 1
        assert fetches <= 1 and s.roll_pending == bool(fetches), "one fetch at a time"
        assert set(s.books) == set(s.markets)
        for until, delay in s.cooldown.values():
            assert 0.5 <= delay <= 30.0 and until <= now + delay


def test_the_halt_file_pulls_once_and_its_removal_resumes() -> None:
    s = state()
    assert handle(s, HaltChanged(False, "halt"), 1.0) == []
    out = handle(s, HaltChanged(True, "halt"), 2.0)
    assert kinds(out) == ["engine.halted"] and s.pull_reasons["halt"] == "halt file halt exists"
    assert handle(s, HaltChanged(True, "halt"), 3.0) == [], "logged once, not per tick"
    assert kinds(handle(s, HaltChanged(False, "halt"), 4.0)) == ["quotes.resumed"]
    assert "halt" not in s.pull_reasons
    out = handle(s, HaltChanged(False, "halt", "PermissionError"), 5.0)
    assert kinds(out) == ["halt_file.unreadable", "engine.halted"], "cannot tell: halt"
    assert "halt" in s.pull_reasons


def test_invalid_inputs_pull_and_keep_the_last_good_files() -> None:
    s = state()
    hist = _history()
    good = InputsLoaded(predictions={date(2026, 8, 9): 2.5e6}, history=hist, actuals={},
                        version="v1")
    assert kinds(handle(s, good, 1.0)) == ["inputs.loaded"]
    assert s.prediction_version == "v1" and s.history is hist
    s.prediction = 2.5e6
    assert kinds(handle(s, InputsInvalid("bad row 3"), 2.0)) == ["inputs.invalid"]
    assert s.pull_reasons["inputs"] == "bad row 3" and s.prediction is None
    assert s.prediction_version == "v1", "the last good files stay loaded"
    assert handle(s, InputsInvalid("bad row 3"), 3.0) == [], "same reason: no second line"
    assert kinds(handle(s, InputsInvalid("bad row 4"), 4.0)) == ["inputs.invalid"]
    assert kinds(handle(s, good, 5.0)) == ["quotes.resumed", "inputs.loaded"]
    assert "inputs" not in s.pull_reasons


@pytest.mark.parametrize(("age", "max_age", "pulled", "reason"), [
    (None, 100.0, True, "prediction file p.csv missing"),
    (101.0, 100.0, True, "prediction file older than 100 s"),
    (99.0, 100.0, False, None),
    (1e9, 0.0, False, None),  # no maximum age
])
def test_the_prediction_files_age_pulls_past_its_maximum(
    age: float | None, max_age: float, pulled: bool, reason: str | None
) -> None:
    s = state()
    handle(s, PredictionAged("p.csv", age, max_age), 1.0)
    assert s.pull_reasons.get("prediction_stale") == reason
    assert ("prediction_stale" in s.pull_reasons) == pulled
    if pulled:
        assert kinds(handle(s, PredictionAged("p.csv", 1.0, 100.0), 2.0)) == ["quotes.resumed"]


def failed(err: ExchangeError, *, ticker: str = A, order_id: str | None = "o1",
           at: datetime = T0) -> WriteFailed:
    return WriteFailed(kind="amend", ticker=ticker, side=BookSide.BID, order_id=order_id,
                       error=err, at=at)


@pytest.mark.parametrize(("err", "expect", "trading", "exchange", "market_pulled"), [
    (OrderRejected("paused", code="exchange_paused"),
     ["PollStatus", "order.rejected"], False, False, False),
    (OrderRejected("paused", code="trading_is_paused"),
     ["PollStatus", "order.rejected"], False, True, False),
    (OrderRejected("closed", code="market_closed"),
     ["Resync", "order.rejected"], True, True, True),
    (OrderRejected("inactive", code="market_inactive"),
     ["Resync", "order.rejected"], True, True, True),
    (OrderRejected("cross", code="post_only_cross"), ["order.rejected"], True, True, False),
    (OrderRejected("trip", code="order_group_triggered"),
     ["order_group.triggered", "Resync", "order.rejected"], True, True, False),
    (NotFound("gone"), ["Resync"], True, True, False),
    (Conflict("dup"), ["Resync"], True, True, False),
    (AmbiguousOutcome("timeout"), ["Resync"], True, True, False),
    (RateLimited("429"), ["order.rate_limited"], True, True, False),
    (ServerError("503"), ["order.failed", "Resync"], True, True, False),
])
def test_which_write_failures_pause_pull_a_market_or_read_back(
    err: ExchangeError, expect: list[str], trading: bool, exchange: bool, market_pulled: bool
) -> None:
    s = state()
    assert kinds(handle(s, failed(err), 1.0)) == expect
    assert (s.trading_active, s.exchange_active) == (trading, exchange)
    assert (A in s.market_pulls) == market_pulled and B not in s.market_pulls
    assert s.dirty
    if market_pulled:
        assert kinds(handle(s, failed(err), 2.0)) == ["order.rejected"], "a read is out"
        handle(s, ResyncFailed("ServerError: 503"), 3.0)
        assert handle(s, ResyncWanted(), 4.0) == [Resync(refresh=True)], "kept for the next"
    assert (((A, BookSide.BID) in s.cooldown) == (not isinstance(err, NotFound)))


def test_a_refusal_past_close_time_forgets_the_order_and_pauses_nothing() -> None:
    s = state()
    s.markets[A] = Market(ticker=A, event_ticker="KXTSAW-26AUG09",
                          strike_type=StrikeType.GREATER, floor_strike=2_450_000.0,
                          close_time=T0)
    out = handle(s, failed(OrderRejected("x", code="trading_is_paused"),
                           at=T0 + timedelta(seconds=1)), 1.0)
    assert kinds(out) == ["order.rejected"]
    assert s.trading_active and not s.market_pulls


def test_the_cooldown_doubles_to_its_cap_and_an_ack_clears_it() -> None:
    s = state()
    key = (A, BookSide.BID)
    delays = []
    for i in range(10):
        handle(s, failed(ServerError("503")), float(i))
        delays.append(s.cooldown[key][1])
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0] and delays[-1] == 30.0
    assert s.cooldown[key][0] == 9.0 + 30.0
    handle(s, WriteAcked(A, BookSide.BID), 10.0)
    assert key not in s.cooldown


def test_a_paused_exchange_is_polled_often_until_the_poll_says_it_is_back() -> None:
    s = state()
    assert handle(s, Tick(), 10.0) == [], "polled every 30 s while trading"
    assert handle(s, Tick(), 30.0) == [PollStatus()]
    assert handle(s, Tick(), 61.0) == [], "one poll at a time"
    assert kinds(handle(s, StatusPolled(False, True), 62.0)) == ["exchange.trading_active"]
    assert not s.trading_active and s.exchange_active
    assert handle(s, Tick(), 63.0) == [PollStatus()], "every 2 s while paused"
    assert handle(s, StatusPolled(None), 64.0) == [], "a failed poll changes nothing"
    assert not s.trading_active
    assert handle(s, Tick(), 65.0) == [PollStatus()]
    assert kinds(handle(s, StatusPolled(True, True), 66.0)) == ["exchange.trading_active"]
    assert s.trading_active
    assert handle(s, StatusPolled(True, True), 67.0) == [], "no change, no line"


def test_a_closed_event_pulls_and_fetches_the_next_one_which_replaces_it() -> None:
    s = state()
    s.status_pending = True
    s.valuations = {A: object()}  # type: ignore[dict-item]
    s.market_pulls[A] = "refused"
    assert handle(s, Tick(T0), 1.0) == [], "still open"
    assert handle(s, Tick(CLOSED), 2.0) == [FetchEvent("KXTSAW-26AUG16")]
    assert s.pull_reasons["roll"] == "rolling to KXTSAW-26AUG16"
    assert handle(s, Tick(CLOSED), 3.0) == [], "one fetch at a time"
    out = handle(s, EventFetched(None, "NotFound: not listed yet"), 4.0)
    assert kinds(out) == ["event.roll_failed"] and s.roll_retry_at == 9.0
    assert handle(s, Tick(CLOSED), 8.0) == [], "waits out the retry delay"
    assert handle(s, Tick(CLOSED), 9.0) == [FetchEvent("KXTSAW-26AUG16")]
    handle(s, EventFetched(None, "404"), 10.0)
    assert s.roll_delay == 10.0, "the delay doubles"
    assert handle(s, Tick(CLOSED), 20.0) == [FetchEvent("KXTSAW-26AUG16")]
    out = handle(s, EventFetched(NEXT), 21.0)
    assert out == [Revalue(), out[1], EventChanged((C,)), Resync()]
    assert kinds(out)[1] == "event.rolled"
    assert s.event is NEXT and set(s.markets) == set(s.books) == {C}
    assert s.books[C].stale_since == 21.0 and not s.books[C].fresh
    assert not s.market_pulls and not s.valuations and "roll" not in s.pull_reasons
    assert s.roll_delay == 0.0
    assert handle(s, Tick(CLOSED), 22.0) == [], "the new week is open"


def test_an_event_named_in_the_config_is_never_rolled() -> None:
    s = state()
    s.event_fixed = True
    s.status_pending = True
    assert handle(s, Tick(CLOSED), 1.0) == []
    assert "roll" not in s.pull_reasons


def test_a_market_the_decision_pulls_is_logged_once_per_reason_and_on_resuming() -> None:
    s = state()
    assert kinds(handle(s, MarketsPulled({A: "no fresh data for 30 s"}), 1.0)) == [
        "market.pulled"]
    assert handle(s, MarketsPulled({A: "no fresh data for 30 s"}), 2.0) == []
    assert kinds(handle(s, MarketsPulled({A: "closed", B: "closed"}), 3.0)) == [
        "market.pulled", "market.pulled"]
    assert kinds(handle(s, MarketsPulled({}), 4.0)) == ["market.resumed", "market.resumed"]
    assert handle(s, MarketsPulled({}), 5.0) == []


VALUES = {A: Valuation(ticker=A, outcome=Outcome.YES, true_value=Fraction(3, 5))}


@pytest.mark.parametrize(("failure", "key", "logged"), [
    (ValuationFailed("prediction", "no prediction for 2026-08-09"), "prediction",
     "prediction.missing"),
    (ValuationFailed("hook", "hook boom raised", 2.4), "hook", "hook.failed"),
    (ValuationFailed("valuation", "ValueError: nan", 2.4), "valuation", "valuation.failed"),
])
def test_a_valuation_failure_pulls_once_per_reason_and_a_good_one_resumes(
        failure: ValuationFailed, key: str, logged: str) -> None:
    s = state()
    assert kinds(handle(s, Valued(VALUES, 2.4), 1.0)) == []
    assert s.valuations == VALUES and s.prediction == 2.4 and s.dirty
    s.dirty = False
    assert kinds(handle(s, failure, 2.0)) == [logged]
    assert s.pull_reasons == {key: failure.reason} and s.valuations == {} and s.dirty
    assert handle(s, failure, 3.0) == [], "logged once, not per tick"
    out = handle(s, ValuationFailed(failure.kind, "another reason", failure.prediction), 4.0)
    assert kinds(out) == [logged], "a new reason is logged"
    assert kinds(handle(s, Valued(VALUES, 2.5), 5.0)) == ["quotes.resumed"]
    assert s.pull_reasons == {} and s.valuations == VALUES and s.prediction == 2.5


def test_a_hook_failure_after_a_missing_prediction_swaps_the_pull() -> None:
    s = state()
    handle(s, ValuationFailed("prediction", "none for this week"), 1.0)
    out = handle(s, ValuationFailed("hook", "hook raised", 2.4), 2.0)
    assert kinds(out) == ["quotes.resumed", "hook.failed"]
    assert s.pull_reasons == {"hook": "hook raised"} and s.prediction == 2.4


def test_nothing_to_value_clears_the_values_and_touches_no_pull() -> None:
    s = state()
    handle(s, Valued(VALUES, 2.4), 1.0)
    handle(s, ValuationFailed("hook", "hook raised", 2.4), 2.0)
    handle(s, Valued(VALUES, 2.4), 3.0)
    s.dirty = False
    assert handle(s, Unvalued(), 4.0) == []
    assert s.valuations == {} and s.dirty and s.pull_reasons == {}
    s.dirty = False
    assert handle(s, Unvalued(), 5.0) == [] and not s.dirty, "no change, no decision due"


def test_one_read_at_a_time_and_its_outcome_thaws_what_it_began_after() -> None:
    s = state()
    assert handle(s, ResyncWanted(), 1.0) == [Resync()]
    assert handle(s, ResyncWanted(refresh=True), 2.0) == [], "one read is out"
    s.dirty_markets.update({A: 5, B: 9})
    # The read began at mark 7: A froze before it (thawed), B after (read again).
    assert handle(s, ResyncRead(7), 3.0) == [Resync(refresh=True)], "the refresh was kept"
    assert s.dirty_markets == {B: 9} and s.dirty and s.resync_pending
    assert handle(s, ResyncRead(9), 4.0) == []
    assert s.dirty_markets == {} and not s.resync_pending


def test_a_read_takes_its_positions_unless_a_fill_moved_one_since_it_began() -> None:
    s = state()
    handle(s, ResyncWanted(), 1.0)
    handle(s, ResyncRead(0, (Position(ticker=A, position=300),)), 2.0)
    assert (s.mirror.position(A), s.mirror.position(B)) == (300, 0)
    handle(s, ResyncWanted(), 3.0)
    handle(s, FillApplied(), 4.0)
    handle(s, ResyncRead(0, (Position(ticker=A, position=100),)), 5.0)
    assert s.mirror.position(A) == 300, "the websocket's fill is newer than the read"


def test_a_failed_read_clears_and_logs_and_none_is_asked_before_there_is_an_event() -> None:
    s = state()
    handle(s, ResyncWanted(), 1.0)
    assert kinds(handle(s, ResyncFailed("ServerError: 503"), 2.0)) == ["resync.failed"]
    assert not s.resync_pending
    assert handle(s, ResyncWanted(), 3.0) == [Resync()]
    empty = State(mirror=OrderMirror())
    assert handle(empty, ResyncWanted(), 1.0) == [] and not empty.resync_pending


def test_a_read_reads_the_event_again_while_a_market_is_not_active() -> None:
    s = state()
    s.markets[A] = replace(s.markets[A], status="initialized")
    assert handle(s, ResyncWanted(), 1.0) == [Resync(refresh=True)]
