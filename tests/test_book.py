"""Tests of tsad.book: snapshot/delta sequences → best prices, staleness and resync."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from tsad.core.book import (
    Book,
    BookResynced,
    Books,
    BookStale,
    BookUpdated,
    Delta,
    SeqAck,
    Snapshot,
)
from tsad.core.market import Outcome
from tsad.errors import ProtocolError


T = "KXTSAW-26NOV29-A2.30"
U = "KXTSAW-26NOV29-A2.35"


def snap(seq, ticker=T, yes=((4400, 1000),), no=((5600, 500),), sid=1):
    return Snapshot(sid=sid, seq=seq, ticker=ticker, yes=tuple(yes), no=tuple(no))


def delta(seq, side, price, d, ticker=T, sid=1):
    return Delta(sid=sid, seq=seq, ticker=ticker, side=Outcome(side), price=price, delta=d)


@pytest.mark.parametrize(
    ("yes_prices", "msgs", "bid", "ask"),
    [
        (True, [snap(1)], 4400, 5600),
        (False, [snap(1)], 4400, 4400),  # a NO bid at 0.56 is a YES ask at 0.44
        (True, [snap(1, yes=(), no=())], None, None),
        (True, [snap(1), delta(2, "yes", 4500, 100)], 4500, 5600),
        (True, [snap(1), delta(2, "yes", 4400, -1000)], None, 5600),
        (True, [snap(1), delta(2, "no", 5500, 300)], 4400, 5500),
        (False, [snap(1), delta(2, "no", 5700, 300)], 4400, 4300),
        (True, [snap(1), delta(2, "no", 5600, -200)], 4400, 5600),
        (True, [snap(1, yes=((4400, 1000), (4300, 5))), delta(2, "yes", 4400, -1000)], 4300, 5600),
    ],
    ids=[
        "snapshot-yes-prices", "snapshot-no-prices", "empty", "new-best-bid",
        "level-removed", "new-best-ask", "no-price-delta", "partial-ask-cut", "next-level",
    ],
)
def test_best_prices(yes_prices, msgs, bid, ask):
    """Snapshot + deltas yield the documented best YES bid and ask."""
    books = Books([T], yes_prices=yes_prices)
    for m in msgs:
        books.receive(m)
    assert not books.is_stale(T)
    assert books.book(T).best_bid() == bid
    assert books.book(T).best_ask() == ask
    assert books.best(T) == (bid, ask)


@pytest.mark.parametrize(
    ("msgs", "reason_part"),
    [
        ([], "awaiting snapshot"),
        ([delta(1, "yes", 4400, 5)], "delta before snapshot"),
        ([snap(1), delta(3, "yes", 4400, 5)], "seq gap"),
        ([snap(1), delta(2, "yes", 4400, -1001)], "negative"),
        ([snap(1, yes=((4400, -1),))], "negative"),
        ([snap(1, yes=((10001, 1),))], "outside"),
    ],
    ids=["no-snapshot", "delta-first", "gap", "negative-level", "negative-snapshot", "bad-price"],
)
def test_stale(msgs, reason_part):
    """A book is stale (and refuses best prices) before a snapshot, after a gap or bad level."""
    books = Books([T])
    for m in msgs:
        books.receive(m)
    assert books.is_stale(T)
    assert T in books.stale()
    assert reason_part in (books.book(T).stale_reason or "")
    assert books.best(T) is None
    with pytest.raises(ProtocolError):
        books.book(T).best_bid()
    with pytest.raises(ProtocolError):
        books.book(T).best_ask()


def top(ticker, bids, asks):
    """The `BookUpdated` of a book whose best levels are these (best first)."""
    return BookUpdated(ticker=ticker, best_bid=bids[0][0] if bids else None,
                       best_ask=asks[0][0] if asks else None, bids=tuple(bids), asks=tuple(asks))


def test_events_of_a_sequence():
    """Messages produce Resynced/Updated/Stale events in order; a change below the top
    three levels of a side is silent, one within them is an update with the levels."""
    books = Books([T, U], yes_prices=True)
    assert books.receive(snap(1, yes=((4400, 1000), (4300, 5), (4200, 5), (4100, 5)))) == [
        BookResynced(ticker=T),
        top(T, [(4400, 1000), (4300, 5), (4200, 5)], [(5600, 500)]),
    ]
    assert books.receive(delta(2, "yes", 4000, 5)) == []  # a fifth level: silent
    assert books.receive(SeqAck(sid=1, seq=3)) == []
    books = Books([T, U])
    assert books.receive(snap(1)) == [BookResynced(ticker=T), top(T, [(4400, 1000)], [(5600, 500)])]
    assert books.receive(delta(2, "yes", 4300, 5)) == [
        top(T, [(4400, 1000), (4300, 5)], [(5600, 500)])]  # our order may hide the best
    assert books.receive(snap(3, ticker=U, yes=(), no=())) == [
        BookResynced(ticker=U), top(U, [], [])
    ]
    evs = books.receive(delta(5, "yes", 4500, 5))
    assert evs == [BookStale(tickers=(T, U), reason="seq gap on sid 1: 3 then 5")]
    assert books.needs_resync() == {1}
    assert books.stale_of_sid(1) == {T, U}


def test_gap_then_resync():
    """After a gap, deltas of stale books are dropped and snapshots make each fresh again."""
    books = Books([T, U])
    books.receive(snap(1))
    books.receive(snap(2, ticker=U))
    books.receive(delta(4, "yes", 4500, 5))
    assert books.receive(delta(5, "yes", 4600, 5, ticker=U)) == []  # stale: dropped
    assert books.receive(SeqAck(sid=1, seq=6)) == []
    evs = books.receive(snap(7, yes=((4700, 100),)))
    assert evs == [BookResynced(ticker=T), top(T, [(4700, 100)], [(5600, 500)])]
    assert books.needs_resync() == {1}
    assert books.is_stale(U)
    books.receive(delta(8, "yes", 4800, 1))
    assert books.best(T) == (4800, 5600)
    books.receive(snap(9, ticker=U))
    assert books.needs_resync() == set()
    assert books.stale() == frozenset()


def test_snapshot_with_new_seq_baseline_keeps_other_books_honest():
    """A snapshot that jumps seq refreshes its own book but stales the sid's others."""
    books = Books([T, U])
    books.receive(snap(1))
    books.receive(snap(2, ticker=U))
    evs = books.receive(snap(10))
    assert BookStale(tickers=(U,), reason="seq gap on sid 1: 2 then 10") in evs
    assert not books.is_stale(T)
    assert books.is_stale(U)


