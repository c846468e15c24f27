"""Tests of reconciliation: desired quotes × live orders × in-flight keys → plan."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from tsad.core.market import Outcome
from tsad.core.money import CENT_GRID, PriceGrid
from tsad.core.orders import BookSide, Order, OrderRequest, OrderStatus
from tsad.core.quoting import Quote
from tsad.core.reconcile import (
    Amend,
    Cancel,
    Decrease,
    LiveOrder,
    Plan,
    apply_plan,
    client_order_id,
    generation_of,
    is_ours,
    reconcile,
)
from tsad.errors import InvariantError


EVENT = "KXTSAW-26NOV29"
A, B = f"{EVENT}-A2.45", f"{EVENT}-A2.50"
BID, ASK = BookSide.BID, BookSide.ASK
GRIDS = {A: CENT_GRID, B: CENT_GRID}


def q(ticker: str, side: BookSide, price: int, count: int = 1000) -> Quote:
    return Quote(ticker=ticker, outcome=Outcome.YES if side is BID else Outcome.NO, side=side,
                 price=price, count=count, true_value=Fraction(1, 2))


def lo(oid: str, ticker: str, side: BookSide, price: int, remaining: int = 1000,
       filled: int = 0) -> LiveOrder:
    return LiveOrder(order_id=oid, client_order_id=f"tsad-x-{oid}", ticker=ticker, side=side,
                     price=price, remaining=remaining, filled=filled)


def create(
    ticker: str, side: BookSide, price: int, count: int = 1000, gen: int = 7
) -> OrderRequest:
    return OrderRequest(ticker=ticker, side=side, price=price, count=count,
                        client_order_id=client_order_id("tsad", EVENT, ticker, side, gen))


def run(desired, live, in_flight=frozenset(), ticks=1):
    return reconcile(desired, live, set(in_flight), grids=GRIDS, min_reprice_ticks=ticks,
                     generation=7)


@pytest.mark.parametrize(
    ("desired", "live", "in_flight", "ticks", "plan"),
    [
        pytest.param([], [], (), 1, Plan(), id="nothing"),
        pytest.param([q(A, BID, 4000)], [], (), 1, Plan(creates=(create(A, BID, 4000),)),
                     id="create"),
        pytest.param([q(A, BID, 4000)], [lo("1", A, BID, 4000)], (), 1, Plan(), id="same"),
        pytest.param([], [lo("1", A, BID, 4000), lo("2", B, ASK, 6000)], (), 1,
                     Plan(cancels=(Cancel(order_id="1", ticker=A, side=BID, reason="no quote"),
                                   Cancel(order_id="2", ticker=B, side=ASK, reason="no quote"))),
                     id="empty-desired-cancels-all"),
        pytest.param([q(A, BID, 4100)], [lo("1", A, BID, 4000, 600, filled=400)], (), 1,
                     Plan(amends=(Amend(order_id="1", client_order_id="tsad-x-1", ticker=A,
                                        side=BID, price=4100, remaining=1000, count=1400),)),
                     id="price-move-amends-total-count"),
        pytest.param([q(A, BID, 4000, 500)], [lo("1", A, BID, 4000)], (), 1,
                     Plan(decreases=(Decrease(order_id="1", ticker=A, side=BID, reduce_to=500),)),
                     id="size-down-decreases"),
        pytest.param([q(A, BID, 4000, 1500)], [lo("1", A, BID, 4000, 1000, filled=200)], (), 1,
                     Plan(amends=(Amend(order_id="1", client_order_id="tsad-x-1", ticker=A,
                                        side=BID, price=4000, remaining=1500, count=1700),)),
                     id="size-up-amends"),
        pytest.param([q(A, BID, 4100)], [lo("1", A, BID, 4000)], (), 2, Plan(),
                     id="hysteresis-one-tick-ignored"),
        pytest.param([q(A, BID, 4200)], [lo("1", A, BID, 4000)], (), 2,
                     Plan(amends=(Amend(order_id="1", client_order_id="tsad-x-1", ticker=A,
                                        side=BID, price=4200, remaining=1000, count=1000),)),
                     id="hysteresis-two-ticks-moves"),
        pytest.param([q(A, BID, 4100, 500)], [lo("1", A, BID, 4000)], (), 2,
                     Plan(decreases=(Decrease(order_id="1", ticker=A, side=BID, reduce_to=500),)),
                     id="hysteresis-size-down-keeps-price"),
        pytest.param([q(A, ASK, 6000)], [lo("1", A, BID, 4000)], (), 1,
                     Plan(cancels=(Cancel(order_id="1", ticker=A, side=BID, reason="no quote"),),
                          creates=(create(A, ASK, 6000),)),
                     id="side-change-cancel-and-create"),
        pytest.param([q(A, BID, 4000)],
                     [lo("3", A, BID, 3000), lo("1", A, BID, 4000), lo("2", A, BID, 4000, 10)],
                     (), 1,
                     Plan(cancels=(Cancel(order_id="2", ticker=A, side=BID, reason="duplicate"),
                                   Cancel(order_id="3", ticker=A, side=BID, reason="duplicate"))),
                     id="duplicates-keep-closest"),
        pytest.param([q(A, BID, 4500)], [lo("1", A, BID, 4000)], [(A, BID)], 1, Plan(),
                     id="in-flight-amend-waits"),
        pytest.param([q(A, BID, 4500)], [], [(A, BID)], 1, Plan(), id="in-flight-create-waits"),
        pytest.param([], [lo("1", A, BID, 4000)], [(A, BID)], 1, Plan(),
                     id="in-flight-cancel-waits"),
        pytest.param([q(A, BID, 4000)], [lo("1", A, BID, 4000, 0, filled=1000)], (), 1,
                     Plan(creates=(create(A, BID, 4000),)), id="fully-filled-is-not-resting"),
    ],
)
def test_reconcile_table(desired, live, in_flight, ticks, plan):
    """Each desired × live × in-flight combination gives exactly the expected plan."""
    assert run(desired, live, in_flight, ticks) == plan


def test_plan_sorted_and_cancels_listed_first():
    """Plans are deterministic: every list sorted by ticker then side, regardless of input order."""
    desired = [q(B, ASK, 6000), q(A, BID, 4000), q(B, BID, 3000)]
    live = [lo("z", B, BID, 2000), lo("y", A, ASK, 7000), lo("x", A, BID, 3900)]
    plan = run(desired, live)
    assert [(c.ticker, c.side) for c in plan.cancels] == [(A, ASK)]
    assert [(c.ticker, c.side) for c in plan.amends] == [(A, BID), (B, BID)]
    assert [(c.ticker, c.side) for c in plan.creates] == [(B, ASK)]
    assert run(list(reversed(desired)), list(reversed(live))) == plan
    assert len(plan) == 4 and not plan.empty


def test_two_quotes_for_one_key_is_a_bug():
    """Two desired quotes for the same (ticker, side) raise InvariantError."""
    with pytest.raises(InvariantError, match="two desired quotes"):
        run([q(A, BID, 4000), q(A, BID, 4100)], [])


def test_min_reprice_ticks_must_be_positive():
    """min_reprice_ticks below 1 is refused."""
    with pytest.raises(ValueError, match="min_reprice_ticks"):
        run([], [], ticks=0)


def test_hysteresis_counts_ticks_of_the_market_grid():
    """On a sub-cent grid a tick is the grid's step, not a cent."""
    fine = PriceGrid.from_wire([{"start": "0.0000", "end": "1.0000", "step": "0.0010"}])
    plan = reconcile([q(A, BID, 4020)], [lo("1", A, BID, 4000)], set(), grids={A: fine},
                     min_reprice_ticks=2, generation=1)
    assert [a.price for a in plan.amends] == [4020]
    plan = reconcile([q(A, BID, 4010)], [lo("1", A, BID, 4000)], set(), grids={A: fine},
                     min_reprice_ticks=2, generation=1)
    assert plan.empty


