"""Table tests of the engine's pure decisions (tsad.core.engine): no sockets, no clock."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tsad.core import engine as core
from tsad.core.market import Market, Outcome, StrikeType, Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.orders import BookSide, Fill, Order, OrderStatus
from tsad.core.quoting import QuotingPolicy
from tsad.core.risk import RiskLimits


EVENT = "KXTSAW-26NOV29"
A, B = f"{EVENT}-A2.40", f"{EVENT}-A2.50"
OLD = "KXTSAW-26NOV22-A2.40"  # last week's market
STALE_S = 120.0


def market(ticker: str, strike: float) -> Market:
    return Market(ticker=ticker, event_ticker=EVENT, strike_type=StrikeType.GREATER,
                  floor_strike=strike)


def resting(ticker: str, *, oid: str = "o1", side: BookSide = BookSide.BID,
            price: int = 4000, remaining: int = 1000) -> Order:
    return Order(order_id=oid, client_order_id=f"tsad-x-{oid}", ticker=ticker, side=side,
                 price=price, remaining=remaining, filled=0, initial=remaining,
                 status=OrderStatus.RESTING)


def inputs(*, markets=None, books=None, orders=(), now=1000.0, **kw) -> core.Inputs:
    markets = markets or {A: market(A, 2_400_000), B: market(B, 2_500_000)}
    vals = {t: Valuation(ticker=t, outcome=Outcome.YES, true_value=Fraction(6, 10))
            for t in markets}
    mirror = OrderMirror()
    mirror.on_resync(list(orders), now_ms=0)
    if books is None:
        books = {t: core.BookView(best_bid=3000, best_ask=7000, fresh=True) for t in markets}
    return core.Inputs(
        markets=markets, valuations=vals, books=books, mirror=mirror,
        policy=QuotingPolicy(), limits=RiskLimits(max_order_size=100_000,
                                                  max_position=10_000,
                                                  max_event_loss=10**12),
        now=now, stale_seconds=STALE_S, **kw,
    )


def test_fresh_markets_are_quoted_with_cancel_on_pause() -> None:
    """Both fresh markets get a create, each carrying cancel_order_on_pause."""
    d = core.decide(inputs())
    assert sorted(r.ticker for r in d.plan.creates) == [A, B]
    assert all(r.cancel_order_on_pause for r in d.plan.creates)
    assert d.pulled == {}


@pytest.mark.parametrize(
    ("stale_since", "pulled"),
    [pytest.param(1000.0 - STALE_S - 1, True, id="no-data-since-startup-past-the-limit"),
     pytest.param(1000.0 - STALE_S + 1, False, id="no-data-yet-within-the-limit")],
)
def test_market_without_fresh_data_is_pulled_from_startup(stale_since: float,
                                                          pulled: bool) -> None:
    """A market that never had data is frozen, then pulled: its adopted order is cancelled."""
    books = {A: core.BookView(stale_since=stale_since),
             B: core.BookView(best_bid=3000, best_ask=7000, fresh=True)}
    d = core.decide(inputs(books=books, orders=[resting(A)]))
    assert (A in d.pulled) is pulled
    assert [c.order_id for c in d.plan.cancels] == (["o1"] if pulled else [])
    assert [r.ticker for r in d.plan.creates] == [B]


def test_frozen_market_still_gets_its_pull_when_quotes_are_pulled_everywhere() -> None:
    """A stale (frozen) market sends nothing, except the cancels of a global pull."""
    books = {A: core.BookView(stale_since=999.0),
             B: core.BookView(best_bid=3000, best_ask=7000, fresh=True)}
    assert core.decide(inputs(books=books, orders=[resting(A)])).plan.cancels == ()
    d = core.decide(inputs(books=books, orders=[resting(A)], global_pull=True))
    assert [c.order_id for c in d.plan.cancels] == ["o1"] and d.plan.creates == ()


def test_dirty_market_is_frozen_until_read_back() -> None:
    """A market with an unreconciled exchange report gets no write at all."""
    d = core.decide(inputs(orders=[resting(A, price=1000)], dirty={A}))
    assert all(x.ticker != A for x in (*d.plan.cancels, *d.plan.amends, *d.plan.creates))
    assert [r.ticker for r in d.plan.creates] == [B]


def test_cooldown_blocks_new_writes_but_not_cancels() -> None:
    """A key in write cooldown: no create or amend, but a pull still cancels."""
    cooling = {(A, BookSide.BID), (B, BookSide.BID)}
    d = core.decide(inputs(orders=[resting(A, price=1000)], cooling=cooling))
    assert d.plan.amends == () and d.plan.creates == ()
    d = core.decide(inputs(orders=[resting(A, price=1000)], cooling=cooling, global_pull=True))
    assert [c.order_id for c in d.plan.cancels] == ["o1"]


@pytest.mark.parametrize("strike", [float("inf"), float("nan"), float("-inf")])
def test_market_with_unusable_strike_is_pulled_alone(strike: float) -> None:
    """A strike that is not a finite number pulls that market; the others are quoted."""
    markets = {A: market(A, strike), B: market(B, 2_500_000)}
    d = core.decide(inputs(markets=markets, orders=[resting(A)]))
    assert "finite" in d.pulled[A]
    assert [c.order_id for c in d.plan.cancels] == ["o1"]
    assert [r.ticker for r in d.plan.creates] == [B]


def test_last_weeks_orders_are_cancelled() -> None:
    """Our orders on a market outside the current event are cancelled."""
    d = core.decide(inputs(orders=[resting(OLD, oid="old")]))
    assert [c.order_id for c in d.plan.cancels] == ["old"]


def with_limits(i: core.Inputs, limits: RiskLimits) -> core.Inputs:
    return core.Inputs(**{**{f: getattr(i, f) for f in i.__slots__}, "limits": limits})


def test_positions_count_at_cost_in_the_event_loss() -> None:
    """$80 paid for a position plus $9 of quotes exceed an $82 limit: the quotes go.

    Counted at exposure 0 (the old behaviour) the same position would let both pass.
    """
    limits = RiskLimits(max_order_size=100_000, max_position=100_000,
                        max_event_loss=82 * 10**6)
    flat = core.decide(with_limits(inputs(), limits))
    assert len(flat.quotes) == 2  # $9 of quotes alone pass
    i = inputs()
    # 160 contracts of A bought at $0.50: $80 paid, all lost if A settles NO.
    i.mirror.on_fill(Fill(trade_id="t1", order_id="x", ticker=A, side=BookSide.BID,
                          price=5000, count=16_000))
    assert i.mirror.position_values()[A].exposure == 80 * 10**6
    d = core.decide(with_limits(i, limits))
    assert d.quotes == ()
    assert "max_event_loss" in {v.control for v in d.violations}