def test_mark_all_stale_and_new_sid():
    """Losing the connection stales every book; a new sid's snapshot starts a new baseline."""
    books = Books([T, U])
    books.receive(snap(1))
    assert books.mark_all_stale("disconnected") == [BookStale(tickers=(T,), reason="disconnected")]
    assert books.stale() == {T, U}
    assert books.needs_resync() == set()
    books.receive(snap(1, sid=7))
    assert not books.is_stale(T)
    assert books.sid_tickers(7) == {T}


def test_forget_sid_and_set_tickers():
    """Unsubscribing stales the sid's books; dropping a ticker removes its book."""
    books = Books([T, U])
    books.receive(snap(1))
    assert books.forget_sid(1) == [BookStale(tickers=(T,), reason="unsubscribed")]
    books.set_tickers([U])
    assert books.tickers() == [U]
    with pytest.raises(KeyError):
        books.book(T)


@given(
    st.lists(
        st.tuples(st.sampled_from(["yes", "no"]), st.integers(1, 99), st.integers(1, 500)),
        max_size=30,
    )
)
def test_adding_then_removing_restores_snapshot(changes):
    """Applying deltas and then their opposites returns the book to its snapshot."""
    book = Book(T)
    book.apply_snapshot([(4400, 1000)], [(5600, 500)])
    before = (book.bids(), book.asks())
    for side, cents, n in changes:
        book.apply_delta(Outcome(side), cents * 100, n)
    for side, cents, n in reversed(changes):
        book.apply_delta(Outcome(side), cents * 100, -n)
    assert (book.bids(), book.asks()) == before
    assert all(c > 0 for _, c in book.bids() + book.asks())


def test_undecodable_message_stales_its_book_and_keeps_seq():
    """A book message that did not decode stales its market, asks for a resync, counts its seq."""
    books = Books([T, U])
    books.receive(snap(1, T))
    books.receive(snap(2, U))
    events = books.corrupt(1, T, 3, "bad price")
    assert events == [BookStale(tickers=(T,), reason="undecodable message on sid 1: bad price")]
    assert books.needs_resync() == {1}
    assert books.best(U) == (4400, 5600)
    assert books.receive(delta(4, Outcome.YES, 4500, 100, ticker=U)) == [
        top(U, [(4500, 100), (4400, 1000)], [(5600, 500)])]  # seq 4 follows 3: no gap
    assert books.receive(snap(5, T)) == [BookResynced(ticker=T),
                                         top(T, [(4400, 1000)], [(5600, 500)])]
    assert books.needs_resync() == set()


def test_undecodable_message_of_unknown_market_stales_the_whole_sid():
    """Without a readable market, every book of the sid goes stale."""
    books = Books([T, U])
    books.receive(snap(1, T))
    books.receive(snap(2, U))
    assert books.corrupt(1, None, None, "junk")[0].tickers == (T, U)
