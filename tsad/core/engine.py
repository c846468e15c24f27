"""The engine's decisions: which quotes we want and which writes turn our orders into them.

Pure (no I/O, no clock: ``now`` is an argument). The shell (`tsad.runtime.engine`) keeps
the state current from events, calls `decide` once per burst of events, sends what it
returns, and posts every outcome back. Rules (what every decision keeps):

1. Never two live orders of ours per (market, side): a key with a write in flight, an
   order whose fate is unknown, or an order that ended with fills we have not heard of is
   left alone (`OrderMirror.in_flight_keys`); reconcile plans at most one order per key.
2. Position + resting ≤ ``max_position`` on each leg: a desired quote is sized from the
   mirror's position, which counts fills an order reported before their messages came,
   and an amend's count is what we know filled plus the desired remainder (V2: the new
   total), so fills we have not heard of only make what rests smaller.
3. ``max_event_loss`` counts positions at their cost (from fills or REST exposure), every
   resting order and every desired quote, in the worst settlement outcome; it is
   re-checked on every decision, so after every fill.
4. A market is FROZEN (nothing sent there) while its book is not fresh but not yet
   pulled, or while it has an unreconciled exchange report awaiting a read back. A market
   is PULLED (its orders cancelled, nothing new) while it has no fresh data for longer
   than ``stale_seconds`` — counted from startup for a market that never had any — while
   it is closed, or while its strike or valuation is unusable. A global pull (halt,
   prediction, hook, pause, stop) cancels everywhere, frozen markets included.
5. A key in write cooldown gets no create, amend or decrease, but a cancel still goes out.
6. Our orders on markets outside the current event (last week's) are cancelled.
7. Nothing raises out of `decide` for any market data: a market that breaks the model or
   the risk controls is pulled with the reason, the others are still quoted.
8. The true value a quote is priced from is the model's pooled with the market's mid of
   *others* (`tsad.core.consensus`: our resting orders taken out of the book first), so it
   follows every book update and our own quotes never feed back into it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from fractions import Fraction

from tsad.core import consensus, quoting, reconcile, risk
from tsad.core.book import Level
from tsad.core.market import Market, Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.orders import BookSide, Position
from tsad.core.quoting import BookTop, EdgePolicy, Quote, QuotingPolicy


__all__ = [
    "BookView",
    "Decision",
    "Inputs",
    "Key",
    "decide",
    "market_problem",
    "pooled_valuations",
    "stale_markets",
]

Key = tuple[str, BookSide]


@dataclass(slots=True, kw_only=True)
class BookView:
    """The engine's view of one market's book: best YES bid and ask, and whether usable.

    ``stale_since`` is the monotonic time since which the market has had no fresh data:
    set at startup for every market, cleared by a snapshot, set again by a gap or a drop.
    """

    best_bid: int | None = None
    best_ask: int | None = None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    fresh: bool = False
    stale_since: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """Everything one decision reads (the shell builds it from its state)."""

    markets: Mapping[str, Market]
    valuations: Mapping[str, Valuation]
    books: Mapping[str, BookView]
    mirror: OrderMirror
    policy: QuotingPolicy | EdgePolicy
    limits: risk.RiskLimits
    now: float
    stale_seconds: float
    global_pull: bool = False
    market_pulls: Mapping[str, str] = field(default_factory=dict)
    dirty: Set[str] = frozenset()
    cooling: Set[Key] = frozenset()
    min_reprice_ticks: int = 1
    prefix: str = "tsad"
    post_only: bool = True
    self_trade_prevention: str = "taker_at_cross"
    cancel_order_on_pause: bool = True
    market_weight: Fraction = Fraction(0)
    market_max_spread: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What to send: the plan (creates without their final client_order_id yet), the quotes
    it serves, the markets pulled (with why), and the risk violations."""

    plan: reconcile.Plan
    quotes: tuple[Quote, ...]
    pulled: Mapping[str, str]
    violations: tuple[risk.Violation, ...]


def market_problem(market: Market) -> str | None:
    """Return why a market cannot be valued or risk-checked (a non-finite strike), or None."""
    for name in ("floor_strike", "cap_strike"):
        v = getattr(market, name)
        if v is not None and not math.isfinite(v):
            return f"{name} {v} is not a finite number"
    return None


def stale_markets(books: Mapping[str, BookView], now: float, stale_seconds: float) -> set[str]:
    """Return the markets with no fresh data for longer than ``stale_seconds``."""
    return {t for t, b in books.items()
            if not b.fresh and b.stale_since is not None and now - b.stale_since > stale_seconds}


