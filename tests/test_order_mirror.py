"""Tests of the order mirror: event sequences → states, fill dedupe, positions, ack races."""

from __future__ import annotations

import pytest

from tsad.core.mirror import OrderMirror
from tsad.core.orders import (
    BookSide,
    Fill,
    MirrorState,
    Order,
    OrderRequest,
    OrderStatus,
    WriteAck,
)
from tsad.errors import AmbiguousOutcome, InvariantError, NotFound, OrderRejected


T = "KXTSAW-26NOV29-A2.30"


def req(cid="c1", side=BookSide.BID, price=4400, count=1000):
    return OrderRequest(ticker=T, side=side, price=price, count=count, client_order_id=cid)


def order(oid="o1", cid="c1", status=OrderStatus.RESTING, remaining=1000, filled=0, price=4400,
          side=BookSide.BID):
    return Order(order_id=oid, client_order_id=cid, ticker=T, side=side, price=price,
                 remaining=remaining, filled=filled, initial=remaining + filled, status=status)


def fill(tid="t1", oid="o1", count=300, side=BookSide.BID):
    return Fill(trade_id=tid, order_id=oid, ticker=T, side=side, price=4400, count=count)


def ack(oid="o1", cid="c1", remaining=None, filled=None):
    return WriteAck(order_id=oid, client_order_id=cid, remaining=remaining, filled=filled)


# Each step is (method name, args); the table gives the expected view of "c1" at the end
# (None: no longer live) and the in-flight keys.
SEQUENCES = [
    ("sent", [("on_create_sent", (req(), 0))], MirrorState.PENDING, 1000, True),
    ("acked", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1))],
     MirrorState.RESTING, 1000, False),
    ("ws-before-ack", [("on_create_sent", (req(), 0)), ("on_user_order", (order(),)),
                      ("on_ack", (ack(), 1))], MirrorState.RESTING, 1000, False),
    ("ack-fully-filled", [("on_create_sent", (req(), 0)),
                          ("on_ack", (ack(remaining=0, filled=1000), 1))], None, None, False),
    ("partial-fill", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                      ("on_fill", (fill(),))], MirrorState.RESTING, 700, False),
    ("fill-then-user-order", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                              ("on_fill", (fill(),)),
                              ("on_user_order", (order(remaining=700, filled=300),))],
     MirrorState.RESTING, 700, False),
    ("user-order-then-fill", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                              ("on_user_order", (order(remaining=700, filled=300),)),
                              ("on_fill", (fill(),))], MirrorState.RESTING, 700, False),
    ("full-fill", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                   ("on_fill", (fill(count=1000),))], None, None, False),
    ("cancelling", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                    ("on_cancel_sent", ("o1",))], MirrorState.CANCELLING, 1000, True),
    ("cancelled", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                   ("on_cancel_sent", ("o1",)), ("on_cancelled", ("o1",))], None, None, True),
    ("cancelled-reduced-by", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                              ("on_cancel_sent", ("o1",)),
                              ("on_cancelled", ("o1",), {"reduced_by": 1000})],
     None, None, False),
    ("late-resting-after-cancel", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                                   ("on_cancelled", ("o1",)), ("on_user_order", (order(),))],
     None, None, False),
    ("cancel-404", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                    ("on_cancel_sent", ("o1",)),
                    ("on_error", (NotFound("gone"),), {"order_id": "o1"})],
     None, None, True),
    ("cancel-failed", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                       ("on_cancel_sent", ("o1",)),
                       ("on_error", (OrderRejected("paused"),), {"order_id": "o1"})],
     MirrorState.RESTING, 1000, False),
    ("create-rejected", [("on_create_sent", (req(), 0)),
                         ("on_error", (OrderRejected("post only cross"),),
                          {"client_order_id": "c1"})],
     None, None, False),
    ("create-ambiguous", [("on_create_sent", (req(), 0)),
                          ("on_error", (AmbiguousOutcome("timeout"),), {"client_order_id": "c1"})],
     MirrorState.PENDING, 1000, True),
    ("ws-canceled", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                     ("on_user_order", (order(status=OrderStatus.CANCELED, remaining=0),))],
     None, None, False),
    ("amending", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                  ("on_amend_sent", ("o1",))], MirrorState.RESTING, 1000, True),
    ("amended", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                 ("on_amend_sent", ("o1",)),
                 ("on_amended", ("o1",), {"price": 4500, "ack": ack(remaining=500, filled=0)})],
     MirrorState.RESTING, 500, False),
]


