"""Tests of the emulator's pure matching engine and synthetic week."""

from __future__ import annotations

import contextlib
import itertools
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings, strategies as st

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, OrderStatus
from tsad.errors import Conflict, NotFound, OrderRejected
from tsad.sim.matching import MatchingEngine
from tsad.sim.records import taker_fee
from tsad.sim.week import (
    STRIKES,
    build_event,
    event_ticker_for,
    fair_values,
    seed_book,
    week_sunday,
)


NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
T = "KXTSAW-26NOV29-A2.40"
BID, ASK = BookSide.BID, BookSide.ASK
START = 1_000 * 1_000_000


def engine(*users: str) -> MatchingEngine:
    counter = itertools.count(1)
    e = MatchingEngine(new_id=lambda: f"id{next(counter)}")
    e.add_market(T)
    for u in users or ("a", "b", "c"):
        e.add_account(u, f"uid-{u}", START)
    return e


def place(e: MatchingEngine, user: str, side: BookSide, cents: int, n: int, **kw):
    return e.place(user, ticker=T, side=side, price=cents * 100, count=n * 100,
                   client_order_id=kw.pop("coid", ""), now=NOW, **kw)


@pytest.mark.parametrize(
    ("count", "price", "fee"),
    [
        (100, 5000, 17500),      # 1 contract at 0.50: 0.0175
        (300, 8800, 22200),      # 3 at 0.88: 0.022176 → 0.0222
        (100, 100, 700),         # 1 at 0.01: 0.000693 → 0.0007
        (1, 5000, 200),          # 0.01 contract: $0.000175 rounds up to $0.0002
        (10_000, 5000, 1_750_000),  # 100 at 0.50: 1.75
    ],
    ids=["one-at-half", "three-at-88", "one-at-1c", "fractional", "hundred"],
)
def test_taker_fee_rounds_up_to_hundredth_cent(count, price, fee):
    """The taker fee is 0.07·C·P·(1−P) rounded up to $0.0001."""
    assert taker_fee(count, price) == fee


