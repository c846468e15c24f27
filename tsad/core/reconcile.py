"""Order reconciliation: the pure diff of desired quotes against our live orders, as a plan.

Rules (the invariants every plan keeps; keys are ``(ticker, side)``):

1. At most one order of ours rests per key. When several do, the one closest to the target
   (price distance, then size distance, then order_id) is kept and the others are cancelled;
   with no target, all of them are cancelled.
2. A key with a request in flight is left alone entirely: no second request is ever issued
   for it until the first one's outcome is known.
3. Same price and same size → no request. A price change of fewer than
   ``min_reprice_ticks`` ticks of the market's grid counts as the same price (hysteresis).
4. Price moved → amend (new price; V2 amend's ``count`` is the new TOTAL = filled + the
   desired remaining). Same price, smaller size → decrease (``reduce_to``). Same price,
   larger size → amend. A quote on the other side of the book → cancel the old key's order
   and create on the new key (rule 1 with no target, then rule 6).
5. Orders with nothing remaining are not resting and are ignored.
6. A desired quote with no order on its key → create, with a deterministic client_order_id
   built from (prefix, event, market, side, generation), so a retry reuses the same id.
7. The plan is deterministic: each list sorted by (ticker, side, order_id); the shell sends
   cancels first.
8. Idempotence: ``reconcile(d, apply_plan(live, reconcile(d, live, f)), f)`` is empty.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, replace
from typing import Final

from tsad.core.money import CENT_GRID, PriceGrid
from tsad.core.orders import BookSide, MirrorOrder, Order, OrderRequest
from tsad.core.quoting import Quote
from tsad.errors import InvariantError


__all__ = [
    "MAX_CLIENT_ORDER_ID",
    "Amend",
    "Cancel",
    "Decrease",
    "LiveOrder",
    "Plan",
    "apply_plan",
    "client_order_id",
    "generation_of",
    "is_ours",
    "reconcile",
]

MAX_CLIENT_ORDER_ID: Final = 64
"""The longest client_order_id we generate (Kalshi's own examples are 36-char UUIDs)."""

_PREFIX = re.compile(r"^[A-Za-z0-9_]{1,16}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")

Key = tuple[str, BookSide]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOrder:
    """One of our orders resting at the exchange (YES price, counts in 0.01 contract)."""

    order_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    remaining: int
    filled: int = 0

    @classmethod
    def from_order(cls, order: Order | MirrorOrder) -> LiveOrder:
        """Take the fields reconciliation needs from an order read from the exchange or a
        mirror snapshot.

        Raises:
            ValueError: a mirror order still waiting for its id (a pending create).
        """
        if order.order_id is None:
            raise ValueError(f"order {order.client_order_id} has no exchange id yet")
        return cls(
            order_id=order.order_id, client_order_id=order.client_order_id, ticker=order.ticker,
            side=order.side, price=order.price, remaining=order.remaining, filled=order.filled,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Cancel one order (``reason``: ``"no quote"`` or ``"duplicate"``)."""

    order_id: str
    ticker: str
    side: BookSide
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Amend:
    """Amend one order to ``price`` with ``remaining`` resting.

    ``count`` is what V2 amend's ``count`` field wants: the new total, filled + remaining.
    """

    order_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    remaining: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decrease:
    """Reduce one order's resting count to ``reduce_to`` (> 0) at the same price."""

    order_id: str
    ticker: str
    side: BookSide
    reduce_to: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The requests that turn our live orders into the desired quotes (cancels go first)."""

    cancels: tuple[Cancel, ...] = ()
    amends: tuple[Amend, ...] = ()
    decreases: tuple[Decrease, ...] = ()
    creates: tuple[OrderRequest, ...] = ()

    @property
    def empty(self) -> bool:
        """Tell whether the plan asks for nothing."""
        return not (self.cancels or self.amends or self.decreases or self.creates)

    def __len__(self) -> int:
        return len(self.cancels) + len(self.amends) + len(self.decreases) + len(self.creates)


def client_order_id(
    prefix: str, event_ticker: str, ticker: str, side: BookSide | str, generation: int
) -> str:
    """Build the deterministic client_order_id of one create.

    Format ``{prefix}-{event}-{market}-{side}-{generation}``, e.g.
    ``tsad-26NOV29-A2_45-bid-17`` for ``KXTSAW-26NOV29-A2.45``: ``event`` is the event
    ticker without its series, ``market`` the market ticker without its event. Only
    ``[A-Za-z0-9_-]`` are used (any other character becomes ``_``, a set Kalshi's examples
    and every client we know accept), and the id is at most 64 characters: a market part
    that would overflow is replaced by the first 10 hex digits of its ticker's SHA-256.

    Args:
        prefix: identifies our orders (``[A-Za-z0-9_]{1,16}``, config ``client_order_prefix``).
        event_ticker: the market's event.
        ticker: the market.
        side: the book side.
        generation: the caller's monotonically increasing counter (persisted by the journal).

    Returns:
        The id.

    Raises:
        ValueError: a bad prefix or a negative generation.
    """
    if not _PREFIX.match(prefix):
        raise ValueError(f"client order prefix {prefix!r} must match [A-Za-z0-9_]{{1,16}}")
    if generation < 0:
        raise ValueError(f"generation {generation} must be ≥ 0")
    event = event_ticker.split("-", 1)[1] if "-" in event_ticker else event_ticker
    market = ticker.removeprefix(event_ticker + "-")
    event, market = _UNSAFE.sub("_", event), _UNSAFE.sub("_", market)
    side = str(side)
    out = f"{prefix}-{event}-{market}-{side}-{generation}"
    if len(out) > MAX_CLIENT_ORDER_ID:
        market = hashlib.sha256(ticker.encode()).hexdigest()[:10]
        event = event[: MAX_CLIENT_ORDER_ID - len(f"{prefix}--{market}-{side}-{generation}")]
        out = f"{prefix}-{event}-{market}-{side}-{generation}"
    return out


def is_ours(client_order_id: str | None, prefix: str) -> bool:
    """Tell whether an order's client_order_id was made by `client_order_id` with ``prefix``."""
    return bool(client_order_id) and str(client_order_id).startswith(prefix + "-")


def generation_of(client_order_id: str) -> int | None:
    """Return the generation at the end of one of our client_order_ids, or None."""
    tail = client_order_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _event_of(ticker: str) -> str:
    """The event ticker of a market ticker (``KXTSAW-26NOV29-A2.45`` → ``KXTSAW-26NOV29``)."""
    return ticker.rsplit("-", 1)[0] if ticker.count("-") >= 2 else ticker


def _moved(grid: PriceGrid, a: int, b: int, ticks: int) -> bool:
    """Tell whether prices ``a`` and ``b`` are at least ``ticks`` grid steps apart."""
    if a == b:
        return False
    p, hi = min(a, b), max(a, b)
    for _ in range(ticks):
        nxt = grid.above(p)
        if nxt is None or nxt > hi:
            return False
        p = nxt
    return True


def _sort_key(x: Cancel | Amend | Decrease) -> tuple[str, str, str]:
    return (x.ticker, str(x.side), x.order_id)


def reconcile(
    desired: Iterable[Quote],
    live: Iterable[LiveOrder],
    in_flight: Set[Key],
    *,
    grids: Mapping[str, PriceGrid],
    min_reprice_ticks: int = 1,
    generation: int,
    prefix: str = "tsad",
    post_only: bool = True,
    self_trade_prevention: str = "taker_at_cross",
) -> Plan:
    """Diff the desired quotes against our live orders.

    Args:
        desired: the approved quotes (at most one per (ticker, side)).
        live: our resting orders.
        in_flight: (ticker, side) keys with a request outstanding: left untouched.
        grids: each market's price grid by ticker (absent: the cent grid).
        min_reprice_ticks: price changes of fewer ticks than this are not sent (≥ 1).
        generation: goes into every create's client_order_id; bump it after each plan
            that creates, so a later re-create never reuses an id.
        prefix: the client_order_id prefix that marks our orders.
        post_only: post-only flag of creates.
        self_trade_prevention: ``taker_at_cross`` or ``maker``, for creates.

    Returns:
        The plan, each list sorted by (ticker, side, order_id).

    Raises:
        InvariantError: two desired quotes share a (ticker, side).
        ValueError: ``min_reprice_ticks`` < 1.
    """
    if min_reprice_ticks < 1:
        raise ValueError(f"min_reprice_ticks {min_reprice_ticks} must be ≥ 1")
    targets: dict[Key, Quote] = {}
    for d in desired:
        if (d.ticker, d.side) in targets:
            raise InvariantError(f"two desired quotes for {d.ticker} {d.side}")
        targets[(d.ticker, d.side)] = d
    resting: defaultdict[Key, list[LiveOrder]] = defaultdict(list)
    for o in live:
        if o.remaining > 0:
            resting[(o.ticker, o.side)].append(o)

    cancels: list[Cancel] = []
    amends: list[Amend] = []
    decreases: list[Decrease] = []
    creates: list[OrderRequest] = []
    for key in sorted(targets.keys() | resting.keys()):
        if key in in_flight:
            continue
        ticker, side = key
        orders = resting.get(key, [])
        q = targets.get(key)
        if q is None:
            cancels += [
                Cancel(order_id=o.order_id, ticker=ticker, side=side, reason="no quote")
                for o in orders
            ]
            continue
        if not orders:
            creates.append(OrderRequest(
                ticker=ticker, side=side, price=q.price, count=q.count,
                client_order_id=client_order_id(
                    prefix, _event_of(ticker), ticker, side, generation
                ),
                post_only=post_only, self_trade_prevention_type=self_trade_prevention,
            ))
            continue
        target = q
        keep, *extra = sorted(
            orders,
            key=lambda o: (
                abs(o.price - target.price), abs(o.remaining - target.count), o.order_id
            ),
        )
        cancels += [
            Cancel(order_id=o.order_id, ticker=ticker, side=side, reason="duplicate")
            for o in extra
        ]
        grid = grids.get(ticker, CENT_GRID)
        if _moved(grid, keep.price, q.price, min_reprice_ticks) or q.count > keep.remaining:
            amends.append(Amend(
                order_id=keep.order_id, client_order_id=keep.client_order_id, ticker=ticker,
                side=side, price=q.price, remaining=q.count, count=keep.filled + q.count,
            ))
        elif q.count < keep.remaining:
            decreases.append(
                Decrease(order_id=keep.order_id, ticker=ticker, side=side, reduce_to=q.count)
            )
    return Plan(
        cancels=tuple(sorted(cancels, key=_sort_key)),
        amends=tuple(sorted(amends, key=_sort_key)),
        decreases=tuple(sorted(decreases, key=_sort_key)),
        creates=tuple(sorted(creates, key=lambda r: (r.ticker, str(r.side)))),
    )


def apply_plan(live: Iterable[LiveOrder], plan: Plan) -> tuple[LiveOrder, ...]:
    """Return the live orders as they would be once every request of the plan succeeded.

    Created orders get the order_id ``"new:" + client_order_id``. For tests and simulation.

    Args:
        live: our resting orders before the plan.
        plan: the plan.

    Returns:
        The resting orders after it, sorted by (ticker, side, order_id).
    """
    by_id = {o.order_id: o for o in live}
    for c in plan.cancels:
        by_id.pop(c.order_id, None)
    for a in plan.amends:
        o = by_id[a.order_id]
        by_id[a.order_id] = replace(o, price=a.price, remaining=a.count - o.filled)
    for d in plan.decreases:
        by_id[d.order_id] = replace(by_id[d.order_id], remaining=d.reduce_to)
    for r in plan.creates:
        oid = "new:" + r.client_order_id
        by_id[oid] = LiveOrder(
            order_id=oid, client_order_id=r.client_order_id, ticker=r.ticker, side=r.side,
            price=r.price, remaining=r.count,
        )
    return tuple(sorted(by_id.values(), key=lambda o: (o.ticker, str(o.side), o.order_id)))
