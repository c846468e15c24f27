"""Tests of the quoting policy: valuations to desired orders, exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from tsad.core.exchange import OrderbookLevels
from tsad.core.fees import fee_schedule
from tsad.core.market import Market, Outcome, StrikeType, Valuation
from tsad.core.money import CENT_GRID, PRICE_ONE, PriceGrid
from tsad.core.orders import BookSide, Position
from tsad.core.quoting import (
    BookTop,
    EdgePolicy,
    Quote,
    QuotingPolicy,
    Skip,
    Take,
    desired_quote,
    desired_quotes,
    desired_takes,
    edge_quotes,
    leg_room,
    yes_value,
)


EVENT = "KXTSAW-26NOV29"
POLICY = QuotingPolicy(max_position=10_000)
F = Fraction


def market(ticker: str = f"{EVENT}-A2.45", *, status: str = "active",
           grid: PriceGrid = CENT_GRID) -> Market:
    return Market(
        ticker=ticker, event_ticker=EVENT, strike_type=StrikeType.GREATER,
        floor_strike=2_450_000.0, grid=grid, status=status,
    )


def val(outcome: Outcome | None, v: Fraction | None, ticker: str = f"{EVENT}-A2.45",
        reason: str | None = None) -> Valuation:
    return Valuation(ticker=ticker, outcome=outcome, true_value=v, reason=reason)


@pytest.mark.parametrize(
    ("outcome", "v", "side", "price"),
    [
        pytest.param(Outcome.YES, F(1, 2), BookSide.BID, 3700, id="yes-half-floors-37.5c"),
        pytest.param(Outcome.YES, F(4, 5), BookSide.BID, 6000, id="yes-exact-60c"),
        pytest.param(Outcome.YES, F(2, 3), BookSide.BID, 5000, id="yes-two-thirds-50c"),
        pytest.param(Outcome.NO, F(1, 2), BookSide.ASK, 6300, id="no-37c-is-ask-63c"),
        pytest.param(Outcome.NO, F(4, 5), BookSide.ASK, 4000, id="no-60c-is-ask-40c"),
        pytest.param(Outcome.YES, F(1, 15), BookSide.BID, 500, id="yes-exactly-5c"),
        pytest.param(Outcome.YES, F(1, 15) - F(1, 10**6), BookSide.BID, 400,
                     id="yes-just-under-5c-floors"),
    ],
)
def test_price_is_value_times_margin_floored(outcome, v, side, price):
    """The leg price is v × margin rounded down to the grid; NO becomes an ask at 1 − q."""
    q = desired_quote(val(outcome, v), market(), POLICY, position=0, best_bid=None, best_ask=None)
    assert q == Quote(ticker=f"{EVENT}-A2.45", outcome=outcome, side=side, price=price,
                      count=1000, true_value=v)


@pytest.mark.parametrize(
    ("v", "quoted"),
    [
        pytest.param(F(1, 20), False, id="at-min-excluded"),
        pytest.param(F(19, 20), False, id="at-max-excluded"),
        pytest.param(F(1, 20) + F(1, 10**9), True, id="just-above-min"),
        pytest.param(F(19, 20) - F(1, 10**9), True, id="just-below-max"),
        pytest.param(F(0), False, id="zero"),
        pytest.param(F(1), False, id="one"),
    ],
)
def test_band_is_strict(v, quoted):
    """Only min_true_value < v < max_true_value is quoted."""
    q = desired_quote(val(Outcome.YES, v), market(), POLICY, position=0,
                      best_bid=None, best_ask=None)
    assert isinstance(q, Quote) is quoted
    if not quoted:
        assert isinstance(q, Skip) and "band" in q.reason


@pytest.mark.parametrize(
    ("valuation", "mkt", "reason"),
    [
        pytest.param(val(None, None, reason="P == K"), market(), "P == K", id="no-side"),
        pytest.param(val(None, None), market(), "no side", id="no-side-no-reason"),
        pytest.param(val(Outcome.YES, F(1, 2)), market(status="closed"), "market not active",
                     id="closed"),
        pytest.param(val(Outcome.YES, F(1, 10)),
                     market(grid=PriceGrid.from_wire([{"start": "0.1000", "end": "0.9000",
                                                       "step": "0.0100"}])),
                     "price below one tick", id="below-grid"),
    ],
)
def test_skips_explain_why(valuation, mkt, reason):
    """A market without a quote gets a Skip naming the reason."""
    q = desired_quote(valuation, mkt, POLICY, position=0, best_bid=None, best_ask=None)
    assert isinstance(q, Skip) and reason in q.reason


@pytest.mark.parametrize(
    ("outcome", "v", "best_bid", "best_ask", "expected"),
    [
        pytest.param(Outcome.YES, F(4, 5), None, 6000, 5900, id="bid-at-ask-steps-back"),
        pytest.param(Outcome.YES, F(4, 5), None, 5500, 5400, id="bid-through-ask-steps-back"),
        pytest.param(Outcome.YES, F(4, 5), None, 6100, 6000, id="bid-below-ask-stays"),
        pytest.param(Outcome.YES, F(4, 5), 6500, None, 6000, id="bid-ignores-bids"),
        pytest.param(Outcome.NO, F(4, 5), 4000, None, 4100, id="ask-at-bid-steps-back"),
        pytest.param(Outcome.NO, F(4, 5), 4500, None, 4600, id="ask-through-bid-steps-back"),
        pytest.param(Outcome.NO, F(4, 5), 3900, None, 4000, id="ask-above-bid-stays"),
        pytest.param(Outcome.YES, F(4, 5), None, 100, None, id="no-room-below-1c"),
        pytest.param(Outcome.NO, F(4, 5), 9900, None, None, id="no-room-above-99c"),
    ],
)
def test_post_only_step_back(outcome, v, best_bid, best_ask, expected):
    """A quote that would cross steps one tick behind the opposite best, or is skipped."""
    q = desired_quote(val(outcome, v), market(), POLICY, position=0,
                      best_bid=best_bid, best_ask=best_ask)
    if expected is None:
        assert isinstance(q, Skip) and q.reason == "no room behind the book"
    else:
        assert isinstance(q, Quote) and q.price == expected


@pytest.mark.parametrize(
    ("outcome", "position", "count"),
    [
        pytest.param(Outcome.YES, 0, 1000, id="flat-full-size"),
        pytest.param(Outcome.YES, 9_500, 500, id="near-limit-shrinks"),
        pytest.param(Outcome.YES, 10_000, None, id="at-limit-skips"),
        pytest.param(Outcome.YES, -5_000, 1000, id="long-no-adds-room-for-yes"),
        pytest.param(Outcome.NO, -9_999, 1, id="no-near-limit"),
        pytest.param(Outcome.NO, 20_000, 1000, id="long-yes-room-for-no"),
    ],
)
def test_position_limit_reduces_size(outcome, position, count):
    """Size is min(count, max_position − held on that leg); no room skips."""
    q = desired_quote(val(outcome, F(1, 2)), market(), POLICY, position=position,
                      best_bid=None, best_ask=None)
    if count is None:
        assert isinstance(q, Skip) and q.reason == "position limit"
    else:
        assert isinstance(q, Quote) and q.count == count


@pytest.mark.parametrize(
    ("outcome", "position", "room"),
    [
        pytest.param(Outcome.YES, 300, 700, id="yes-long-yes"),
        pytest.param(Outcome.NO, 300, 1300, id="no-long-yes"),
        pytest.param(Outcome.NO, -1500, 0, id="no-over-limit-floored"),
    ],
)
def test_leg_room(outcome, position, room):
    """Room counts only what is held on the leg being bought, floored at zero."""
    assert leg_room(outcome, position, 1000) == room


def test_sub_cent_grid_floor_and_no_ceil():
    """On a grid that is not symmetric the NO leg never pays more than its floored price."""
    grid = PriceGrid.from_wire([
        {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
        {"start": "0.1000", "end": "1.0000", "step": "0.0100"},
    ])
    yes = desired_quote(val(Outcome.YES, F(1, 10)), market(grid=grid), POLICY, position=0,
                        best_bid=None, best_ask=None)
    assert isinstance(yes, Quote) and yes.price == 750  # 0.075 exactly, on the fine grid
    no = desired_quote(val(Outcome.NO, F(1, 10)), market(grid=grid), POLICY, position=0,
                       best_bid=None, best_ask=None)
    assert isinstance(no, Quote) and no.price == 9300  # NO at 0.075 → YES 0.925 → ceil 0.93
    assert PRICE_ONE - no.price <= 750


@given(
    v=st.fractions(min_value=F(1, 20), max_value=F(19, 20)).filter(
        lambda x: F(1, 20) < x < F(19, 20)),
    outcome=st.sampled_from(Outcome),
    margin=st.fractions(min_value=F(1, 100), max_value=F(1)),
)
def test_never_pays_more_than_margin(v, outcome, margin):
    """The leg price paid is never above v × margin and always on the grid."""
    policy = QuotingPolicy(margin=margin)
    q = desired_quote(val(outcome, v), market(), policy, position=0, best_bid=None,
                      best_ask=None)
    if isinstance(q, Quote):
        leg_price = q.price if outcome is Outcome.YES else PRICE_ONE - q.price
        assert leg_price <= v * margin * PRICE_ONE
        assert CENT_GRID.contains(q.price)


@given(
    best=st.integers(min_value=100, max_value=9900).map(lambda p: p - p % 100),
    v=st.sampled_from([F(3, 10), F(1, 2), F(9, 10)]),
    outcome=st.sampled_from(Outcome),
)
def test_step_back_never_crosses_nor_improves(best, v, outcome):
    """After step-back a bid is below the best ask and an ask above the best bid."""
    plain = desired_quote(val(outcome, v), market(), POLICY, position=0, best_bid=None,
                          best_ask=None)
    q = desired_quote(val(outcome, v), market(), POLICY, position=0,
                      best_bid=best if outcome is Outcome.NO else None,
                      best_ask=best if outcome is Outcome.YES else None)
    assert isinstance(plain, Quote)
    if isinstance(q, Quote):
        if q.side is BookSide.BID:
            assert q.price < best and q.price <= plain.price
        else:
            assert q.price > best and q.price >= plain.price


def test_desired_quotes_whole_event_sorted():
    """desired_quotes covers every market in ticker order, with skips for the rest."""
    tickers = [f"{EVENT}-A2.50", f"{EVENT}-A2.40", f"{EVENT}-A2.45", f"{EVENT}-A2.55"]
    markets = [market(t) for t in tickers]
    vals = [
        val(Outcome.YES, F(1, 2), tickers[0]),
        val(Outcome.NO, F(3, 5), tickers[1]),
        val(None, None, tickers[2], reason="P == K"),
        val(Outcome.YES, F(1, 2), f"{EVENT}-A9.99"),
    ]
    books = {tickers[0]: BookTop(best_bid=None, best_ask=3700)}
    positions = {tickers[1]: Position(ticker=tickers[1], position=-9_800)}
    qs = desired_quotes(vals, markets, POLICY, positions, books)
    assert [q.ticker for q in qs.quotes] == [tickers[1], tickers[0]]
    assert qs.quotes[0].count == 200 and qs.quotes[0].side is BookSide.ASK
    assert qs.quotes[1].price == 3600
    assert [(s.ticker, s.reason) for s in qs.skips] == [
        (tickers[2], "P == K"), (tickers[3], "no valuation"), (f"{EVENT}-A9.99", "unknown market"),
    ]


@pytest.mark.parametrize(
    ("yes", "no", "top"),
    [
        pytest.param((), (), BookTop(), id="empty"),
        pytest.param(((4000, 100), (4200, 50)), ((5500, 10),), BookTop(best_bid=4200,
                                                                       best_ask=4500), id="both"),
        pytest.param(((4000, 0),), (), BookTop(), id="zero-size-ignored"),
    ],
)
def test_book_top_from_levels(yes, no, top):
    """The best YES ask is 1 − the best NO bid of the REST book."""
    assert BookTop.from_levels(OrderbookLevels(ticker="T", yes=yes, no=no)) == top


# -- the edge policy ---------------------------------------------------------------------


EDGE = EdgePolicy(half_spread_ticks=2, min_edge=F(0), skew_ticks=0, max_position=10_000)


def _two(results) -> tuple[Quote, Quote]:
    bid, ask = results
    assert isinstance(bid, Quote) and isinstance(ask, Quote)
    return bid, ask


def test_edge_quotes_both_sides_around_fair() -> None:
    """Both sides are quoted half_spread ticks around the true value of YES, from either leg."""
    bid, ask = _two(edge_quotes(val(Outcome.YES, F(1, 2)), market(), EDGE, position=0,
                                book=BookTop()))
    assert (bid.side, bid.price, ask.side, ask.price) == (BookSide.BID, 4800, BookSide.ASK, 5200)
    assert (bid.outcome, ask.outcome) == (Outcome.YES, Outcome.NO)
    # The same market valued from the NO leg (NO worth 0.455 → YES 0.545): off-grid fair.
    bid, ask = _two(edge_quotes(val(Outcome.NO, F(455, 1000)), market(), EDGE, position=0,
                                book=BookTop()))
    assert (bid.price, ask.price) == (5300, 5600)
    assert yes_value(val(Outcome.NO, F(455, 1000))) == F(545, 1000)


def test_edge_after_maker_fee_is_enforced() -> None:
    """Where the series charges makers, a quote short of min_edge after the fee steps back."""
    policy = EdgePolicy(half_spread_ticks=1, min_edge=F(1, 100), skew_ticks=0,
                        max_position=10_000, fees=fee_schedule("quadratic_with_maker_fees", 1))
    bid, ask = _two(edge_quotes(val(Outcome.YES, F(1, 2)), market(), policy, position=0,
                                book=BookTop()))
    # 1 tick = 0.01 edge, less the maker fee 0.0175 × 0.49 × 0.51 ≈ 0.0044 → not enough; 2 ticks.
    assert (bid.price, ask.price) == (4800, 5200)
    for q in (bid, ask):
        per = (F(1, 2) - F(q.price, PRICE_ONE)) * (1 if q.side is BookSide.BID else -1)
        assert per - policy.fees.fee_per_contract(q.price, is_taker=False) >= policy.min_edge


def test_no_quote_without_enough_edge() -> None:
    """A minimum edge no grid price can give skips the side, naming why."""
    policy = EdgePolicy(min_edge=F(6, 10), max_position=10_000)
    results = edge_quotes(val(Outcome.YES, F(1, 2)), market(), policy, position=0,
                          book=BookTop())
    assert all(isinstance(r, Skip) and "minimum edge" in r.reason for r in results)


def test_skew_and_taper_flatten_inventory() -> None:
    """Long YES: both quotes move down, the buying side shrinks, the selling side keeps size."""
    policy = EdgePolicy(half_spread_ticks=2, min_edge=F(0), skew_ticks=4, count=1000,
                        max_position=5000)
    bid, ask = _two(edge_quotes(val(Outcome.YES, F(1, 2)), market(), policy, position=2500,
                                book=BookTop()))
    assert (bid.price, ask.price) == (4600, 5000)  # 2 ticks of skew at half the limit
    assert (bid.count, ask.count) == (500, 1000)
    buy, at_limit = edge_quotes(val(Outcome.YES, F(1, 2)), market(), policy, position=-5000,
                                book=BookTop())
    assert isinstance(buy, Quote) and buy.count == 1000
    assert buy.price == 5000  # skewed up 4 ticks, then back to the least edge (0 here)
    assert isinstance(at_limit, Skip) and "position limit" in at_limit.reason


def test_edge_quotes_step_back_from_the_book() -> None:
    """Post-only: a quote that would cross steps one tick behind the opposite best."""
    bid, ask = _two(edge_quotes(val(Outcome.YES, F(1, 2)), market(), EDGE, position=0,
                                book=BookTop(best_bid=5300, best_ask=4700)))
    assert (bid.price, ask.price) == (4600, 5400)


def test_desired_quotes_selects_the_policy() -> None:
    """desired_quotes gives two quotes per market under the edge policy, one under seed."""
    m = market()
    v = val(Outcome.YES, F(1, 2))
    edge = desired_quotes([v], [m], EDGE, {}, {})
    seed = desired_quotes([v], [m], POLICY, {}, {})
    assert [q.side for q in edge.quotes] == [BookSide.BID, BookSide.ASK]
    assert len(seed.quotes) == 1


def test_takes_only_when_enabled_and_worth_the_taker_fee() -> None:
    """IOC takes are off by default; on, they need edge beyond the taker fee + threshold."""
    m = market()
    v = val(Outcome.YES, F(6, 10))
    book = {m.ticker: BookTop(best_bid=4000, best_ask=5000, ask_size=300)}
    assert desired_takes([v], [m], EDGE, {}, book) == []
    on = EdgePolicy(take=True, take_edge=F(5, 100), max_position=10_000)
    [take] = desired_takes([v], [m], on, {}, book)
    assert isinstance(take, Take)
    assert (take.side, take.price, take.count) == (BookSide.BID, 5000, 300)
    assert take.edge == F(1, 10) - on.fees.fee_per_contract(5000, is_taker=True)
    strict = EdgePolicy(take=True, take_edge=F(9, 100), max_position=10_000)
    assert desired_takes([v], [m], strict, {}, book) == []


@given(st.fractions(F(1, 20), F(19, 20)).filter(lambda f: F(1, 20) < f < F(19, 20)),
       st.integers(-10_000, 10_000), st.integers(1, 5), st.integers(0, 6))
def test_edge_quotes_never_cross_fair(fair: F, position: int, half: int, skew: int) -> None:
    """Every edge quote has at least min_edge after the maker fee, and stays on the grid."""
    policy = EdgePolicy(half_spread_ticks=half, skew_ticks=skew, max_position=10_000,
                        min_edge=F(1, 200), fees=fee_schedule("quadratic_with_maker_fees", 1))
    for q in edge_quotes(val(Outcome.YES, fair), market(), policy, position=position,
                         book=BookTop()):
        if isinstance(q, Quote):
            assert CENT_GRID.contains(q.price)
            per = (fair - F(q.price, PRICE_ONE)) * (1 if q.side is BookSide.BID else -1)
            assert per - policy.fees.fee_per_contract(q.price, is_taker=False) >= F(1, 200)
            assert q.count > 0