@pytest.mark.parametrize(
    ("steps", "state", "remaining", "in_flight"),
    [s[1:] for s in SEQUENCES],
    ids=[s[0] for s in SEQUENCES],
)
def test_sequences(steps, state, remaining, in_flight):
    """Each sequence of sends and exchange reports leaves the order in the expected state."""
    m = OrderMirror()
    for step in steps:
        name, args, *kw = step
        getattr(m, name)(*args, **(kw[0] if kw else {}))
    view = m.get("c1")
    if state is None:
        assert view is None
        assert m.resting() == []
    else:
        assert view is not None
        assert view.state is state
        assert view.remaining == remaining
    assert ((T, BookSide.BID) in m.in_flight_keys()) is in_flight


def test_fill_dedupe_and_position():
    """A repeated trade_id is ignored; bid fills add to the position and ask fills subtract."""
    m = OrderMirror()
    m.on_create_sent(req(), 0)
    m.on_ack(ack(), 1)
    assert m.on_fill(fill()) is True
    assert m.on_fill(fill()) is False
    assert m.position(T) == 300
    assert m.get("o1").remaining == 700
    assert m.on_fill(fill(tid="t2", oid="other", count=200, side=BookSide.ASK)) is True
    assert m.position(T) == 100


def test_resync_replaces_resting_keeps_fresh_pending():
    """A REST read replaces the resting set; in-flight creates survive until they time out."""
    m = OrderMirror(pending_timeout_ms=1000)
    m.on_create_sent(req("c1"), 0)
    m.on_ack(ack("o1", "c1"), 0)
    m.on_resync([order("o1", "c1")], now_ms=10)          # confirmed by REST
    m.on_create_sent(req("c2", price=4300), 100)          # in flight, not yet visible
    dropped = m.on_resync([order("o3", "c3", price=4200)], now_ms=500)
    assert [o.client_order_id for o in dropped] == ["c1"]
    assert {o.client_order_id for o in m.live()} == {"c2", "c3"}
    assert [o.order_id for o in m.resting()] == ["o3"]
    dropped = m.on_resync([order("o3", "c3", price=4200)], now_ms=2000)
    assert [(o.client_order_id, o.state) for o in dropped] == [("c2", MirrorState.DONE)]
    m.on_resync([order("o2", "c2", price=4300)], now_ms=2100)   # REST truth brings it back
    assert m.get("c2").state is MirrorState.RESTING


def test_resync_confirms_pending():
    """A pending create that a REST read shows becomes resting with its order id."""
    m = OrderMirror()
    m.on_create_sent(req(), 0)
    m.on_resync([order(remaining=600, filled=400)], now_ms=5)
    view = m.get("o1")
    assert (view.state, view.remaining, view.filled) == (MirrorState.RESTING, 600, 400)


@pytest.mark.parametrize(
    "steps",
    [
        [("on_create_sent", (req(), 0)), ("on_create_sent", (req(), 1))],
        [("on_create_sent", (req(count=0), 0))],
        [("on_cancel_sent", ("nope",))],
        [("on_create_sent", (req(), 0)), ("on_cancel_sent", ("o1",))],
    ],
    ids=["duplicate-cid", "zero-count", "cancel-unknown", "cancel-pending"],
)
def test_invariants(steps):
    """Requests the engine must never send raise InvariantError."""
    m = OrderMirror()
    with pytest.raises(InvariantError):
        for name, args in steps:
            getattr(m, name)(*args)


def test_read_begun_before_a_cancel_does_not_revive_it():
    """An order cancelled while a REST read was in flight stays gone when the read lands."""
    m = OrderMirror()
    m.on_create_sent(req(), 0)
    m.on_ack(ack(), 1)
    since = m.mark()
    m.on_cancel_sent("o1")
    m.on_cancelled("o1")
    m.on_resync([order()], now_ms=2, since=since)
    assert m.resting() == [] and m.get("o1") is None


def test_read_begun_before_a_create_does_not_drop_it():
    """An order placed after a REST read began is kept although the read does not show it."""
    m = OrderMirror(pending_timeout_ms=0)
    since = m.mark()
    m.on_create_sent(req(), 100_000)
    m.on_ack(ack(), 100_001)
    assert m.on_resync([], now_ms=200_000, since=since) == []
    assert [o.order_id for o in m.resting()] == ["o1"]
    assert [o.client_order_id for o in m.on_resync([], now_ms=200_000, since=m.mark())] == ["c1"]