def test_creates_carry_order_flags():
    """Creates take the post-only and self-trade-prevention settings given."""
    plan = reconcile([q(A, BID, 4000)], [], set(), grids=GRIDS, generation=3, prefix="bot1",
                     post_only=False, self_trade_prevention="maker")
    (req,) = plan.creates
    assert req.client_order_id == "bot1-26NOV29-A2_45-bid-3"
    assert req.post_only is False and req.self_trade_prevention_type == "maker"


@pytest.mark.parametrize(
    ("prefix", "event", "ticker", "side", "gen", "expected"),
    [
        pytest.param("tsad", EVENT, A, BID, 17, "tsad-26NOV29-A2_45-bid-17", id="kxtsaw"),
        pytest.param("tsad", EVENT, B, "ask", 0, "tsad-26NOV29-A2_50-ask-0", id="str-side"),
        pytest.param("t", "EV", "OTHER", ASK, 1, "t-EV-OTHER-ask-1", id="no-dashes"),
    ],
)
def test_client_order_id_format(prefix, event, ticker, side, gen, expected):
    """client_order_id is prefix-event-market-side-generation with safe characters."""
    assert client_order_id(prefix, event, ticker, side, gen) == expected


@given(
    ticker=st.text(min_size=1, max_size=120),
    event=st.text(max_size=80),
    gen=st.integers(0, 10**18),
    side=st.sampled_from(BookSide),
)
def test_client_order_id_safe_and_short(ticker, event, gen, side):
    """Any ticker gives an id of at most 64 safe characters that round-trips its generation."""
    cid = client_order_id("tsad", event, ticker, side, gen)
    assert len(cid) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in cid)
    assert is_ours(cid, "tsad") and not is_ours(cid, "tsa")
    assert generation_of(cid) == gen


