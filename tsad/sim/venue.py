"""The emulated exchange's state: events, market statuses, the matching engine, order groups,
settlements and pauses, with the fan-out of every change to the websocket hub.

The route modules read and change the exchange only through a `Venue`; the `Emulator`
(server) owns one and exposes it to tests and paper trading.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Final

from tsad.clock import SystemClock
from tsad.core.fees import fee_schedule
from tsad.core.market import Event, Market
from tsad.core.money import PRICE_ONE, format_count
from tsad.core.orders import BookSide
from tsad.errors import NotFound
from tsad.sim.api import ApiError
from tsad.sim.matching import MatchingEngine
from tsad.sim.order_groups import OrderGroup, OrderGroups
from tsad.sim.records import FillRow
from tsad.sim.stream import Hub
from tsad.sim.week import build_event, build_week, fair_values, pick_fair_center, seed_book
from tsad.sim.wire import market_json, money_str, rfc3339, ts_ms


__all__ = ["OUTSIDE", "START_BALANCE", "SettlementRow", "Venue"]

JSON = dict[str, Any]
OUTSIDE: Final = "outside"
START_BALANCE: Final = 10_000 * 1_000_000
SETTLEMENT_SOURCES: Final = [
    {"name": "TSA", "url": "https://www.tsa.gov/travel/passenger-volumes"},
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementRow:
    """One user's settlement of one market (``GET /portfolio/settlements``)."""

    user: str
    ticker: str
    event_ticker: str
    result: str
    yes_count: int
    yes_cost: int
    no_count: int
    no_cost: int
    revenue: int
    fees: int
    value: int
    ts: datetime

    def to_json(self) -> JSON:
        """Return the Settlement object."""
        return {
            "ticker": self.ticker,
            "exchange_index": 0,
            "event_ticker": self.event_ticker,
            "market_result": self.result,
            "yes_count_fp": format_count(self.yes_count),
            "yes_total_cost_dollars": money_str(self.yes_cost),
            "no_count_fp": format_count(self.no_count),
            "no_total_cost_dollars": money_str(self.no_cost),
            "revenue": self.revenue // 10_000,
            "settled_time": rfc3339(self.ts),
            "fee_cost": money_str(self.fees),
            "value": self.value // 100,  # cents per YES contract
        }