def test_read_begun_before_an_amend_keeps_the_new_price():
    """A REST read older than an amend does not put the old price back."""
    m = OrderMirror()
    m.on_create_sent(req(), 0)
    m.on_ack(ack(), 1)
    since = m.mark()
    m.on_amend_sent("o1")
    m.on_amended("o1", price=4600, ack=ack(remaining=1000))
    m.on_resync([order(price=4400)], now_ms=2, since=since)
    assert [o.price for o in m.resting()] == [4600]
    m.on_resync([order(price=4500)], now_ms=3, since=m.mark())
    assert [o.price for o in m.resting()] == [4500]


@pytest.mark.parametrize(
    "steps",
    [
        [("on_ack", (ack("ghost", "ghost"), 0))],
        [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)), ("on_fill", (fill(count=2000),))],
        [("on_create_sent", (req(), 0)), ("on_ack", (ack("o1"), 1)), ("on_ack", (ack("o9"), 2))],
        [("on_amended", ("nope",), {"price": 1, "ack": ack("nope")})],
    ],
    ids=["ack-unknown", "overfill", "two-order-ids", "amend-ack-unknown"],
)
def test_exchange_input_never_raises_it_reports_a_problem(steps):
    """What the exchange says never raises: the mirror records a problem for a resync."""
    m = OrderMirror()
    for name, args, *kw in steps:
        getattr(m, name)(*args, **(kw[0] if kw else {}))
    assert m.take_problems()
    assert m.take_problems() == []


def amend_scenario(m, *, filled, new_remaining, ack_remaining, ack_fill=None):
    """A 10-lot bid acked, ``filled`` executed by fills, then amended to ``new_remaining``."""
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    if filled:
        m.on_fill(fill(tid="t1", count=filled))
    view = m.get("o1")
    total = view.filled + new_remaining  # V2 amend count: filled + desired remaining
    m.on_amend_sent("o1", total=total)
    m.on_amended("o1", price=4500, total=total,
                 ack=ack(remaining=ack_remaining, filled=ack_fill))
    return total


def test_amend_after_partial_fill_keeps_cumulative_fills():
    """10-lot bid, 8 filled, amended down to 1 remaining: the ack's counts are not totals."""
    m = OrderMirror()
    total = amend_scenario(m, filled=800, new_remaining=100, ack_remaining=100, ack_fill=0)
    assert total == 900
    view = m.get("o1")
    assert (view.state, view.filled, view.remaining, view.price) == (
        MirrorState.RESTING, 800, 100, 4500)
    assert m.take_problems() == []
    assert m.position(T) == 800


def test_amend_whose_new_size_equals_prior_fills_keeps_the_order():
    """Prior fills equal to the new remaining: the live order is not forgotten."""
    m = OrderMirror()
    amend_scenario(m, filled=800, new_remaining=800, ack_remaining=800)
    view = m.get("o1")
    assert view is not None and view.remaining == 800 and view.filled == 800
    assert [o.order_id for o in m.resting()] == ["o1"]


def test_amend_that_crosses_counts_its_fills_once():
    """An amend that fills 2 reports fill_count 2: counted once, when its fill arrives."""
    m = OrderMirror()
    amend_scenario(m, filled=300, new_remaining=700, ack_remaining=500, ack_fill=200)
    view = m.get("o1")
    assert (view.filled, view.remaining) == (500, 500)
    m.on_fill(fill(tid="t2", count=200))
    view = m.get("o1")
    assert (view.filled, view.remaining) == (500, 500)
    assert m.position(T) == 500
    assert m.take_problems() == []


def test_fill_before_amend_up_ack_is_not_an_overfill():
    """A fill beyond the old size that beats the amend-up ack is accepted."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    m.on_amend_sent("o1", total=1500)
    m.on_fill(fill(tid="t1", count=1200))
    assert m.take_problems() == []
    view = m.get("o1")
    assert view is not None and view.remaining == 300
    m.on_amended("o1", price=4400, total=1500, ack=ack(remaining=300))
    view = m.get("o1")
    assert (view.filled, view.remaining) == (1200, 300)


def test_fills_reaching_a_changed_size_wait_for_the_final_status():
    """After a resize, fills reaching the size leave the key blocked until the exchange says."""
    m = OrderMirror()
    amend_scenario(m, filled=0, new_remaining=500, ack_remaining=500)
    m.on_fill(fill(tid="t1", count=500))
    assert m.get("o1") is not None and (T, BookSide.BID) in m.in_flight_keys()
    assert m.resting() == []
    m.on_user_order(order(status=OrderStatus.EXECUTED, remaining=0, filled=500))
    assert m.get("o1") is None and m.in_flight_keys() == set()


def test_decrease_ack_sets_what_rests():
    """A decrease ack's remaining_count is the resting size after it."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    m.on_fill(fill(count=200))
    m.on_amend_sent("o1")
    m.on_amended("o1", price=4400, ack=ack(remaining=300))
    view = m.get("o1")
    assert (view.filled, view.remaining) == (200, 300)