@pytest.mark.parametrize(
    ("prefix", "gen"),
    [
        pytest.param("ts-ad", 1, id="dash-in-prefix"),
        pytest.param("", 1, id="empty-prefix"),
        pytest.param("x" * 17, 1, id="long-prefix"),
        pytest.param("tsad", -1, id="negative-generation"),
    ],
)
def test_client_order_id_rejects_bad_input(prefix, gen):
    """A bad prefix or generation is a ValueError."""
    with pytest.raises(ValueError):
        client_order_id(prefix, EVENT, A, BID, gen)


@pytest.mark.parametrize(
    ("cid", "ours"),
    [
        pytest.param("tsad-26NOV29-A2_45-bid-3", True, id="ours"),
        pytest.param("tsadx-26NOV29-A2_45-bid-3", False, id="longer-prefix"),
        pytest.param("8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1", False, id="uuid"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
    ],
)
def test_is_ours(cid, ours):
    """Only ids that start with our prefix and a dash are ours."""
    assert is_ours(cid, "tsad") is ours


def test_live_order_from_order():
    """LiveOrder keeps what reconciliation needs of an exchange order, including filled."""
    o = Order(order_id="1", client_order_id="c", ticker=A, side=BID, price=4000, remaining=600,
              filled=400, initial=1000, status=OrderStatus.RESTING)
    assert LiveOrder.from_order(o) == LiveOrder(order_id="1", client_order_id="c", ticker=A,
                                                side=BID, price=4000, remaining=600, filled=400)


TICKERS = [A, B, f"{EVENT}-A2.55"]
prices = st.integers(1, 99).map(lambda c: c * 100)
counts = st.integers(0, 3000)


@st.composite
def scenarios(draw):
    keys = [(t, s) for t in TICKERS for s in BookSide]
    wanted = draw(st.lists(st.sampled_from(keys), unique=True))
    desired = [q(t, s, draw(prices), draw(st.integers(1, 3000))) for t, s in wanted]
    live = [
        lo(f"o{i}", t, s, draw(prices), draw(counts), draw(st.integers(0, 500)))
        for i, (t, s) in enumerate(draw(st.lists(st.sampled_from(keys), max_size=8)))
    ]
    in_flight = set(draw(st.lists(st.sampled_from(keys), max_size=2)))
    return desired, live, in_flight, draw(st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios())
def test_idempotent(scenario):
    """Applying a plan and reconciling again yields an empty plan."""
    desired, live, in_flight, ticks = scenario
    plan = run(desired, live, in_flight, ticks)
    after = apply_plan(live, plan)
    assert run(desired, after, in_flight, ticks).empty
    # And the result is what was asked for, key by key (outside in-flight keys).
    for d in desired:
        if (d.ticker, d.side) in in_flight:
            continue
        mine = [o for o in after if (o.ticker, o.side) == (d.ticker, d.side) and o.remaining > 0]
        assert len(mine) == 1 and mine[0].remaining == d.count
        assert abs(mine[0].price - d.price) < 100 * ticks
    wanted = {(d.ticker, d.side) for d in desired} | in_flight
    assert all((o.ticker, o.side) in wanted for o in after if o.remaining > 0)


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios())
def test_in_flight_keys_never_touched(scenario):
    """No request of a plan concerns a (ticker, side) that has one in flight."""
    desired, live, in_flight, ticks = scenario
    plan = run(desired, live, in_flight, ticks)
    touched = {(x.ticker, x.side) for x in (*plan.cancels, *plan.amends, *plan.decreases)}
    touched |= {(r.ticker, r.side) for r in plan.creates}
    assert not touched & in_flight
