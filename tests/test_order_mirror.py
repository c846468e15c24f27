"""Tests of tsad.orders.OrderMirror: event sequences → states, fill dedupe, positions."""

from __future__ import annotations

import pytest

from tsad.core.orders import (
    BookSide,
    Fill,
    MirrorState,
    Order,
    OrderMirror,
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
                   ("on_cancel_sent", ("o1",)), ("on_cancelled", ("o1",))], None, None, False),
    ("late-resting-after-cancel", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                                   ("on_cancelled", ("o1",)), ("on_user_order", (order(),))],
     None, None, False),
    ("cancel-404", [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)),
                    ("on_cancel_sent", ("o1",)),
                    ("on_error", (NotFound("gone"),), {"order_id": "o1"})],
     None, None, False),
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
        [("on_ack", (ack("ghost", "ghost"), 0))],
        [("on_create_sent", (req(), 0)), ("on_ack", (ack(), 1)), ("on_fill", (fill(count=2000),))],
        [("on_create_sent", (req(), 0)), ("on_ack", (ack("o1"), 1)), ("on_ack", (ack("o9"), 2))],
    ],
    ids=["duplicate-cid", "zero-count", "cancel-unknown", "cancel-pending", "ack-unknown",
         "overfill", "two-order-ids"],
)
def test_invariants(steps):
    """Impossible transitions raise InvariantError."""
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