def test_create_ack_after_the_order_was_filled_and_reported():
    """user_order (executed) and fills before the create's ack: the late ack changes nothing."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_fill(Fill(trade_id="t1", order_id="o1", ticker=T, side=BookSide.BID, price=4400,
                   count=1000, client_order_id="c1"))
    m.on_user_order(order(status=OrderStatus.EXECUTED, remaining=0, filled=1000))
    m.on_ack(ack(remaining=0, filled=1000), 2)
    assert m.get("c1") is None and m.live() == [] and m.take_problems() == []
    assert m.position(T) == 1000


def test_reported_fills_count_in_the_position_until_their_messages_arrive():
    """A user_order reporting fills moves the position before the fill message does."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    m.on_user_order(order(remaining=600, filled=400))
    assert m.position(T) == 400
    assert m.position_values()[T].exposure == 400 * 4400
    m.on_fill(fill(count=400))
    assert m.position(T) == 400


def test_position_cost_from_fills_and_rest():
    """Positions carry their cost: bids at p, asks at 1 − p; a REST read replaces both."""
    m = OrderMirror()
    m.on_fill(fill(tid="a", oid="x", count=1000))
    assert m.position_values()[T].exposure == 1000 * 4400
    m.on_fill(Fill(trade_id="b", order_id="y", ticker=T, side=BookSide.ASK, price=5000,
                   count=500))
    v = m.position_values()[T]
    assert (v.position, v.exposure) == (500, 500 * 4400)
    m.set_position(T, -300, 300 * 6000)
    v = m.position_values()[T]
    assert (v.position, v.exposure) == (-300, 300 * 6000)


def test_cancelled_order_settles_before_its_key_is_quoted_again():
    """A cancel ack without reduced_by leaves the order's fills unknown: its key waits for
    the final user_order, whose fills count in the position before their messages come."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    m.on_cancel_sent("o1")
    m.on_cancelled("o1")
    assert (T, BookSide.BID) in m.in_flight_keys()
    m.on_user_order(order(status=OrderStatus.CANCELED, remaining=0, filled=400))
    assert m.in_flight_keys() == set()
    assert m.position(T) == 400
    m.on_fill(fill(count=400))
    assert m.position(T) == 400


def test_cancel_reduced_by_tells_the_fills():
    """reduced_by = what rested when cancelled: the rest of the total was filled."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    m.on_cancel_sent("o1")
    m.on_cancelled("o1", reduced_by=700)
    assert m.in_flight_keys() == set() and m.position(T) == 300


def test_settling_order_is_released_by_a_read_begun_after_it_ended():
    """A REST read begun after a 404 (with its fills) releases the key."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_ack(ack(remaining=1000, filled=0), 1)
    m.on_cancel_sent("o1")
    m.on_error(NotFound("gone"), order_id="o1")
    since = m.mark()
    m.on_resync([], now_ms=5, since=since)
    assert m.in_flight_keys() == set()


def test_fill_before_the_ack_counts_once():
    """A fill naming only its order_id, before the create's ack links that id, counts once."""
    m = OrderMirror()
    m.on_create_sent(req(count=1000), 0)
    m.on_fill(fill(tid="t1", count=300))  # no client_order_id: not linked yet
    m.on_ack(ack(remaining=700, filled=300), 1)
    m.on_fill(fill(tid="t2", count=100))
    view = m.get("o1")
    assert (view.filled, view.remaining) == (400, 600)
    assert m.position(T) == 400


def test_executed_report_of_an_unknown_order_after_its_fills():
    """An order we never linked, reported executed after its fills came: counted once."""
    m = OrderMirror()
    m.on_fill(fill(tid="t1", oid="o7", count=200))
    m.on_user_order(order(oid="o7", cid="c7", status=OrderStatus.EXECUTED, remaining=0,
                          filled=200))
    assert m.position(T) == 200