class Venue:
    """Everything the emulated exchange knows, and the actions that change it."""

    def __init__(self, *, clock: SystemClock, now: datetime, seed: int,
                 fair_center: float | None, user_id: Callable[[str], str],
                 id_nonce: int | None = None) -> None:
        """Build the first week's event with seeded outside books.

        Args:
            clock: the emulator's clock.
            now: the instant whose KXTSAW week is served.
            seed: makes the books deterministic.
            fair_center: the week's "true" weekly average; default from ``seed``.
            user_id: returns a user's public user id.
            id_nonce: mixed into every order, trade and group id; random by default, so ids
                never repeat across runs or instances (fix it for repeatable ids).
        """
        self.clock = clock
        self._seed = seed
        self._id_rng = random.Random(f"ids-{seed}")
        self._nonce = id_nonce if id_nonce is not None else random.SystemRandom().getrandbits(128)
        self.user_id = user_id
        self.engine = MatchingEngine(new_id=self.new_id)
        self.groups = OrderGroups(self.new_id)
        self.event: Event = build_event(now)
        self.fair_center: float = fair_center if fair_center is not None else pick_fair_center(seed)
        self.fair = fair_values(self.fair_center)
        self.markets: dict[str, Market] = {m.ticker: m for m in self.event.markets}
        self.created = self.event.markets[0].open_time or now
        self.status: dict[str, str] = dict.fromkeys(self.markets, "active")
        self.weeks: dict[str, Event] = {}
        self.results: dict[str, tuple[str, int, datetime]] = {}
        self.settlements: list[SettlementRow] = []
        self.exchange_active = True
        self.trading_active = True
        self.skip_seq: Callable[[], bool] = lambda: False
        self.hub = Hub(engine=self.engine, markets=self.markets, now=clock.now,
                       skip_seq=lambda: self.skip_seq())
        self.engine.add_account(OUTSIDE, str(uuid.uuid5(uuid.NAMESPACE_URL, "sim:outside")), 0,
                                unlimited=True)
        self._seed_books(self.event, random.Random(f"book-{seed}"), self.created)
        self.engine.drain()

    def new_id(self) -> str:
        """Return a fresh UUID-4 id: the seeded sequence mixed with this instance's nonce."""
        bits = self._id_rng.getrandbits(128) ^ self._nonce
        return str(uuid.UUID(int=bits, version=4))

    def _seed_books(self, event: Event, rng: random.Random, created: datetime) -> None:
        for m in event.markets:
            self.engine.add_market(m.ticker, m.grid)
            for so in seed_book(self.fair[int(m.floor_strike or 0)], rng):
                self.engine.place(
                    OUTSIDE, ticker=m.ticker, side=BookSide.BID if so.is_bid else BookSide.ASK,
                    price=so.price, count=so.count, client_order_id="", now=created,
                )

    # ----------------------------------------------------------------- events and markets

    @property
    def event_ticker(self) -> str:
        """Return the first week's event ticker."""
        return self.event.event_ticker

    def hosted_event(self, event_ticker: str) -> Event | None:
        """Return a hosted event (the first week's or an added one), or None."""
        if event_ticker == self.event.event_ticker:
            return self.event
        return self.weeks.get(event_ticker)

    def events(self) -> list[Event]:
        """Return every hosted event, the first week's first."""
        return [self.event, *self.weeks.values()]

    def set_event_fee_override(self, event_ticker: str, fee_type: str | None,
                               multiplier: float | None) -> None:
        """Set (or, with ``fee_type`` None, clear) an event's fee override: its markets'
        fills pay it, ``GET /events`` shows it, and ``event_fee_update`` announces it.

        Raises:
            KeyError: not a hosted event.
            ValueError: an unknown fee type or a negative multiplier.
        """
        event = self.hosted_event(event_ticker)
        if event is None:
            raise KeyError(event_ticker)
        schedule = None if fee_type is None else fee_schedule(fee_type, multiplier)
        multiplier = None if fee_type is None else multiplier
        event = replace(event, fee_type_override=fee_type, fee_multiplier_override=multiplier)
        if event_ticker == self.event.event_ticker:
            self.event = event
        else:
            self.weeks[event_ticker] = event
        for m in event.markets:
            if schedule is None:
                self.engine.fee_schedules.pop(m.ticker, None)
            else:
                self.engine.fee_schedules[m.ticker] = schedule
        self.hub.event_fee_update(event_ticker, fee_type, multiplier)

    def add_week(self, sunday: date) -> Event:
        """Host the week ending ``sunday`` too (see `Emulator.add_week`).

        Raises:
            ValueError: not a Sunday, or that week is already hosted.
        """
        event = build_week(sunday)
        if event.event_ticker == self.event_ticker or event.event_ticker in self.weeks:
            raise ValueError(f"week {event.event_ticker} is already hosted")
        self.weeks[event.event_ticker] = event
        for m in event.markets:
            self.markets[m.ticker] = m
            self.status[m.ticker] = "active"
        self._seed_books(event, random.Random(f"book-{self._seed}-{event.event_ticker}"),
                         event.markets[0].open_time or self.clock.now())
        self.publish()
        return event

    def market_json(self, ticker: str) -> JSON:
        """Return the Market object of a hosted market."""
        m = self.markets[ticker]
        res = self.results.get(ticker)
        if res is None:
            return market_json(m, self.engine, status=self.status[ticker], created=self.created)
        return market_json(m, self.engine, status=self.status[ticker], created=self.created,
                           result=res[0], settlement_value=res[1], settled=res[2])

    def event_json(self, event: Event, *, nested: bool) -> JSON:
        """Return the EventData object of a hosted event."""
        out: JSON = {
            "event_ticker": event.event_ticker,
            "series_ticker": event.series_ticker,
            "title": event.title,
            "sub_title": event.title,
            "collateral_return_type": "",
            "mutually_exclusive": False,
            "available_on_brokers": False,
            "exchange_index": 0,
            "settlement_sources": SETTLEMENT_SOURCES,
        }
        close = event.markets[0].close_time
        if close is not None:
            out["strike_date"] = rfc3339(close)
        if event.fee_type_override is not None:
            out["fee_type_override"] = event.fee_type_override
            out["fee_multiplier_override"] = event.fee_multiplier_override
        if nested:
            out["markets"] = [self.market_json(m.ticker) for m in event.markets]
        return out

    def check_writable(self, ticker: str, *, placing: bool) -> None:
        """Refuse an order write on a market that cannot take it now.

        Raises:
            ApiError: unknown market, market not active, exchange or trading paused (all 400:
                the V2 order writes document no 404 for a market).
        """
        if ticker not in self.markets:
            raise ApiError(400, "market_not_found", "market not found",
                           f"market {ticker} not found")
        if self.status[ticker] != "active":
            raise ApiError(400, "market_inactive", "market is not active",
                           f"market {ticker} is {self.status[ticker]}")
        if not self.exchange_active:
            raise ApiError(400, "exchange_paused", "exchange is paused")
        if placing and not self.trading_active:
            raise ApiError(400, "trading_paused", "trading is paused")

    # ----------------------------------------------------------------- exchange actions

    def pause(self, *, exchange: bool, active: bool) -> None:
        """Pause or resume trading (or the whole exchange); a pause cancels the orders that
        asked for it (``cancel_order_on_pause``)."""
        if exchange:
            self.exchange_active = active
        else:
            self.trading_active = active
        if not active:
            self.engine.cancel_where(self.clock.now(), lambda o: o.cancel_order_on_pause)
            self.publish()

    def close_event(self, event_ticker: str, *, cancel_resting: bool) -> None:
        """Close every market of an event (see `Emulator.close_event`).

        Raises:
            NotFound: unknown event.
        """
        event = self.hosted_event(event_ticker)
        if event is None:
            raise NotFound(f"unknown event {event_ticker}", status=404)
        targets = {m.ticker for m in event.markets}
        for t in targets:
            if self.status[t] in ("active", "inactive"):
                self.status[t] = "closed"
        if cancel_resting:
            self.engine.cancel_where(self.clock.now(), lambda o: o.ticker in targets)
        self.publish()

    def settle(self, ticker_or_event: str, value: float) -> None:
        """Settle one market or every market of an event (see `Emulator.settle`).

        Raises:
            NotFound: unknown ticker.
        """
        event = self.hosted_event(ticker_or_event)
        if event is not None:
            targets = [m.ticker for m in event.markets]
        elif ticker_or_event in self.markets:
            targets = [ticker_or_event]
        else:
            raise NotFound(f"unknown market or event {ticker_or_event}", status=404)
        now = self.clock.now()
        for t in targets:
            strike = self.markets[t].floor_strike or 0
            yes = value > strike if value > 1 or len(targets) > 1 else value >= 1
            payout = PRICE_ONE if yes else 0
            self._record_settlements(t, "yes" if yes else "no", payout, now)
            self.engine.settle(t, payout, now=now)
            self.status[t] = "finalized"
            self.results[t] = ("yes" if yes else "no", payout, now)
        self.publish()

    def _record_settlements(self, ticker: str, result: str, value: int, now: datetime) -> None:
        for acct in self.engine.accounts():
            ps = acct.positions.get(ticker)
            if acct.unlimited or ps is None:
                continue
            pos = ps.position
            revenue = pos * value if pos > 0 else -pos * (PRICE_ONE - value)
            self.settlements.append(SettlementRow(
                user=acct.user, ticker=ticker, event_ticker=self.markets[ticker].event_ticker,
                result=result, yes_count=max(pos, 0), yes_cost=ps.cost if pos > 0 else 0,
                no_count=max(-pos, 0), no_cost=ps.cost if pos < 0 else 0, revenue=revenue,
                fees=ps.fees, value=value, ts=now,
            ))

    # ----------------------------------------------------------------- order groups

    def trigger_group(self, group: OrderGroup) -> None:
        """Cancel a (just triggered) group's resting orders and announce the trigger."""
        group.triggered = True
        now = self.clock.now()
        self.engine.cancel_where(now, lambda o: o.order_group_id == group.group_id)
        self.group_update(group, "triggered")

    def group_update(self, group: OrderGroup, event_type: str) -> None:
        """Send an ``order_group_updates`` message to the group's owner."""
        limit = format_count(group.limit) if event_type in ("created", "limit_updated") else None
        self.hub.group_update(group.user, event_type, group.group_id, limit,
                              ts_ms(self.clock.now()))

    # ----------------------------------------------------------------- publishing

    def publish(self) -> None:
        """Fan the engine's pending events out, enforcing order-group limits on the fills."""
        events = self.engine.drain()
        while events:
            triggered: list[OrderGroup] = []
            for ev in events:
                if isinstance(ev, FillRow):
                    gid = self.engine.order(ev.user, ev.order_id).order_group_id
                    hit = self.groups.record(gid, ev.count, ev.ts) if gid else None
                    if hit is not None:
                        triggered.append(hit)
            self.hub.publish(events)
            for group in triggered:
                self.trigger_group(group)
            events = self.engine.drain()
