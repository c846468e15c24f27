"""Stateful proof: the order mirror + reconcile, driven the way the engine drives them,
against a reference model of Kalshi under adversarial orderings.

The exchange processes requests in any order, answers them in any order (or times out),
emits user_order and fill messages that arrive late, twice, or never (a reconnect drops
them), REST reads start before and land after other changes, and (with the engine core
deciding) the weekly roll comes with writes in flight. After every step:

* no exception escapes the mirror or the core (exchange input never raises);
* never two live orders of ours on the exchange per (market, side);
* on the exchange, position + resting ≤ max_position on each leg of each market;
* every fill heard of is counted exactly once, however often it came;
* once everything has arrived (and, after lost messages, a read has landed), the mirror
  matches the exchange: resting orders, remaining counts, prices and positions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from fractions import Fraction

from exchange_model import RefExchange
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tsad.core import engine as core, reconcile
from tsad.core.market import Market, Outcome, StrikeType, Valuation
from tsad.core.mirror import OrderMirror
from tsad.core.orders import BookSide, Fill, Order, OrderRequest, OrderStatus, WriteAck
from tsad.core.quoting import Quote, QuotingPolicy
from tsad.core.risk import RiskLimits
from tsad.errors import AmbiguousOutcome, ExchangeError


T = "KXTSAW-26NOV29-A2.45"
MAX_POSITION = 1000
SIDES = (BookSide.BID, BookSide.ASK)


@dataclass
class Write:
    """One request the trader sent: what, and (once the exchange ran it) its answer."""

    kind: str
    order_id: str | None = None
    request: OrderRequest | None = None
    price: int = 0
    total: int | None = None
    reduce_to: int = 0
    answer: WriteAck | ExchangeError | None = None
    processed: bool = False
    answered: bool = False


class Trader:
    """What the engine does with the mirror: plan with reconcile, send, apply answers."""

    def __init__(self) -> None:
        self.mirror = OrderMirror(pending_timeout_ms=30_000)
        self.generation = 0
        self.dirty_at: int | None = None  # mark of the last problem not yet read back

    @property
    def dirty(self) -> bool:
        return self.dirty_at is not None

    def desired(self, prices: dict[BookSide, int], size: int) -> list[Quote]:
        pos = self.mirror.position(T)
        room = {BookSide.BID: MAX_POSITION - pos, BookSide.ASK: MAX_POSITION + pos}
        out = []
        for side, price in prices.items():
            count = min(size, room[side])
            if count > 0:
                out.append(Quote(ticker=T, outcome=Outcome.YES if side is BookSide.BID
                                 else Outcome.NO, side=side, price=price, count=count,
                                 true_value=Fraction(1, 2)))
        return out

    def plan(self, prices: dict[BookSide, int], size: int, now_ms: int) -> list[Write]:
        if self.dirty:
            return []
        live = [reconcile.LiveOrder.from_order(o)
                for o in self.mirror.resting() if o.order_id is not None]
        self.generation += 1
        plan = reconcile.reconcile(self.desired(prices, size), live,
                                   self.mirror.in_flight_keys(), grids={},
                                   generation=self.generation, prefix="tsad")
        return self.send(plan, live, now_ms)

    def send(self, plan: reconcile.Plan, live: list[reconcile.LiveOrder],
             now_ms: int) -> list[Write]:
        """Record each request of the plan in the mirror (cancels first) and send it."""
        out = []
        for c in plan.cancels:
            self.mirror.on_cancel_sent(c.order_id)
            out.append(Write("cancel", order_id=c.order_id))
        for a in plan.amends:
            self.mirror.on_amend_sent(a.order_id, total=a.count)
            out.append(Write("amend", order_id=a.order_id, price=a.price, total=a.count))
        for d in plan.decreases:
            self.mirror.on_amend_sent(d.order_id)
            price = next(o.price for o in live if o.order_id == d.order_id)
            out.append(Write("decrease", order_id=d.order_id, price=price,
                             reduce_to=d.reduce_to))
        for r in plan.creates:
            self.mirror.on_create_sent(r, now_ms)
            out.append(Write("create", request=r))
        return out

    def answer(self, w: Write, now_ms: int) -> None:
        a = w.answer
        if isinstance(a, ExchangeError):
            if w.kind == "create":
                assert w.request is not None
                self.mirror.on_error(a, client_order_id=w.request.client_order_id)
            else:
                self.mirror.on_error(a, order_id=w.order_id)
        elif a is not None:
            if w.kind == "create":
                self.mirror.on_ack(a, now_ms)
            elif w.kind == "cancel":
                assert w.order_id is not None
                self.mirror.on_cancelled(w.order_id, reduced_by=a.reduced_by)
            else:
                assert w.order_id is not None
                self.mirror.on_amended(w.order_id, price=w.price, ack=a, total=w.total)
        self.take_problems()

    def message(self, msg: Fill | Order) -> None:
        if isinstance(msg, Fill):
            self.mirror.on_fill(msg)
        else:
            self.mirror.on_user_order(msg)
        self.take_problems()

    def take_problems(self) -> None:
        if self.mirror.take_problems():
            self.dirty_at = self.mirror.mark()

    def read_landed(self, since: int) -> None:
        """A read begun at ``since`` landed: it resolves the problems recorded before it."""
        self.take_problems()
        if self.dirty_at is not None and since >= self.dirty_at:
            self.dirty_at = None


class CoreTrader(Trader):
    """The same, deciding through the engine core (`tsad.core.engine.decide`): quoting,
    risk, pulls, frozen (dirty) markets and reconcile, as the engine runs them, with true
    values pooled half and half with a book of others' levels and our own orders."""

    market = T  # the week being traded; `roll` moves to the next one
    others: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = ((), ())

    def book(self) -> core.BookView:
        """The book as the feed would show it: others' levels plus our resting orders."""
        sides: list[dict[int, int]] = [dict(self.others[0]), dict(self.others[1])]
        for o in self.mirror.resting():
            if o.ticker == self.market:
                side = sides[0 if o.side is BookSide.BID else 1]
                side[o.price] = side.get(o.price, 0) + o.remaining
        bids = tuple(sorted(sides[0].items(), reverse=True)[:3])
        asks = tuple(sorted(sides[1].items())[:3])
        return core.BookView(fresh=True, bids=bids, asks=asks,
                             best_bid=bids[0][0] if bids else None,
                             best_ask=asks[0][0] if asks else None)

    def plan(self, prices: dict[BookSide, int], size: int, now_ms: int) -> list[Write]:
        # One market: a bid is a YES valuation, an ask a NO one (the policy's price is
        # 3/4 of the true value; the policy sizes from the mirror's position).
        t = self.market
        if BookSide.BID in prices:
            val = Valuation(ticker=t, outcome=Outcome.YES,
                            true_value=Fraction(prices[BookSide.BID], 7500))
        elif BookSide.ASK in prices:
            val = Valuation(ticker=t, outcome=Outcome.NO,
                            true_value=Fraction(10_000 - prices[BookSide.ASK], 7500))
        else:
            val = Valuation(ticker=t, outcome=None, true_value=None, reason="none")
        market = Market(ticker=t, event_ticker=t.rsplit("-", 1)[0],
                        strike_type=StrikeType.GREATER, floor_strike=2_450_000)
        decision = core.decide(core.Inputs(
            markets={t: market}, valuations={t: val},
            books={t: self.book()}, mirror=self.mirror,
            market_weight=Fraction(1, 2), market_max_spread=10_000,
            policy=QuotingPolicy(count=size, max_position=MAX_POSITION,
                                 min_true_value=Fraction(0), max_true_value=Fraction(1)),
            limits=RiskLimits(max_order_size=10**9, max_position=MAX_POSITION,
                              max_event_loss=10**15),
            now=0.0, stale_seconds=120.0, dirty={t} if self.dirty else set(),
        ))
        self.generation += 1
        plan = replace(decision.plan, creates=tuple(
            replace(r, client_order_id=reconcile.client_order_id(
                "tsad", r.ticker.rsplit("-", 1)[0], r.ticker, r.side, self.generation))
            for r in decision.plan.creates))
        live = [reconcile.LiveOrder.from_order(o)
                for o in self.mirror.resting() if o.order_id is not None]
        return self.send(plan, live, now_ms)