@pytest.mark.parametrize(
    ("resting", "taker", "expected_fills"),
    [
        ([("a", ASK, 50, 5), ("b", ASK, 50, 5)], (BID, 50, 5), [("a", 5)]),
        ([("a", ASK, 51, 5), ("b", ASK, 50, 5)], (BID, 51, 5), [("b", 5)]),
        ([("a", ASK, 50, 2), ("b", ASK, 50, 5)], (BID, 50, 4), [("a", 2), ("b", 2)]),
        ([("a", BID, 50, 5), ("b", BID, 49, 5)], (ASK, 49, 7), [("a", 5), ("b", 2)]),
        ([("a", ASK, 52, 5)], (BID, 51, 5), []),
    ],
    ids=["time-priority", "price-priority", "walks-queue", "ask-walks-bids", "no-cross"],
)
def test_price_time_priority(resting, taker, expected_fills):
    """Incoming orders fill the best price first, then the oldest order at that price."""
    e = engine()
    for user, side, cents, n in resting:
        place(e, user, side, cents, n)
    side, cents, n = taker
    place(e, "c", side, cents, n)
    makers = [(f.user, f.count // 100) for f in e.fills if not f.is_taker]
    assert makers == expected_fills


@pytest.mark.parametrize(
    ("tif", "status", "remaining"),
    [("good_till_canceled", OrderStatus.RESTING, 300), ("immediate_or_cancel",
                                                        OrderStatus.CANCELED, 0)],
    ids=["gtc-rests", "ioc-cancels"],
)
def test_partial_fill_rest_or_cancel(tif, status, remaining):
    """A partly filled order rests its remainder (GTC) or cancels it (IOC)."""
    e = engine()
    place(e, "a", ASK, 50, 2)
    o = place(e, "b", BID, 50, 5, time_in_force=tif)
    assert (o.filled, o.remaining, o.status) == (200, remaining, status)
    bids, _ = e.levels(T)
    assert bids == ([(5000, 300)] if remaining else [])


@pytest.mark.parametrize(
    ("side", "cents", "rejected"),
    [(BID, 50, True), (BID, 49, False), (ASK, 50, False), (ASK, 51, False)],
    ids=["bid-at-ask", "bid-below", "ask-at-ask", "ask-above"],
)
def test_post_only(side, cents, rejected):
    """A post-only order that would cross is rejected with `invalid order`/`post only cross`."""
    e = engine()
    place(e, "a", ASK, 50, 5)
    if rejected:
        with pytest.raises(OrderRejected, match="post only cross") as info:
            place(e, "b", side, cents, 1, post_only=True)
        assert info.value.code == "invalid order"
        assert [o.user for o in e.orders()] == ["a"]
    else:
        o = place(e, "b", side, cents, 1, post_only=True)
        assert o.status is OrderStatus.RESTING


@pytest.mark.parametrize(
    ("stp", "taker_filled", "own_status", "taker_status"),
    [
        ("taker_at_cross", 2, OrderStatus.RESTING, OrderStatus.CANCELED),
        ("maker", 5, OrderStatus.CANCELED, OrderStatus.RESTING),
    ],
    ids=["taker-at-cross", "maker"],
)
def test_self_trade_prevention(stp, taker_filled, own_status, taker_status):
    """STP: taker_at_cross stops at the own order (earlier fills stand); maker cancels it."""
    e = engine()
    place(e, "b", ASK, 49, 2)           # someone else, better price: fills first
    own = place(e, "a", ASK, 50, 3)     # our own resting ask
    place(e, "c", ASK, 50, 3)           # someone else behind us
    taker = place(e, "a", BID, 50, 6, self_trade_prevention_type=stp)
    assert taker.filled == taker_filled * 100
    assert e.order("a", own.order_id).status is own_status
    assert taker.status is taker_status
    assert all(f.user != "a" or f.is_taker for f in e.fills)


def test_no_buy_is_an_ask_paying_the_complement():
    """An ask at p costs its owner 1 − p per contract (a NO buy at 1 − p)."""
    e = engine()
    place(e, "a", BID, 30, 10)
    place(e, "b", ASK, 30, 10)
    a, b = e.account("a"), e.account("b")
    fee = taker_fee(1000, 3000)
    assert START - a.balance == 10 * 30 * 10_000
    assert START - b.balance == 10 * 70 * 10_000 + fee
    assert a.positions[T].position == 1000
    assert b.positions[T].position == -1000
    assert b.positions[T].cost == 7_000_000


@pytest.mark.parametrize(
    ("trades", "balance", "position", "realized"),
    [
        # buy 10 YES at 0.40 (maker), sell 10 YES at 0.55 (maker): +1.50 realized
        ([(BID, 40, 10), (ASK, 55, 10)], START + 1_500_000, 0, 1_500_000),
        # buy 10 at 0.40, sell 4 at 0.30: realized −0.40, 6 left costing 2.40
        ([(BID, 40, 10), (ASK, 30, 4)], START - 4_000_000 + 1_200_000, 600, -400_000),
        # sell 5 YES (= buy 5 NO at 0.80), then buy 5 YES at 0.10: +0.50
        ([(ASK, 20, 5), (BID, 10, 5)], START + 500_000, 0, 500_000),
        # buy 5 at 0.50, sell 8 at 0.60: close 5 (+0.50), open 3 NO at 0.40
        # (pays 2.50, then 8 × 0.40 = 3.20, and gets 5 × $1 back)
        ([(BID, 50, 5), (ASK, 60, 8)], START - 700_000, -300, 500_000),
    ],
    ids=["round-trip-profit", "partial-close-loss", "short-then-cover", "flip"],
)
def test_positions_and_balances_exact(trades, balance, position, realized):
    """Netting returns $1 per YES/NO pair; maker cash, positions and PnL are exact."""
    e = engine()
    for side, cents, n in trades:
        place(e, "a", side, cents, n)                        # maker: no fee
        place(e, "b", BID if side is ASK else ASK, cents, n)  # taker
    ps = e.account("a").positions[T]
    assert e.account("a").balance == balance
    assert ps.position == position
    assert ps.realized == realized
    assert ps.fees == 0


@pytest.mark.parametrize(
    ("value", "a_gain", "b_gain"),
    [(PRICE_ONE, 10_000_000, 0), (0, 0, 10_000_000)],
    ids=["yes", "no"],
)
def test_settlement_pays_holders(value, a_gain, b_gain):
    """Settlement pays $1 per YES contract on yes, $1 per NO contract on no."""
    e = engine()
    place(e, "a", BID, 40, 10)
    place(e, "b", ASK, 40, 10)
    place(e, "c", BID, 10, 1)
    before = e.account("a").balance, e.account("b").balance
    e.settle(T, value, now=NOW)
    assert e.account("a").balance - before[0] == a_gain
    assert e.account("b").balance - before[1] == b_gain
    assert [o.status for o in e.orders("c")] == [OrderStatus.CANCELED]


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda e: place(e, "a", BID, 0, 1), OrderRejected),
        (lambda e: e.place("a", ticker=T, side=BID, price=4050, count=100, client_order_id="",
                           now=NOW), OrderRejected),
        (lambda e: place(e, "a", BID, 40, 0), OrderRejected),
        (lambda e: place(e, "a", BID, 40, 1, time_in_force="gtt"), OrderRejected),
        (lambda e: place(e, "a", BID, 40, 3000), OrderRejected),
        (lambda e: e.place("a", ticker="NOPE", side=BID, price=4000, count=100,
                           client_order_id="", now=NOW), NotFound),
        (lambda e: [place(e, "a", BID, 40, 1, coid="x"), place(e, "a", BID, 41, 1, coid="x")],
         Conflict),
        (lambda e: e.cancel("a", "missing", now=NOW), NotFound),
    ],
    ids=["price-zero", "off-grid", "zero-count", "bad-tif", "no-balance", "unknown-market",
         "duplicate-client-id", "unknown-order"],
)
def test_rejections(action, error):
    """Invalid orders are refused with the matching error class."""
    with pytest.raises(error):
        action(engine())