def _positions(mirror: OrderMirror) -> dict[str, Position]:
    return mirror.position_values()


def decide(i: Inputs) -> Decision:
    """Decide the writes of one cycle (see the module rules)."""
    pulled: dict[str, str] = dict(i.market_pulls)
    for t in stale_markets(i.books, i.now, i.stale_seconds):
        pulled.setdefault(t, f"no fresh market data for over {i.stale_seconds:g} s")
    for t, m in i.markets.items():
        why = market_problem(m)
        if why is not None:
            pulled.setdefault(t, why)
    usable = {t: m for t, m in i.markets.items() if t not in pulled}
    fresh = {t for t, b in i.books.items() if b.fresh and t in usable}
    frozen = {t for t in i.markets if t not in pulled and (t not in fresh or t in i.dirty)}
    quotes: list[Quote] = []
    violations: list[risk.Violation] = []
    if not i.global_pull:
        quotes, violations, more = _quotes(i, usable, fresh - set(i.dirty))
        pulled.update(more)
    live = [
        reconcile.LiveOrder.from_order(o) for o in i.mirror.resting()
        if o.order_id is not None and (i.global_pull or o.ticker not in frozen)
    ]
    busy = i.mirror.in_flight_keys()
    plan = reconcile.reconcile(
        quotes, live, busy,
        grids={t: m.grid for t, m in i.markets.items()},
        min_reprice_ticks=i.min_reprice_ticks, generation=0, prefix=i.prefix,
        post_only=i.post_only, self_trade_prevention=i.self_trade_prevention,
    )
    plan = _cool(plan, i.cooling)
    plan = replace(plan, creates=tuple(
        replace(r, cancel_order_on_pause=i.cancel_order_on_pause) for r in plan.creates))
    return Decision(plan=plan, quotes=tuple(q for q in quotes
                                            if (q.ticker, q.side) not in i.cooling),
                    pulled=pulled, violations=tuple(violations))


def pooled_valuations(i: Inputs) -> dict[str, Valuation]:
    """Return each market's true value pooled with its fresh book's mid of others (rule 8)."""
    if i.market_weight == 0:
        return dict(i.valuations)
    ours: dict[tuple[str, BookSide], dict[int, int]] = {}
    for o in i.mirror.resting():
        level = ours.setdefault((o.ticker, o.side), {})
        level[o.price] = level.get(o.price, 0) + o.remaining
    market = {}
    for t, b in i.books.items():
        if b.fresh:
            bid, ask = consensus.others_top(b.bids, b.asks, ours.get((t, BookSide.BID), {}),
                                            ours.get((t, BookSide.ASK), {}))
            market[t] = consensus.market_yes(bid, ask, i.market_max_spread)
    return {v.ticker: v for v in
            consensus.pool_all(i.valuations.values(), market, i.market_weight)}


def _quotes(
    i: Inputs, usable: Mapping[str, Market], quotable: Set[str]
) -> tuple[list[Quote], list[risk.Violation], dict[str, str]]:
    """Desired quotes after risk; markets whose numbers break the model are pulled."""
    valuations = pooled_valuations(i)
    positions = _positions(i.mirror)
    books = {t: BookTop(best_bid=b.best_bid, best_ask=b.best_ask)
             for t, b in i.books.items() if t in quotable}
    pulled: dict[str, str] = {}
    try:
        chosen = quoting.desired_quotes(
            [v for t, v in valuations.items() if t in books],
            [m for t, m in usable.items() if t in books], i.policy, positions, books,
        ).quotes
    except (ArithmeticError, ValueError) as exc:
        return [], [], {t: f"quoting failed: {exc}" for t in books}
    try:
        approved, violations = risk.check_quotes(
            list(chosen), positions, i.mirror.live(), i.limits,
            markets=list(usable.values()),
        )
    except (ArithmeticError, ValueError) as exc:
        return [], [], {t: f"risk check failed: {exc}" for t in books}
    return approved, violations, pulled


def _cool(plan: reconcile.Plan, cooling: Set[Key]) -> reconcile.Plan:
    """Keep only the cancels of keys in write cooldown."""
    if not cooling:
        return plan
    return reconcile.Plan(
        cancels=plan.cancels,
        amends=tuple(a for a in plan.amends if (a.ticker, a.side) not in cooling),
        decreases=tuple(d for d in plan.decreases if (d.ticker, d.side) not in cooling),
        creates=tuple(r for r in plan.creates if (r.ticker, r.side) not in cooling),
    )