NEXT_WEEK = "KXTSAW-26DEC06-A2.45"


class MirrorMachine(RuleBasedStateMachine):
    """Adversarial orderings of requests, answers, messages and reads."""

    trader_class: type[Trader] = Trader

    def __init__(self) -> None:
        super().__init__()
        self.x = RefExchange()
        self.trader = self.trader_class()
        self.writes: list[Write] = []
        self.now_ms = 0
        self.known_trades: set[str] = set()
        self.read: tuple[int, list[Order], list[Fill]] | None = None
        self.read_since: int | None = None
        self.lost = False  # messages lost since the last read began
        self.read_clears_loss = False
        self.lost_at_ms = 0

    # -- the trader decides ---------------------------------------------------------------

    @rule(bid=st.sampled_from([4000, 4100, 4200]), ask=st.sampled_from([6000, 6100]),
          size=st.sampled_from([200, 500, 1000]), sides=st.sampled_from(["both", "bid", "ask",
                                                                          "none"]))
    def decide(self, bid: int, ask: int, size: int, sides: str) -> None:
        prices = {BookSide.BID: bid, BookSide.ASK: ask}
        if sides != "both":
            prices = {s: p for s, p in prices.items() if s.value == sides}
        self.now_ms += 1
        self.writes += self.trader.plan(prices, size, self.now_ms)

    # -- the exchange runs requests in any order --------------------------------------------

    @precondition(lambda self: any(not w.processed for w in self.writes))
    @rule(i=st.integers(0, 50), cross=st.sampled_from([0, 0, 100, 300]))
    def exchange_runs(self, i: int, cross: int) -> None:
        todo = [w for w in self.writes if not w.processed]
        w = todo[i % len(todo)]
        w.processed = True
        if w.kind == "create":
            assert w.request is not None
            w.answer = self.x.create(w.request, cross=cross)
        elif w.kind == "amend":
            assert w.order_id is not None and w.total is not None
            w.answer = self.x.amend(w.order_id, price=w.price, count=w.total, cross=cross)
        elif w.kind == "decrease":
            assert w.order_id is not None
            w.answer = self.x.decrease(w.order_id, reduce_to=w.reduce_to)
        else:
            assert w.order_id is not None
            w.answer = self.x.cancel(w.order_id)

    @precondition(lambda self: any(w.processed and not w.answered for w in self.writes))
    @rule(i=st.integers(0, 50))
    def answer_arrives(self, i: int) -> None:
        todo = [w for w in self.writes if w.processed and not w.answered]
        w = todo[i % len(todo)]
        w.answered = True
        self.now_ms += 1
        self.trader.answer(w, self.now_ms)

    @precondition(lambda self: any(not w.answered for w in self.writes))
    @rule(i=st.integers(0, 50))
    def request_times_out(self, i: int) -> None:
        """The client gives up: the outcome is unknown (the exchange may have run it)."""
        todo = [w for w in self.writes if not w.answered]
        w = todo[i % len(todo)]
        w.answered = True
        w.processed = True  # a timed-out request is never run after this
        w.answer = AmbiguousOutcome("timed out")
        self.trader.answer(w, self.now_ms)

    @precondition(lambda self: bool(self.x.resting()))
    @rule(i=st.integers(0, 50), count=st.sampled_from([100, 200, 500, 1000]))
    def counterparty_takes(self, i: int, count: int) -> None:
        rest = self.x.resting()
        self.x.execute(rest[i % len(rest)], count)

    # -- the websocket delivers late, twice, or never ----------------------------------------

    @precondition(lambda self: bool(self.x.ws))
    @rule(i=st.integers(0, 50), twice=st.booleans())
    def ws_delivers(self, i: int, twice: bool) -> None:
        msg = self.x.ws[i % len(self.x.ws)]
        if not twice:
            self.x.ws.remove(msg)
        self._deliver(msg)

    def _deliver(self, msg: Fill | Order) -> None:
        if isinstance(msg, Fill):
            self.known_trades.add(msg.trade_id)
        self.trader.message(msg)

    @precondition(lambda self: bool(self.x.ws))
    @rule()
    def ws_reconnects(self) -> None:
        """A disconnect loses every message in the air; the engine reads back after it."""
        self.x.ws.clear()
        # The engine's rule: after a reconnect, send nothing until a read begun after it
        # lands (fills may have been missed).
        self.trader.dirty_at = self.trader.mirror.mark()
        self.lost = True
        self.lost_at_ms = self.now_ms
        self.read_clears_loss = False
        self.read_since = None
        self.read_starts()

    # -- REST reads that start before and land after other changes ---------------------------

    @rule()
    def everything_arrives(self) -> None:
        """Every request runs and is answered, every message arrives: with no message lost
        since the last read, the mirror then matches the exchange without reading it."""
        while any(not w.processed for w in self.writes):
            self.exchange_runs(0, 0)
        for w in self.writes:
            if not w.answered:
                w.answered = True
                self.trader.answer(w, self.now_ms)
        while self.x.ws:
            self._deliver(self.x.ws.pop(0))
        if self.lost or self.trader.dirty or self.read_since is not None:
            return
        mirror = self.trader.mirror
        got = sorted((o.order_id, o.price, o.remaining) for o in mirror.resting())
        want = sorted((o.order_id, o.price, o.remaining) for o in self.x.resting())
        assert got == want
        for t in (T, NEXT_WEEK):
            assert mirror.position(t) == self.x.position.get(t, 0)

    @precondition(lambda self: self.read_since is None)
    @rule()
    def read_starts(self) -> None:
        if self.read_since is None:
            self.read_since = self.trader.mirror.mark()
            self.read = None
            self.read_clears_loss = True

    @precondition(lambda self: self.read_since is not None and self.read is None)
    @rule()
    def read_served(self) -> None:
        ours = [o.report() for o in self.x.resting()]
        self.read = (self.trader.mirror.mark(), ours, list(self.x.fills))

    @precondition(lambda self: self.read is not None)
    @rule()
    def read_lands(self) -> None:
        assert self.read is not None and self.read_since is not None
        _, orders, fills = self.read
        self.now_ms += 1
        self.trader.mirror.on_resync(orders, self.now_ms, since=self.read_since)
        for f in fills:  # after the orders: the read's fills are not newer than the read
            self.known_trades.add(f.trade_id)
            self.trader.mirror.on_fill(f)
        self.trader.read_landed(self.read_since)
        if self.read_clears_loss and self.now_ms >= self.lost_at_ms + 30_000:
            self.lost = False  # (acks younger than the grace window survive a read)
        self.read, self.read_since = None, None

    @rule(bids=st.lists(st.tuples(st.integers(100, 9900), st.integers(1, 5000)), max_size=3),
          asks=st.lists(st.tuples(st.integers(100, 9900), st.integers(1, 5000)), max_size=3))
    def others_quote(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """Others' levels move (any prices, crossed or not): only the core trader reads them."""
        if isinstance(self.trader, CoreTrader):
            self.trader.others = (tuple(dict(bids).items()), tuple(dict(asks).items()))

    @precondition(lambda self: all(w.answered for w in self.writes) and self.read_since is None)
    @rule()
    def time_passes(self) -> None:
        """Nothing is in the air (writes and reads time out well within the grace window of
        the mirror): that window may run out."""
        self.now_ms += 60_000

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def never_two_live_orders_per_key(self) -> None:
        keys = Counter((o.ticker, o.side) for o in self.x.resting())
        assert all(n <= 1 for n in keys.values()), keys

    @invariant()
    def position_plus_resting_within_limit(self) -> None:
        for t in (T, NEXT_WEEK):
            pos = self.x.position.get(t, 0)
            for side in SIDES:
                rest = sum(o.remaining for o in self.x.resting()
                           if o.side is side and o.ticker == t)
                exposure = pos + rest if side is BookSide.BID else rest - pos
                assert exposure <= MAX_POSITION, (t, side, pos, rest)

    @invariant()
    def fills_counted_once(self) -> None:
        for t in (T, NEXT_WEEK):
            heard = sum((f.count if f.side is BookSide.BID else -f.count)
                        for f in self.x.fills if f.trade_id in self.known_trades
                        and f.ticker == t)
            # The fills ledger holds each fill heard of exactly once, however often it came.
            assert self.trader.mirror.fills_position(t) == heard

    def teardown(self) -> None:
        """Let everything arrive, read back: the mirror matches the exchange exactly."""
        for w in self.writes:
            if not w.processed:
                w.processed = True
                w.answer = AmbiguousOutcome("dropped")
            if not w.answered:
                w.answered = True
                self.trader.answer(w, self.now_ms)
        while self.x.ws:
            self._deliver(self.x.ws.pop(0))
        self.now_ms += 60_000  # past the grace window of creates that never landed
        self.read_since = None
        self.read_starts()
        self.read_served()
        self.read_lands()
        mirror = self.trader.mirror
        for t in (T, NEXT_WEEK):
            assert mirror.position(t) == self.x.position.get(t, 0)
        got = sorted((o.order_id, o.price, o.remaining) for o in mirror.resting())
        want = sorted((o.order_id, o.price, o.remaining) for o in self.x.resting())
        assert got == want
        assert mirror.in_flight_keys() == set()


MirrorMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMirrorMachine = MirrorMachine.TestCase


class CoreMachine(MirrorMachine):
    """The same adversarial orderings, the decisions made by the engine core, and a weekly
    roll that may come with writes in flight (last week's orders are then cancelled)."""

    trader_class = CoreTrader

    @precondition(lambda self: self.trader.market == T)
    @rule()
    def roll(self) -> None:
        assert isinstance(self.trader, CoreTrader)
        self.trader.market = NEXT_WEEK


CoreMachine.TestCase.settings = MirrorMachine.TestCase.settings
TestCoreMachine = CoreMachine.TestCase


def test_reference_exchange_follows_the_amend_spec() -> None:
    """The model's amend ack reports fills by the amend and what rests after, not totals."""
    x = RefExchange()
    req = OrderRequest(ticker=T, side=BookSide.BID, price=4000, count=1000, client_order_id="c")
    ack = x.create(req)
    assert isinstance(ack, WriteAck)
    x.execute(x.orders[ack.order_id], 800)
    a = x.amend(ack.order_id, price=4100, count=900, cross=0)
    assert isinstance(a, WriteAck) and (a.remaining, a.filled) == (100, 0)
    a = x.amend(ack.order_id, price=4200, count=900, cross=0)
    assert isinstance(a, WriteAck) and (a.remaining, a.filled) == (None, None)
    assert x.orders[ack.order_id].status is OrderStatus.RESTING
