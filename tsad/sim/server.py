"""The emulated Kalshi exchange: one aiohttp server with REST, auth, rate limits and websocket.

Faithful to kalshi-api.md §2–§5 and §8: documented shapes only. Every registered key is a
separate user starting with $10,000. Market data is public; portfolio endpoints and the
websocket handshake need a valid RSA-PSS signature from a registered key, with a timestamp
within 30 s of the server clock. Order writes live under ``/portfolio/events/orders``; the
V1 write paths answer 410 ``deprecated_v1_order_endpoint``.

Rate limits are token buckets per user (§4.1): 10 tokens per request, batch create 10 per
item, batch cancel 2 per item, cancel-all 2 per cancelled order (at least 10, at most the
bucket's capacity so the kill switch always works on a full bucket). Requests without a
valid signature to public endpoints are not metered.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.clock import SystemClock
from tsad.core.exchange import OrderbookLevels
from tsad.core.market import Event, Market
from tsad.core.money import PRICE_ONE, format_count, format_price, parse_count, parse_price
from tsad.core.orders import BookSide, Order, OrderStatus
from tsad.errors import ExchangeError, NotFound
from tsad.kalshi.signing import verify_signature
from tsad.sim.faults import Faults
from tsad.sim.matching import BookOrder, MatchingEngine
from tsad.sim.stream import Hub
from tsad.sim.week import build_event, build_week, fair_values, pick_fair_center, seed_book
from tsad.sim.wire import (
    error_body,
    fill_json,
    market_json,
    money_str,
    order_json,
    position_json,
    rfc3339,
    ts_ms,
)


__all__ = ["TIERS", "Emulator", "RequestRecord"]

JSON = dict[str, Any]
PREFIX: Final = "/trade-api/v2"
WS_PATH: Final = "/trade-api/ws/v2"
START_BALANCE: Final = 10_000 * 1_000_000
OUTSIDE: Final = "outside"
MAX_SKEW_MS: Final = 30_000
# tier → (read rate, write rate, read capacity seconds, write capacity seconds), §4.1
TIERS: Final[dict[str, tuple[int, int, int, int]]] = {
    "basic": (200, 100, 2, 1),
    "advanced": (300, 300, 2, 2),
    "expert": (600, 600, 1, 2),
    "premier": (1000, 1000, 1, 2),
    "paragon": (2000, 2000, 1, 2),
    "prime": (4000, 4000, 1, 2),
    "prestige": (10000, 8000, 1, 2),
}
_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("sim_user", default=None)
_PRIVATE = ("/portfolio", "/account/limits")
_V1_WRITES = (
    ("POST", "/portfolio/orders"),
    ("POST", "/portfolio/orders/batched"),
    ("DELETE", "/portfolio/orders/batched"),
    ("POST", "/portfolio/orders/batched/cancel"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """One REST request the emulator received."""

    method: str
    path: str
    status: int


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class _Bucket:
    """A token bucket refilled continuously."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = now

    def take(self, cost: float, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if cost > self.tokens:
            return False
        self.tokens -= cost
        return True


def _bad(field: str, why: str = "is required") -> _ApiError:
    return _ApiError(400, "invalid_order", "invalid order", f"{field} {why}")


class Emulator:
    """A local Kalshi exchange for tests and paper trading (see module docstring)."""

    def __init__(
        self,
        *,
        now: datetime | None = None,
        seed: int = 0,
        outside_traders: bool = False,
        trader_rate: float = 2.0,
        fair_drift: float = 0.0,
        tier: str = "basic",
        host: str = "127.0.0.1",
        port: int = 0,
        fair_center: float | None = None,
    ) -> None:
        """Build the emulator (nothing is bound until `start`).

        Args:
            now: the instant whose KXTSAW week is served (default: the wall clock).
            seed: makes the seeded books and the outside traders deterministic.
            outside_traders: run background traders that add, cancel and take liquidity.
            trader_rate: outside trader actions per second (on average).
            fair_drift: relative size of the random step the week's fair centre takes about
                every 10 s while outside traders run (0: it never moves).
            tier: rate-limit tier name (``basic`` … ``prestige``).
            host: address to bind.
            port: port to bind (0 = a free port).
            fair_center: the week's "true" weekly average (persons); default from ``seed``.

        Raises:
            ValueError: an unknown tier.
        """
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; expected one of {sorted(TIERS)}")
        self._clock = SystemClock()
        self._host, self._port = host, port
        self._tier = tier
        self._seed = seed
        self._outside_traders = outside_traders
        self.trader_rate = trader_rate
        self.fair_drift = fair_drift
        self._id_rng = random.Random(f"ids-{seed}")
        self.engine = MatchingEngine(new_id=self._new_id)
        self.event: Event = build_event(now or self._clock.now())
        self.event_ticker = self.event.event_ticker
        self.fair_center: float = fair_center if fair_center is not None else pick_fair_center(seed)
        self.fair = fair_values(self.fair_center)
        self.markets: dict[str, Market] = {m.ticker: m for m in self.event.markets}
        self._created = self.event.markets[0].open_time or self._clock.now()
        self._status: dict[str, str] = dict.fromkeys(self.markets, "active")
        # Further weeks hosted next to the first (`add_week`), by event ticker.
        self._weeks: dict[str, Event] = {}
        self._result: dict[str, tuple[str, int, datetime]] = {}
        self._exchange_active = True
        self._trading_active = True
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._user_ids: dict[str, str] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.request_log: list[RequestRecord] = []
        self.write_times: list[tuple[str, float]] = []
        self.hub = Hub(
            engine=self.engine, markets=self.markets, now=self._clock.now,
            skip_seq=lambda: self.faults.take_skip(),
        )
        self.faults = Faults(self.hub.drop_all)
        self._runner: web.AppRunner | None = None
        self._traders: asyncio.Task[None] | None = None
        self.rest_url = ""
        self.ws_url = ""
        self.engine.add_account(OUTSIDE, str(uuid.uuid5(uuid.NAMESPACE_URL, "sim:outside")), 0,
                                unlimited=True)
        rng = random.Random(f"book-{seed}")
        for m in self.event.markets:
            self.engine.add_market(m.ticker, m.grid)
            strike = int(m.floor_strike or 0)
            for so in seed_book(self.fair[strike], rng):
                self.engine.place(
                    OUTSIDE, ticker=m.ticker, side=BookSide.BID if so.is_bid else BookSide.ASK,
                    price=so.price, count=so.count, client_order_id="", now=self._created,
                )
        self.engine.drain()

    def __repr__(self) -> str:
        return f"Emulator(event={self.event_ticker!r}, rest_url={self.rest_url!r})"

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind the server and start the outside traders (if enabled)."""
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        self.rest_url = f"http://{self._host}:{port}{PREFIX}"
        self.ws_url = f"ws://{self._host}:{port}{WS_PATH}"
        if self._outside_traders:
            from tsad.sim.traders import run_traders

            self._traders = asyncio.create_task(run_traders(self, random.Random(f"t-{self._seed}")))

    async def stop(self) -> None:
        """Stop the traders, close websockets and the server."""
        if self._traders is not None:
            self._traders.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._traders
            self._traders = None
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----------------------------------------------------------------- test and paper API

    def register_key(self, key_id: str, public_key_pem: bytes) -> None:
        """Register an API key; it becomes a user with its own account ($10,000).

        Raises:
            ValueError: not a PEM RSA public key.
        """
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("only RSA public keys are supported")
        self._keys[key_id] = key
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-user:{len(self._user_ids)}"))
        self._user_ids.setdefault(key_id, user_id)
        self.engine.add_account(key_id, self._user_ids[key_id], START_BALANCE)

    def set_trading_active(self, active: bool) -> None:
        """Pause or resume trading (place/amend rejected; cancels allowed)."""
        self._trading_active = active
        if not active:
            self.engine.cancel_where(self._clock.now(), lambda o: o.cancel_order_on_pause)
            self._publish()

    def set_exchange_active(self, active: bool) -> None:
        """Pause or resume the whole exchange (every order write rejected)."""
        self._exchange_active = active
        if not active:
            self.engine.cancel_where(self._clock.now(), lambda o: o.cancel_order_on_pause)
            self._publish()

    def pause(self) -> None:
        """Pause trading (shorthand for ``set_trading_active(False)``)."""
        self.set_trading_active(False)

    def resume(self) -> None:
        """Resume trading and the exchange."""
        self.set_exchange_active(True)
        self.set_trading_active(True)

    def add_week(self, sunday: date) -> Event:
        """Host the event of the week ending ``sunday`` as well, with seeded outside books.

        The first week stays the emulator's own (``event``, ``event_ticker``, the schedule);
        the added week's event and markets are served by the same REST endpoints, order
        writes and websocket channels, so a client can roll over to it.

        Args:
            sunday: the Sunday ending the week (America/New_York).

        Returns:
            The added event (its markets ``active``).

        Raises:
            ValueError: ``sunday`` is not a Sunday, or that week is already hosted.
        """
        event = build_week(sunday)
        if event.event_ticker == self.event_ticker or event.event_ticker in self._weeks:
            raise ValueError(f"week {event.event_ticker} is already hosted")
        self._weeks[event.event_ticker] = event
        rng = random.Random(f"book-{self._seed}-{event.event_ticker}")
        created = event.markets[0].open_time or self._clock.now()
        for m in event.markets:
            self.markets[m.ticker] = m
            self._status[m.ticker] = "active"
            self.engine.add_market(m.ticker, m.grid)
            for so in seed_book(self.fair[int(m.floor_strike or 0)], rng):
                self.engine.place(
                    OUTSIDE, ticker=m.ticker, side=BookSide.BID if so.is_bid else BookSide.ASK,
                    price=so.price, count=so.count, client_order_id="", now=created,
                )
        self._publish()
        return event

    def set_market_status(self, ticker: str, status: str) -> None:
        """Set one market's status (``initialized``, ``active``, ``inactive``, ``closed``…).

        Kalshi sends no websocket message when a market opens (initialized → active,
        kalshi-api.md §5.5); neither does this.

        Raises:
            NotFound: unknown market.
        """
        if ticker not in self._status:
            raise NotFound(f"unknown market {ticker}", status=404)
        self._status[ticker] = status

    def close_event(self, event_ticker: str, *, cancel_resting: bool = True) -> None:
        """Close every market of an event, as its ``close_time`` passing does (§3.4.1).

        Afterwards every order write on those markets, cancels included, is rejected with
        ``market_inactive``.

        Args:
            event_ticker: the first week's or an added week's event.
            cancel_resting: also cancel the resting orders there (Kalshi does so shortly
                after the close); False leaves them resting, as in the moments after close.

        Raises:
            NotFound: unknown event.
        """
        event = self._hosted_event(event_ticker)
        if event is None:
            raise NotFound(f"unknown event {event_ticker}", status=404)
        targets = {m.ticker for m in event.markets}
        for t in targets:
            if self._status[t] in ("active", "inactive"):
                self._status[t] = "closed"
        if cancel_resting:
            self.engine.cancel_where(self._clock.now(), lambda o: o.ticker in targets)
        self._publish()

    def _hosted_event(self, event_ticker: str) -> Event | None:
        if event_ticker == self.event_ticker:
            return self.event
        return self._weeks.get(event_ticker)

    def settle(self, ticker_or_event: str, value: float) -> None:
        """Settle one market or every market of the event.

        ``value`` is the weekly average (persons) deciding each market (YES iff strictly above
        its floor strike); for a single market, a value of 0 or 1 is the result itself
        (1 = YES).

        Raises:
            NotFound: unknown ticker.
        """
        if ticker_or_event == self.event_ticker:
            targets = [m.ticker for m in self.event.markets]
        elif ticker_or_event in self._weeks:
            targets = [m.ticker for m in self._weeks[ticker_or_event].markets]
        elif ticker_or_event in self.markets:
            targets = [ticker_or_event]
        else:
            raise NotFound(f"unknown market or event {ticker_or_event}", status=404)
        now = self._clock.now()
        for t in targets:
            strike = self.markets[t].floor_strike or 0
            yes = value > strike if value > 1 or len(targets) > 1 else value >= 1
            payout = PRICE_ONE if yes else 0
            self.engine.settle(t, payout, now=now)
            self._status[t] = "finalized"
            self._result[t] = ("yes" if yes else "no", payout, now)
        self._publish()

    def add_order(
        self, ticker: str, side: BookSide, price: int, count: int, *, user: str = OUTSIDE,
        time_in_force: str = "good_till_canceled",
    ) -> str:
        """Place an order for ``user`` (default outside liquidity); returns the order id.

        It takes liquidity if it crosses; the rest rests (good-till-cancelled) or is
        cancelled (``immediate_or_cancel``).
        """
        order = self.engine.place(
            user, ticker=ticker, side=side, price=price, count=count, client_order_id="",
            now=self._clock.now(), time_in_force=time_in_force,
        )
        self._publish()
        return order.order_id

    def cancel_order(self, order_id: str, *, user: str = OUTSIDE) -> None:
        """Cancel an order of ``user`` (default outside)."""
        self.engine.cancel(user, order_id, now=self._clock.now())
        self._publish()

    def resting_orders(self, user: str | None = None) -> list[Order]:
        """Return the resting orders (of one user: a registered key id or ``outside``)."""
        return [
            o.to_order() for o in self.engine.orders(user)
            if o.status is OrderStatus.RESTING
        ]

    def book_levels(self, ticker: str) -> OrderbookLevels:
        """Return the market's book as the REST endpoint reports it."""
        bids, asks = self.engine.levels(ticker)
        return OrderbookLevels(
            ticker=ticker, yes=tuple(bids), no=tuple(sorted((PRICE_ONE - p, c) for p, c in asks))
        )

    def balance(self, user: str) -> int:
        """Return a user's cash balance in money units."""
        return self.engine.account(user).balance

    def position(self, user: str, ticker: str) -> int:
        """Return a user's net position (count units, + long YES)."""
        ps = self.engine.account(user).positions.get(ticker)
        return ps.position if ps else 0

    @property
    def trading_active(self) -> bool:
        """Tell whether trading is active."""
        return self._trading_active and self._exchange_active

    # ----------------------------------------------------------------- internals

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _publish(self) -> None:
        self.hub.publish(self.engine.drain())

    def _authenticate(self, request: web.Request, path: str) -> str | None:
        """Return the user of a validly signed request, None if unsigned; raise if bad."""
        key_id = request.headers.get("KALSHI-ACCESS-KEY")
        ts = request.headers.get("KALSHI-ACCESS-TIMESTAMP")
        sig = request.headers.get("KALSHI-ACCESS-SIGNATURE")
        if not key_id and not ts and not sig:
            return None
        unauthorized = _ApiError(
            401, "authentication_error", "authentication_error",
            "rpc error: code = Unauthenticated desc = INCORRECT_API_KEY_SIGNATURE",
        )
        if not key_id or not ts or not sig or key_id not in self._keys:
            raise unauthorized
        try:
            ts_val = int(ts)
        except ValueError:
            raise unauthorized from None
        if abs(ts_val - self._clock.time_ms()) > MAX_SKEW_MS:
            raise unauthorized
        if not verify_signature(self._keys[key_id], ts + request.method.upper() + path, sig):
            raise unauthorized
        return key_id

    def _bucket(self, user: str, kind: str) -> _Bucket:
        b = self._buckets.get((user, kind))
        if b is None:
            read, write, rcap, wcap = TIERS[self._tier]
            rate, cap = (read, read * rcap) if kind == "read" else (write, write * wcap)
            b = self._buckets[(user, kind)] = _Bucket(rate, cap, self._clock.monotonic())
        return b

    async def _cost(self, request: web.Request, sub: str) -> int:
        if request.method == "POST" and sub == "/portfolio/events/orders/batched":
            return 10 * max(1, len(await self._items(request)))
        if request.method == "DELETE" and sub == "/portfolio/events/orders/batched":
            return 2 * max(1, len(await self._items(request)))
        if request.method == "DELETE" and sub == "/portfolio/events/orders":
            return 0  # charged by the handler once the count is known
        return 10

    @staticmethod
    async def _items(request: web.Request) -> list[Any]:
        try:
            body = await request.json()
        except ValueError:
            return []
        items = body.get("orders") if isinstance(body, dict) else None
        return items if isinstance(items, list) else []

    @web.middleware
    async def _middleware(
        self, request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        path = request.path
        received = time.perf_counter()
        if path == WS_PATH:
            return await handler(request)
        sub = path[len(PREFIX):] if path.startswith(PREFIX) else path
        is_write = request.method in ("POST", "DELETE", "PUT")
        delay: float | None = None
        try:
            failure = self.faults.take_failure()
            if failure is not None:
                if failure == 429:
                    raise _ApiError(429, "", "")
                raise _ApiError(failure, "internal_error", "injected failure")
            private = sub.startswith(_PRIVATE)
            try:
                user = self._authenticate(request, path)
            except _ApiError:
                if private:
                    raise
                user = None  # public data: a bad signature is simply not metered
            if private and user is None:
                raise _ApiError(401, "authentication_error", "authentication_error",
                                "missing KALSHI-ACCESS-* headers")
            _USER.set(user)
            if user is not None:
                kind = "write" if is_write else "read"
                if not self._bucket(user, kind).take(
                    await self._cost(request, sub), self._clock.monotonic()
                ):
                    raise _ApiError(429, "", "")
            if is_write and sub.startswith("/portfolio/events/orders"):
                self.write_times.append((self._write_kind(request.method, sub), received))
                delay = self.faults.take_delay()
            response = await handler(request)
        except _ApiError as exc:
            response = self._error_response(exc)
        except web.HTTPException as exc:
            code = "not_found" if exc.status == 404 else "bad_request"
            response = web.json_response(error_body(code, exc.reason), status=exc.status)
        self.request_log.append(RequestRecord(method=request.method, path=path,
                                              status=response.status))
        if delay:
            await asyncio.sleep(delay)
        return response

    @staticmethod
    def _write_kind(method: str, sub: str) -> str:
        if sub.endswith("/batched"):
            return "batch_create" if method == "POST" else "batch_cancel"
        if sub.endswith("/amend"):
            return "amend"
        if sub.endswith("/decrease"):
            return "decrease"
        if sub == "/portfolio/events/orders":
            return "create" if method == "POST" else "cancel_all"
        return "cancel"

    @staticmethod
    def _error_response(exc: _ApiError) -> web.Response:
        if exc.status == 429:
            return web.json_response({"error": "too many requests"}, status=429)
        return web.json_response(error_body(exc.code, exc.message, exc.details),
                                 status=exc.status)

    @staticmethod
    def _from_exchange_error(exc: ExchangeError) -> _ApiError:
        code = exc.code or "invalid_order"
        return _ApiError(exc.status or 400, code, code, str(exc))

    def _routes(self, app: web.Application) -> None:
        r = app.router
        p = PREFIX
        r.add_get(WS_PATH, self._ws)
        r.add_get(p + "/exchange/status", self._exchange_status)
        r.add_get(p + "/exchange/schedule", self._schedule)
        r.add_get(p + "/series/{series}", self._series)
        r.add_get(p + "/events", self._events)
        r.add_get(p + "/events/{event}", self._event)
        r.add_get(p + "/markets", self._markets)
        r.add_get(p + "/markets/trades", self._trades)
        r.add_get(p + "/markets/{ticker}", self._market)
        r.add_get(p + "/markets/{ticker}/orderbook", self._orderbook)
        r.add_get(p + "/account/limits", self._limits)
        r.add_get(p + "/account/endpoint_costs", self._endpoint_costs)
        r.add_get(p + "/portfolio/balance", self._balance)
        r.add_get(p + "/portfolio/orders", self._orders)
        r.add_get(p + "/portfolio/orders/{order_id}", self._order)
        r.add_get(p + "/portfolio/positions", self._positions)
        r.add_get(p + "/portfolio/fills", self._fills)
        r.add_get(p + "/portfolio/settlements", self._settlements)
        r.add_post(p + "/portfolio/events/orders", self._create)
        r.add_delete(p + "/portfolio/events/orders", self._cancel_all)
        r.add_post(p + "/portfolio/events/orders/batched", self._batch_create)
        r.add_delete(p + "/portfolio/events/orders/batched", self._batch_cancel)
        r.add_delete(p + "/portfolio/events/orders/{order_id}", self._cancel)
        r.add_post(p + "/portfolio/events/orders/{order_id}/amend", self._amend)
        r.add_post(p + "/portfolio/events/orders/{order_id}/decrease", self._decrease)
        for method, path in _V1_WRITES:
            r.add_route(method, p + path, self._v1)
        r.add_delete(p + "/portfolio/orders/{order_id}", self._v1)
        r.add_post(p + "/portfolio/orders/{order_id}/amend", self._v1)
        r.add_post(p + "/portfolio/orders/{order_id}/decrease", self._v1)

    # ----------------------------------------------------------------- websocket

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self._authenticate(request, WS_PATH)
        except _ApiError as exc:
            return self._error_response(exc)
        if user is None:
            return self._error_response(_ApiError(
                401, "authentication_error", "authentication_error",
                "missing KALSHI-ACCESS-* headers",
            ))
        return await self.hub.handle(request, user, self._user_ids[user])

    # ----------------------------------------------------------------- public reads

    async def _exchange_status(self, request: web.Request) -> web.Response:
        body = {
            "exchange_active": self._exchange_active,
            "trading_active": self.trading_active,
            "intra_exchange_transfers_active": self._exchange_active,
            "exchange_index_statuses": [{
                "exchange_index": 0, "description": "event contracts",
                "exchange_active": self._exchange_active, "trading_active": self.trading_active,
                "intra_exchange_transfers_active": self._exchange_active,
            }],
        }
        return web.json_response(body)

    async def _schedule(self, request: web.Request) -> web.Response:
        day = [{"open_time": "00:00", "close_time": "23:59"}]
        hours = {d: day for d in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                  "saturday", "sunday")}
        m0 = self.event.markets[0]
        assert m0.open_time is not None and m0.close_time is not None
        return web.json_response({"schedule": {
            "standard_hours": [{"start_time": rfc3339(m0.open_time),
                                "end_time": rfc3339(m0.close_time), **hours}],
            "maintenance_windows": [],
        }})

    async def _series(self, request: web.Request) -> web.Response:
        if request.match_info["series"] != self.event.series_ticker:
            raise _ApiError(404, "not_found", "series not found")
        return web.json_response({"series": {
            "ticker": self.event.series_ticker,
            "frequency": "weekly",
            "title": "TSA check-ins weekly average",
            "category": "Transportation",
            "tags": ["TSA"],
            "settlement_sources": [{"name": "TSA", "url": "https://www.tsa.gov/travel/passenger-volumes"}],
            "contract_url": "",
            "contract_terms_url": "",
            "fee_type": "quadratic",
            "fee_multiplier": 1,
            "additional_prohibitions": [],
            "exchange_index": 0,
        }})

    def _market_json(self, ticker: str) -> JSON:
        m = self.markets[ticker]
        res = self._result.get(ticker)
        if res is None:
            return market_json(m, self.engine, status=self._status[ticker], created=self._created)
        return market_json(m, self.engine, status=self._status[ticker], created=self._created,
                           result=res[0], settlement_value=res[1], settled=res[2])

    def _event_json(self, nested: bool, event: Event | None = None) -> JSON:
        event = event or self.event
        out: JSON = {
            "event_ticker": event.event_ticker,
            "series_ticker": event.series_ticker,
            "title": event.title,
            "sub_title": event.title,
            "collateral_return_type": "",
            "mutually_exclusive": False,
            "available_on_brokers": False,
            "exchange_index": 0,
        }
        close = event.markets[0].close_time
        if close is not None:
            out["strike_date"] = rfc3339(close)
        if nested:
            out["markets"] = [self._market_json(m.ticker) for m in event.markets]
        return out

    @staticmethod
    def _page(request: web.Request, rows: list[Any], *, default: int, maximum: int,
              ) -> tuple[list[Any], str]:
        try:
            limit = int(request.query.get("limit", default))
            start = int(request.query.get("cursor") or 0)
        except ValueError:
            raise _ApiError(400, "invalid_parameters", "invalid limit or cursor") from None
        if not 1 <= limit <= maximum or start < 0:
            raise _ApiError(400, "invalid_parameters", "limit or cursor out of range")
        page = rows[start:start + limit]
        cursor = str(start + limit) if start + limit < len(rows) else ""
        return page, cursor

    @staticmethod
    def _flag(request: web.Request, name: str) -> bool:
        return request.query.get(name, "false").lower() == "true"

    async def _events(self, request: web.Request) -> web.Response:
        q = request.query
        nested = self._flag(request, "with_nested_markets")
        rows: list[JSON] = []
        for event in (self.event, *self._weeks.values()):
            if q.get("series_ticker") not in (None, "", event.series_ticker):
                continue
            if q.get("tickers") and event.event_ticker not in q["tickers"].split(","):
                continue
            status = q.get("status")
            if status and not any(self._status_matches(m.ticker, status)
                                  for m in event.markets):
                continue
            rows.append(self._event_json(nested, event))
        page, cursor = self._page(request, rows, default=200, maximum=200)
        return web.json_response({"events": page, "cursor": cursor})

    async def _event(self, request: web.Request) -> web.Response:
        event = self._hosted_event(request.match_info["event"])
        if event is None:
            raise _ApiError(404, "not_found", "event not found")
        body = self._event_json(self._flag(request, "with_nested_markets"), event)
        return web.json_response({"event": body, "markets": [
            self._market_json(m.ticker) for m in event.markets
        ]})

    def _status_matches(self, ticker: str, status: str) -> bool:
        mapping = {"open": "active", "unopened": "initialized", "paused": "inactive",
                   "closed": "closed", "settled": "finalized"}
        if status not in mapping:
            raise _ApiError(400, "invalid_parameters", f"unknown status {status!r}")
        return self._status[ticker] == mapping[status]

    async def _markets(self, request: web.Request) -> web.Response:
        q = request.query
        tickers = list(self.markets)
        if q.get("event_ticker"):
            tickers = [t for t in tickers if self.markets[t].event_ticker == q["event_ticker"]]
        if q.get("series_ticker") and q["series_ticker"] != self.event.series_ticker:
            tickers = []
        if q.get("tickers"):
            wanted = set(q["tickers"].split(","))
            tickers = [t for t in tickers if t in wanted]
        if q.get("status"):
            tickers = [t for t in tickers if self._status_matches(t, q["status"])]
        page, cursor = self._page(request, tickers, default=100, maximum=1000)
        return web.json_response({"markets": [self._market_json(t) for t in page],
                                  "cursor": cursor})

    def _known(self, ticker: str) -> str:
        if ticker not in self.markets:
            raise _ApiError(404, "not_found", f"market {ticker} not found")
        return ticker

    async def _market(self, request: web.Request) -> web.Response:
        t = self._known(request.match_info["ticker"])
        return web.json_response({"market": self._market_json(t)})

    async def _orderbook(self, request: web.Request) -> web.Response:
        t = self._known(request.match_info["ticker"])
        levels = self.book_levels(t)
        try:
            depth = int(request.query.get("depth", 0))
        except ValueError:
            raise _ApiError(400, "invalid_parameters", "bad depth") from None
        yes, no = list(levels.yes), list(levels.no)
        if depth > 0:
            yes, no = yes[-depth:], no[-depth:]
        return web.json_response({"orderbook_fp": {
            "yes_dollars": [[format_price(p), format_count(c)] for p, c in yes],
            "no_dollars": [[format_price(p), format_count(c)] for p, c in no],
        }})

    async def _trades(self, request: web.Request) -> web.Response:
        rows = list(reversed(self.engine.trades))
        if request.query.get("ticker"):
            rows = [r for r in rows if r.ticker == request.query["ticker"]]
        page, cursor = self._page(request, rows, default=100, maximum=1000)
        return web.json_response({"trades": [{
            "trade_id": r.trade_id, "ticker": r.ticker, "count_fp": format_count(r.count),
            "yes_price_dollars": format_price(r.price),
            "no_price_dollars": format_price(PRICE_ONE - r.price),
            "taker_outcome_side": "yes" if r.taker_side is BookSide.BID else "no",
            "taker_book_side": str(r.taker_side),
            "taker_side": "yes" if r.taker_side is BookSide.BID else "no",
            "created_time": rfc3339(r.ts), "is_block_trade": False,
        } for r in page], "cursor": cursor})

    async def _endpoint_costs(self, request: web.Request) -> web.Response:
        return web.json_response({"default_cost": 10, "endpoint_costs": [
            {"method": "DELETE", "path": "/portfolio/events/orders/batched", "cost": 2},
        ]})

    # ----------------------------------------------------------------- private reads

    @staticmethod
    def _user(request: web.Request) -> str:
        user = _USER.get()
        if user is None:
            raise _ApiError(401, "authentication_error", "authentication_error")
        return user

    async def _limits(self, request: web.Request) -> web.Response:
        read, write, rcap, wcap = TIERS[self._tier]
        return web.json_response({
            "usage_tier": self._tier,
            "read": {"refill_rate": read, "bucket_capacity": read * rcap},
            "write": {"refill_rate": write, "bucket_capacity": write * wcap},
            "grants": [],
        })

    async def _balance(self, request: web.Request) -> web.Response:
        acct = self.engine.account(self._user(request))
        value = acct.balance + sum(ps.cost for ps in acct.positions.values())
        return web.json_response({
            "balance": acct.balance // 10_000,
            "balance_dollars": money_str(acct.balance),
            "portfolio_value": value // 10_000,
            "updated_ts": int(self._clock.now().timestamp()),
            "balance_breakdown": [{"exchange_index": 0, "balance": money_str(acct.balance)}],
        })

    async def _orders(self, request: web.Request) -> web.Response:
        user = self._user(request)
        q = request.query
        rows = list(reversed(self.engine.orders(user)))
        if q.get("ticker"):
            rows = [o for o in rows if o.ticker == q["ticker"]]
        if q.get("event_ticker"):
            events = set(q["event_ticker"].split(","))
            rows = [o for o in rows if self.markets[o.ticker].event_ticker in events]
        if q.get("status"):
            if q["status"] not in ("resting", "canceled", "executed"):
                raise _ApiError(400, "invalid_parameters", f"unknown status {q['status']!r}")
            rows = [o for o in rows if o.status == q["status"]]
        page, cursor = self._page(request, rows, default=100, maximum=1000)
        uid = self._user_ids[user]
        return web.json_response({"orders": [order_json(o, uid) for o in page], "cursor": cursor})

    async def _order(self, request: web.Request) -> web.Response:
        user = self._user(request)
        try:
            o = self.engine.order(user, request.match_info["order_id"])
        except NotFound:
            raise _ApiError(404, "not_found", "order not found") from None
        return web.json_response({"order": order_json(o, self._user_ids[user])})

    async def _positions(self, request: web.Request) -> web.Response:
        acct = self.engine.account(self._user(request))
        q = request.query
        rows = [(t, ps) for t, ps in acct.positions.items() if self._status[t] != "finalized"]
        if q.get("ticker"):
            rows = [r for r in rows if r[0] == q["ticker"]]
        if q.get("event_ticker"):
            rows = [r for r in rows if self.markets[r[0]].event_ticker == q["event_ticker"]]
        filters = [f for f in q.get("count_filter", "").split(",") if f]
        if "position" in filters:
            rows = [r for r in rows if r[1].position]
        if "total_traded" in filters:
            rows = [r for r in rows if r[1].traded]
        page, cursor = self._page(request, rows, default=100, maximum=1000)
        event_positions = []
        if page:
            by_event: dict[str, list[Any]] = {}
            for r in rows:
                by_event.setdefault(self.markets[r[0]].event_ticker, []).append(r)
            for event_ticker, ev_rows in by_event.items():
                event_positions.append({
                    "event_ticker": event_ticker,
                    "total_cost_dollars": money_str(sum(ps.traded for _, ps in ev_rows)),
                    "total_cost_shares_fp": format_count(sum(ps.volume for _, ps in ev_rows)),
                    "event_exposure_dollars": money_str(sum(ps.cost for _, ps in ev_rows)),
                    "realized_pnl_dollars": money_str(sum(ps.realized for _, ps in ev_rows)),
                    "fees_paid_dollars": money_str(sum(ps.fees for _, ps in ev_rows)),
                })
        return web.json_response({
            "market_positions": [position_json(t, ps) for t, ps in page],
            "event_positions": event_positions,
            "cursor": cursor,
        })

    async def _fills(self, request: web.Request) -> web.Response:
        user = self._user(request)
        q = request.query
        rows = [f for f in reversed(self.engine.fills) if f.user == user]
        if q.get("ticker"):
            rows = [f for f in rows if f.ticker == q["ticker"]]
        if q.get("order_id"):
            rows = [f for f in rows if f.order_id == q["order_id"]]
        try:
            if q.get("min_ts"):
                rows = [f for f in rows if f.ts.timestamp() >= int(q["min_ts"])]
            if q.get("max_ts"):
                rows = [f for f in rows if f.ts.timestamp() <= int(q["max_ts"])]
        except ValueError:
            raise _ApiError(400, "invalid_parameters", "bad min_ts/max_ts") from None
        page, cursor = self._page(request, rows, default=100, maximum=1000)
        return web.json_response({"fills": [fill_json(f) for f in page], "cursor": cursor})

    async def _settlements(self, request: web.Request) -> web.Response:
        return web.json_response({"settlements": [], "cursor": ""})

    # ----------------------------------------------------------------- writes

    async def _v1(self, request: web.Request) -> web.Response:
        raise _ApiError(410, "deprecated_v1_order_endpoint", "Please switch to the V2 endpoints",
                        "V1 order write endpoints were removed; use /portfolio/events/orders")

    @staticmethod
    async def _body(request: web.Request) -> JSON:
        try:
            body = await request.json()
        except ValueError:
            raise _ApiError(400, "invalid_parameters", "request body is not JSON") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "invalid_parameters", "request body must be an object")
        return body

    def _check_writable(self, ticker: str, *, placing: bool) -> None:
        if ticker not in self.markets:
            raise _ApiError(404, "not_found", f"market {ticker} not found")
        if self._status[ticker] != "active":
            raise _ApiError(400, "market_inactive", "market is not active",
                            f"market {ticker} is {self._status[ticker]}")
        if not self._exchange_active:
            raise _ApiError(400, "exchange_paused", "exchange is paused")
        if placing and not self._trading_active:
            raise _ApiError(400, "trading_paused", "trading is paused")

    def _parse_create(self, body: JSON) -> JSON:
        out: JSON = {}
        for field in ("ticker", "side", "count", "price", "time_in_force",
                      "self_trade_prevention_type"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise _bad(field)
        if body["side"] not in ("bid", "ask"):
            raise _bad("side", "must be bid or ask")
        try:
            out["price"] = parse_price(body["price"])
        except ValueError:
            raise _bad("price", "is not a decimal price") from None
        try:
            out["count"] = parse_count(body["count"])
        except ValueError:
            raise _ApiError(400, "invalid_order_size", "invalid order size",
                            "count is not a decimal count") from None
        if out["count"] <= 0:
            raise _ApiError(400, "invalid_order_size", "invalid order size",
                            "count must be positive")
        coid = body.get("client_order_id", "")
        if not isinstance(coid, str):
            raise _bad("client_order_id", "must be a string")
        exp = body.get("expiration_time")
        if exp is not None:
            if body["time_in_force"] == "immediate_or_cancel":
                raise _ApiError(400, "invalid_order", "invalid order",
                                "Cannot specify both immediate_or_cancel and expiration_ts")
            if not isinstance(exp, int) or exp <= self._clock.now().timestamp():
                raise _ApiError(400, "invalid_order", "invalid order",
                                "Expiration timestamp must be in the future")
        for flag in ("post_only", "cancel_order_on_pause", "reduce_only"):
            if not isinstance(body.get(flag, False), bool):
                raise _bad(flag, "must be a boolean")
        out.update(
            ticker=body["ticker"], side=BookSide(body["side"]), client_order_id=coid,
            time_in_force=body["time_in_force"],
            self_trade_prevention_type=body["self_trade_prevention_type"],
            post_only=body.get("post_only", False),
            cancel_order_on_pause=body.get("cancel_order_on_pause", False),
        )
        return out

    def _create_one(self, user: str, body: JSON) -> JSON:
        args = self._parse_create(body)
        self._check_writable(args["ticker"], placing=True)
        try:
            order = self.engine.place(user, now=self._clock.now(), **args)
        except ExchangeError as exc:
            raise self._from_exchange_error(exc) from None
        finally:
            self._publish()
        return self._ack(order, with_counts=True)

    def _ack(self, order: BookOrder, *, with_counts: bool) -> JSON:
        out: JSON = {"order_id": order.order_id, "client_order_id": order.client_order_id}
        if with_counts:
            out["fill_count"] = format_count(order.filled)
            out["remaining_count"] = format_count(order.remaining)
            if order.filled:
                fills = [f for f in self.engine.fills if f.order_id == order.order_id]
                notional = sum(f.price * f.count for f in fills)
                fees = sum(f.fee for f in fills)
                out["average_fill_price"] = format_price(notional // order.filled)
                out["average_fee_paid"] = format_price(-(-fees // order.filled))
        out["ts_ms"] = ts_ms(order.updated)
        return out

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(self._create_one(self._user(request), body), status=201)

    async def _batch_create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        items = body.get("orders")
        if not isinstance(items, list) or not items:
            raise _bad("orders")
        user = self._user(request)
        results = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise _bad("orders[]", "must be objects")
                results.append(self._create_one(user, item))
            except _ApiError as exc:
                res: JSON = {"error": {"code": exc.code, "message": exc.message,
                                       "details": exc.details}}
                if isinstance(item, dict) and isinstance(item.get("client_order_id"), str):
                    res["client_order_id"] = item["client_order_id"]
                results.append(res)
        return web.json_response({"orders": results}, status=201)

    def _cancel_one(self, user: str, order_id: str) -> JSON:
        try:
            order = self.engine.order(user, order_id)
        except NotFound:
            raise _ApiError(404, "not_found", "order not found") from None
        self._check_writable(order.ticker, placing=False)
        try:
            order, reduced = self.engine.cancel(user, order_id, now=self._clock.now())
        except NotFound:
            raise _ApiError(404, "not_found", "order not found",
                            "the order is already filled or cancelled") from None
        finally:
            self._publish()
        return {"order_id": order.order_id, "client_order_id": order.client_order_id,
                "reduced_by": format_count(reduced), "ts_ms": ts_ms(order.updated)}

    async def _cancel(self, request: web.Request) -> web.Response:
        return web.json_response(self._cancel_one(self._user(request),
                                                  request.match_info["order_id"]))

    async def _batch_cancel(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        items = body.get("orders")
        if not isinstance(items, list) or not items:
            raise _bad("orders")
        user = self._user(request)
        results = []
        for item in items:
            oid = item.get("order_id") if isinstance(item, dict) else None
            try:
                if not isinstance(oid, str):
                    raise _bad("order_id")
                results.append(self._cancel_one(user, oid))
            except _ApiError as exc:
                results.append({
                    "order_id": oid if isinstance(oid, str) else "", "reduced_by": "0.00",
                    "error": {"code": exc.code, "message": exc.message, "details": exc.details},
                })
        return web.json_response({"orders": results})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if not self._exchange_active:
            raise _ApiError(400, "exchange_paused", "exchange is paused")
        resting = [o for o in self.engine.orders(user) if o.status is OrderStatus.RESTING
                   and self._status[o.ticker] == "active"]
        bucket = self._bucket(user, "write")
        cost = min(max(10, 2 * len(resting)), bucket.capacity)
        if not bucket.take(cost, self._clock.monotonic()):
            raise _ApiError(429, "", "")
        ids = {o.order_id for o in resting}
        self.engine.cancel_where(self._clock.now(), lambda o: o.order_id in ids)
        self._publish()
        return web.Response(status=204)

    async def _amend(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await self._body(request)
        for field in ("ticker", "side", "price", "count"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise _bad(field)
        if body["side"] not in ("bid", "ask"):
            raise _bad("side", "must be bid or ask")
        try:
            price = parse_price(body["price"])
            count = parse_count(body["count"])
        except ValueError as exc:
            raise _bad("price/count", str(exc)) from None
        oid = request.match_info["order_id"]
        try:
            existing = self.engine.order(user, oid)
        except NotFound:
            raise _ApiError(404, "not_found", "order not found") from None
        coid = body.get("client_order_id")
        if coid is not None and coid != existing.client_order_id:
            raise _ApiError(400, "order_id_and_client_order_id_mismatch",
                            "order id and client order id mismatch")
        self._check_writable(existing.ticker, placing=True)
        updated = body.get("updated_client_order_id")
        try:
            order = self.engine.amend(
                user, oid, ticker=body["ticker"], side=BookSide(body["side"]), price=price,
                count=count, now=self._clock.now(),
                updated_client_order_id=updated if isinstance(updated, str) else None,
            )
        except ExchangeError as exc:
            raise self._from_exchange_error(exc) from None
        finally:
            self._publish()
        return web.json_response(self._ack(order, with_counts=True))

    async def _decrease(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await self._body(request)
        oid = request.match_info["order_id"]
        try:
            existing = self.engine.order(user, oid)
        except NotFound:
            raise _ApiError(404, "not_found", "order not found") from None
        self._check_writable(existing.ticker, placing=False)
        try:
            by = parse_count(body["reduce_by"]) if body.get("reduce_by") is not None else None
            to = parse_count(body["reduce_to"]) if body.get("reduce_to") is not None else None
        except (ValueError, TypeError):
            raise _bad("reduce_by/reduce_to", "is not a decimal count") from None
        try:
            order = self.engine.decrease(user, oid, now=self._clock.now(), reduce_by=by,
                                         reduce_to=to)
        except ExchangeError as exc:
            raise self._from_exchange_error(exc) from None
        finally:
            self._publish()
        return web.json_response({
            "order_id": order.order_id, "client_order_id": order.client_order_id,
            "remaining_count": format_count(order.remaining), "ts_ms": ts_ms(order.updated),
        })

