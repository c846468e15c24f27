"""Tests of the pre-trade risk controls, including the event's worst-case loss."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from tsad.core.market import Market, Outcome, StrikeType
from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Position
from tsad.core.quoting import Quote
from tsad.core.reconcile import LiveOrder
from tsad.core.risk import (
    RiskLimits,
    check_quotes,
    event_worst_loss,
    max_event_loss,
    max_order_size,
    max_position,
    price_band,
)


EVENT = "KXTSAW-26NOV29"
STRIKES = [2_400_000, 2_450_000, 2_500_000]
MARKETS = [
    Market(ticker=f"{EVENT}-A{k / 1e6:.2f}", event_ticker=EVENT, strike_type=StrikeType.GREATER,
           floor_strike=float(k))
    for k in STRIKES
]
T0, T1, T2 = (m.ticker for m in MARKETS)
BIG = 10**15
LIMITS = RiskLimits(max_order_size=5000, max_position=10_000, max_event_loss=BIG)


def quote(ticker: str, side: BookSide, price: int, count: int = 1000) -> Quote:
    outcome = Outcome.YES if side is BookSide.BID else Outcome.NO
    return Quote(ticker=ticker, outcome=outcome, side=side, price=price, count=count,
                 true_value=Fraction(1, 2))


def live(ticker: str, side: BookSide, price: int, remaining: int, oid: str = "o") -> LiveOrder:
    return LiveOrder(order_id=oid, client_order_id="c", ticker=ticker, side=side, price=price,
                     remaining=remaining)


@pytest.mark.parametrize(
    ("q", "control"),
    [
        pytest.param(quote(T0, BookSide.BID, 50), "price_band", id="below-1c"),
        pytest.param(quote(T0, BookSide.ASK, 9950), "price_band", id="above-99c"),
        pytest.param(quote(T0, BookSide.BID, 100), None, id="at-1c-ok"),
        pytest.param(quote(T0, BookSide.BID, 5000, 5001), "max_order_size", id="too-big"),
        pytest.param(quote(T0, BookSide.BID, 5000, 5000), None, id="at-max-size-ok"),
        pytest.param(quote(T0, BookSide.BID, 5000, 0), "max_order_size", id="zero-size"),
    ],
)
def test_per_quote_controls(q, control):
    """Price band and order size refuse a quote under the control's name."""
    approved, violations = check_quotes([q], {}, [], LIMITS, markets=MARKETS)
    if control is None:
        assert approved == [q] and violations == []
    else:
        assert approved == [] and [v.control for v in violations] == [control]
        assert violations[0].ticker == T0


@pytest.mark.parametrize(
    ("side", "position", "ok"),
    [
        pytest.param(BookSide.BID, 9000, True, id="bid-reaches-limit"),
        pytest.param(BookSide.BID, 9001, False, id="bid-over-limit"),
        pytest.param(BookSide.ASK, -9001, False, id="ask-over-no-limit"),
        pytest.param(BookSide.ASK, 10_000, True, id="ask-reduces-long-yes"),
    ],
)
def test_max_position_counts_quote_as_filled(side, position, ok):
    """max_position refuses a quote whose fill would leave more than the limit on a leg."""
    v = max_position(quote(T0, side, 5000, 1000), position, LIMITS)
    assert (v is None) is ok


def test_named_controls_return_none_when_fine():
    """Each control is a plain function returning None or a Violation."""
    q = quote(T0, BookSide.BID, 5000)
    assert price_band(q, LIMITS) is None
    assert max_order_size(q, LIMITS) is None


def test_halted_refuses_everything():
    """While halted no quote passes, with one event-wide violation."""
    limits = RiskLimits(max_order_size=5000, max_position=10_000, max_event_loss=BIG,
                        halted=True)
    approved, violations = check_quotes(
        [quote(T0, BookSide.BID, 5000), quote(T1, BookSide.ASK, 5000)], {}, [], limits,
        markets=MARKETS,
    )
    assert approved == [] and [(v.control, v.ticker) for v in violations] == [("halted", None)]


# Worst cases by hand: money units are count × price units; 1000 count = 10 contracts.
@pytest.mark.parametrize(
    ("quotes", "positions", "resting", "loss"),
    [
        pytest.param([quote(T0, BookSide.BID, 4000)], {}, [], 1000 * 4000, id="one-bid"),
        pytest.param([quote(T0, BookSide.ASK, 4000)], {}, [], 1000 * 6000, id="one-ask"),
        # Bid YES on 2.40 and buy NO on 2.50: every outcome pays one of them (+$20 or more).
        pytest.param([quote(T0, BookSide.BID, 4000), quote(T2, BookSide.ASK, 6000)], {}, [], 0,
                     id="yes-low-no-high-hedged"),
        # NO on 2.40 and YES on 2.50 lose together when 2.40 < X ≤ 2.50.
        pytest.param([quote(T0, BookSide.ASK, 6000), quote(T2, BookSide.BID, 4000)], {}, [],
                     1000 * 4000 + 1000 * 4000, id="no-low-yes-high-both-lose"),
        pytest.param([], {T1: Position(ticker=T1, position=1000, exposure=1000 * 3000)}, [],
                     1000 * 3000, id="long-yes-loses-its-cost"),
        pytest.param([], {T1: Position(ticker=T1, position=-1000)}, [], 0,
                     id="position-without-exposure-never-loses"),
        pytest.param([], {}, [live(T1, BookSide.BID, 2000, 500)], 500 * 2000, id="resting-counts"),
        pytest.param([quote(T1, BookSide.BID, 3000)], {}, [live(T1, BookSide.BID, 2000, 500)],
                     1000 * 3000, id="quote-supersedes-its-resting-order"),
    ],
)
def test_event_worst_loss(quotes, positions, resting, loss):
    """The worst case over every settlement interval counts everything as filled."""
    assert event_worst_loss(quotes, positions, resting, MARKETS) == loss