def test_cancel_twice_is_not_found():
    """Cancelling an order twice answers NotFound the second time."""
    e = engine()
    o = place(e, "a", BID, 40, 3)
    _, reduced = e.cancel("a", o.order_id, now=NOW)
    assert reduced == 300
    with pytest.raises(NotFound):
        e.cancel("a", o.order_id, now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "remaining", "status"),
    [({"reduce_by": 100}, 200, OrderStatus.RESTING), ({"reduce_to": 100}, 100,
                                                     OrderStatus.RESTING),
     ({"reduce_to": 0}, 0, OrderStatus.CANCELED)],
    ids=["by", "to", "to-zero-cancels"],
)
def test_decrease(kwargs, remaining, status):
    """Decrease reduces the remaining count; to zero cancels."""
    e = engine()
    o = place(e, "a", BID, 40, 3)
    o = e.decrease("a", o.order_id, now=NOW, **kwargs)
    assert (o.remaining, o.status) == (remaining, status)


def test_amend_size_down_keeps_priority_and_price_change_requeues():
    """A same-price size-down keeps time priority; a price move re-queues (and may fill)."""
    e = engine()
    first = place(e, "a", BID, 40, 5)
    place(e, "b", BID, 40, 5)
    e.amend("a", first.order_id, ticker=T, side=BID, price=4000, count=300, now=NOW)
    place(e, "c", ASK, 40, 1)
    assert e.fills[-1].user == "a"
    place(e, "c", ASK, 45, 2)
    o = e.amend("b", e.orders("b")[0].order_id, ticker=T, side=BID, price=4500, count=500,
                now=NOW)
    assert (o.filled, o.remaining, o.initial) == (200, 300, 500)


@settings(max_examples=60, deadline=None)
@given(st.lists(
    st.tuples(st.sampled_from("abc"), st.sampled_from([BID, ASK]), st.integers(1, 99),
              st.integers(1, 500)),
    max_size=40,
))
def test_money_is_conserved(orders):
    """Cash + fees + $1 per outstanding YES/NO pair is constant, whatever trades."""
    e = engine()
    for user, side, cents, n in orders:
        with contextlib.suppress(OrderRejected):
            e.place(user, ticker=T, side=side, price=cents * 100, count=n, client_order_id="",
                    now=NOW)
    accts = e.accounts()
    cash = sum(a.balance for a in accts)
    fees = sum(ps.fees for a in accts for ps in a.positions.values())
    pairs = sum(max(ps.position, 0) for a in accts for ps in a.positions.values())
    shorts = sum(max(-ps.position, 0) for a in accts for ps in a.positions.values())
    assert pairs == shorts
    assert cash + fees + pairs * PRICE_ONE == 3 * START


@pytest.mark.parametrize(
    ("now", "event"),
    [
        (datetime(2026, 11, 25, 15, tzinfo=UTC), "KXTSAW-26NOV29"),
        (datetime(2026, 11, 30, 4, 30, tzinfo=UTC), "KXTSAW-26NOV29"),   # Sun 23:30 ET
        (datetime(2026, 11, 30, 5, 30, tzinfo=UTC), "KXTSAW-26DEC06"),   # Mon 00:30 ET
        (datetime(2026, 8, 24, 3, 0, tzinfo=UTC), "KXTSAW-26AUG23"),     # Sun 23:00 EDT
    ],
    ids=["midweek", "sunday-night-et", "monday-et", "edt-sunday"],
)
def test_week_event_ticker(now, event):
    """The event is the Sunday-ending Mon–Sun week of `now` in America/New_York."""
    assert event_ticker_for(week_sunday(now)) == event


def test_week_markets_ladder_and_times():
    """23 markets A1.80…A2.90, strike greater, open Mon 10:00 ET, close Sun 23:59 ET."""
    ev = build_event(datetime(2026, 11, 25, 15, tzinfo=UTC))
    tickers = [m.ticker for m in ev.markets]
    assert len(tickers) == 23
    assert tickers[0] == "KXTSAW-26NOV29-A1.80"
    assert tickers[-1] == "KXTSAW-26NOV29-A2.90"
    assert [m.floor_strike for m in ev.markets] == [float(k) for k in STRIKES]
    m = ev.markets[0]
    assert m.open_time == datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert m.close_time == datetime(2026, 11, 30, 4, 59, tzinfo=UTC)


def test_fair_values_decrease_and_seed_book_does_not_cross():
    """YES fair values fall with the strike, and seeded books are uncrossed on the cent grid."""
    fair = fair_values(2_400_000)
    values = [fair[k] for k in STRIKES]
    assert values == sorted(values, reverse=True)
    rng = random.Random(0)
    for k in STRIKES:
        book = seed_book(fair[k], rng)
        bids = [o.price for o in book if o.is_bid]
        asks = [o.price for o in book if not o.is_bid]
        assert all(p % 100 == 0 and 100 <= p <= 9900 for p in bids + asks)
        assert not bids or not asks or max(bids) < min(asks)