def test_event_loss_drops_biggest_contributor_first():
    """Over the limit, the quote losing most in the worst scenario is dropped first."""
    quotes = [quote(T0, BookSide.BID, 2000), quote(T1, BookSide.BID, 6000),
              quote(T2, BookSide.BID, 3000)]
    limits = RiskLimits(max_order_size=5000, max_position=10_000, max_event_loss=1000 * 4000)
    kept, violations = max_event_loss(quotes, {}, [], MARKETS, limits)
    assert [q.ticker for q in kept] == [T0]
    assert [(v.control, v.ticker) for v in violations] == [
        ("max_event_loss", T1), ("max_event_loss", T2),
    ]
    assert event_worst_loss(kept, {}, [], MARKETS) <= limits.max_event_loss


def test_event_loss_positions_alone_over_limit():
    """When positions alone exceed the limit every losing quote goes and the event is named."""
    positions = {T0: Position(ticker=T0, position=5000, exposure=5000 * 9000)}
    limits = RiskLimits(max_order_size=5000, max_position=10_000, max_event_loss=1000)
    kept, violations = check_quotes(
        [quote(T0, BookSide.BID, 5000), quote(T2, BookSide.ASK, 9000)],
        positions, [], limits, markets=MARKETS,
    )
    # The NO leg on 2.50 pays when X ≤ 2.50, which includes the worst case (X ≤ 2.40).
    assert [q.ticker for q in kept] == [T2]
    assert violations[-1].ticker is None and violations[-1].control == "max_event_loss"


def test_unknown_strike_counts_its_worst_leg():
    """A market without a strike is charged its worse outcome in every scenario."""
    odd = Market(ticker="X-1-B", event_ticker="X-1", strike_type=StrikeType.BETWEEN)
    assert event_worst_loss([quote("X-1-B", BookSide.BID, 3000)], {}, [], [odd]) == 1000 * 3000


@pytest.mark.parametrize(
    ("strike_type", "floor", "cap", "side", "loss"),
    [
        pytest.param(StrikeType.LESS, None, 2_450_000.0, BookSide.BID, 1000 * 4000, id="less"),
        pytest.param(StrikeType.BETWEEN, 2_400_000.0, 2_450_000.0, BookSide.ASK, 1000 * 6000,
                     id="between"),
        pytest.param(StrikeType.GREATER_OR_EQUAL, 2_450_000.0, None, BookSide.BID, 1000 * 4000,
                     id="greater-or-equal"),
        pytest.param(StrikeType.LESS_OR_EQUAL, None, 2_450_000.0, BookSide.ASK, 1000 * 6000,
                     id="less-or-equal"),
    ],
)
def test_other_strike_types(strike_type, floor, cap, side, loss):
    """Every strike type has scenarios where its order loses in full."""
    m = Market(ticker="S-1-M", event_ticker="S-1", strike_type=strike_type, floor_strike=floor,
               cap_strike=cap)
    assert event_worst_loss([quote("S-1-M", side, 4000)], {}, [], [m]) == loss


@settings(max_examples=60, deadline=None)
@given(
    specs=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(BookSide), st.integers(1, 99),
                  st.integers(1, 2000)),
        max_size=6, unique_by=lambda s: (s[0], s[1]),
    ),
    limit=st.integers(0, 10**8),
)
def test_event_loss_within_limit_after_check(specs, limit):
    """With no positions or resting orders, approved quotes always fit the loss limit."""
    quotes = [quote(MARKETS[i].ticker, side, p * 100, c) for i, side, p, c in specs]
    limits = RiskLimits(max_order_size=10**6, max_position=10**6, max_event_loss=limit)
    kept, _ = check_quotes(quotes, {}, [], limits, markets=MARKETS)
    assert event_worst_loss(kept, {}, [], MARKETS) <= limit
    # Brute force: the worst case equals the minimum over explicit outcomes.
    worst = 0
    for x in (2_300_000, 2_400_000, 2_425_000, 2_450_000, 2_475_000, 2_500_000, 2_600_000):
        pnl = 0
        for q in kept:
            yes = x > next(m.floor_strike for m in MARKETS if m.ticker == q.ticker)
            paid = q.price if q.side is BookSide.BID else PRICE_ONE - q.price
            wins = yes if q.side is BookSide.BID else not yes
            pnl += q.count * (PRICE_ONE - paid) if wins else -q.count * paid
        worst = min(worst, pnl)
    assert event_worst_loss(kept, {}, [], MARKETS) == -worst
