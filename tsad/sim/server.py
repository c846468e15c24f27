"""The emulated Kalshi exchange: one aiohttp server with REST, auth, rate limits and websocket.

Faithful to kalshi-api.md §2–§5 and §8 and to the published schemas: documented shapes
only. Every registered key is a separate user starting with $10,000. Market data is public;
portfolio endpoints and the websocket handshake need a valid RSA-PSS signature from a
registered key (`tsad.sim.auth`). Order writes live under ``/portfolio/events/orders``
(`tsad.sim.order_routes`); the V1 write paths answer 410.

Rate limits are token buckets per user (§4.1): 10 tokens per request, batch create 10 per
item, batch cancel 2 per item, cancel-all 2 per cancelled order (at least 10, at most the
bucket's capacity so the kill switch always works on a full bucket). Requests without a
valid signature to public endpoints are not metered.

Order, trade and order-group ids mix a per-instance random nonce into a seeded sequence,
so they never repeat across runs (pass ``id_nonce`` for repeatable ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Final

from aiohttp import web

from tsad.clock import SystemClock
from tsad.core.exchange import OrderbookLevels
from tsad.core.market import Event, Market
from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Order, OrderStatus
from tsad.errors import ExchangeError, NotFound
from tsad.sim.api import ApiError, error_response, set_user
from tsad.sim.auth import TIERS, Gate
from tsad.sim.faults import Chaos, Faults
from tsad.sim.group_routes import GroupRoutes
from tsad.sim.market_routes import MarketRoutes
from tsad.sim.matching import MatchingEngine
from tsad.sim.order_routes import OrderRoutes
from tsad.sim.portfolio_routes import PortfolioRoutes
from tsad.sim.stream import Hub
from tsad.sim.venue import OUTSIDE, START_BALANCE, Venue
from tsad.sim.wire import error_body


__all__ = ["START_BALANCE", "TIERS", "Emulator", "RequestRecord"]

PREFIX: Final = "/trade-api/v2"
WS_PATH: Final = "/trade-api/ws/v2"
_PRIVATE = ("/portfolio", "/account/limits")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """One REST request the emulator received."""

    method: str
    path: str
    status: int


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
        id_nonce: int | None = None,
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
            id_nonce: mixed into every exchange id; random by default (ids never repeat
                across instances), fixed for repeatable ids.

        Raises:
            ValueError: an unknown tier.
        """
        self._clock = SystemClock()
        self._gate = Gate(self._clock, tier)
        self._host, self._port = host, port
        self._tier = tier
        self._seed = seed
        self._outside_traders = outside_traders
        self.trader_rate = trader_rate
        self.fair_drift = fair_drift
        self.venue = Venue(clock=self._clock, now=now or self._clock.now(), seed=seed,
                           fair_center=fair_center, user_id=self._user_id, id_nonce=id_nonce)
        self.faults = Faults(self.venue.hub.drop_all)
        self.venue.skip_seq = self.faults.take_skip
        self.request_log: list[RequestRecord] = []
        self.write_times: list[tuple[str, float]] = []
        # More routes to serve (each adds its own to the router at `start`).
        self.extra_routes: list[Callable[[web.UrlDispatcher], None]] = []
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.rest_url = ""
        self.ws_url = ""

    def __repr__(self) -> str:
        return f"Emulator(event={self.event_ticker!r}, rest_url={self.rest_url!r})"

    # ----------------------------------------------------------------- the venue's state

    @property
    def engine(self) -> MatchingEngine:
        """Return the matching engine."""
        return self.venue.engine

    @property
    def hub(self) -> Hub:
        """Return the websocket hub."""
        return self.venue.hub

    @property
    def event(self) -> Event:
        """Return the first week's event."""
        return self.venue.event

    @property
    def event_ticker(self) -> str:
        """Return the first week's event ticker."""
        return self.venue.event_ticker

    @property
    def markets(self) -> dict[str, Market]:
        """Return every hosted market by ticker."""
        return self.venue.markets

    @property
    def fair_center(self) -> float:
        """Return the week's "true" weekly average."""
        return self.venue.fair_center

    @fair_center.setter
    def fair_center(self, value: float) -> None:
        self.venue.fair_center = value

    @property
    def fair(self) -> dict[int, Fraction]:
        """Return the fair YES probability by strike."""
        return self.venue.fair

    @fair.setter
    def fair(self, value: dict[int, Fraction]) -> None:
        self.venue.fair = value

    @property
    def trading_active(self) -> bool:
        """Tell whether trading is active."""
        return self.venue.trading_active and self.venue.exchange_active

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind the server and start the outside traders (if enabled)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(WS_PATH, self._ws)
        MarketRoutes(self.venue).register(app.router, PREFIX)
        PortfolioRoutes(self.venue, self._tier).register(app.router, PREFIX)
        OrderRoutes(self.venue, self._gate).register(app.router, PREFIX)
        GroupRoutes(self.venue).register(app.router, PREFIX)
        for add_routes in self.extra_routes:
            add_routes(app.router)
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

            self._tasks.append(asyncio.create_task(
                run_traders(self, random.Random(f"t-{self._seed}"))))

    async def stop(self) -> None:
        """Stop the background tasks, close websockets and the server."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
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
        user_id = self._gate.register(key_id, public_key_pem)
        self.engine.add_account(key_id, user_id, START_BALANCE)

    def _user_id(self, user: str) -> str:
        return self._gate.user_ids[user]

    def set_trading_active(self, active: bool) -> None:
        """Pause or resume trading (place/amend rejected; cancels allowed); a pause cancels
        the orders created with ``cancel_order_on_pause``."""
        self.venue.pause(exchange=False, active=active)

    def set_exchange_active(self, active: bool) -> None:
        """Pause or resume the whole exchange (every order write rejected); a pause cancels
        the orders created with ``cancel_order_on_pause``."""
        self.venue.pause(exchange=True, active=active)

    def set_event_fee_override(self, event_ticker: str, fee_type: str | None,
                               multiplier: float | None = None) -> None:
        """Set (``fee_type`` None: clear) an event's fee override, announced on
        ``market_lifecycle_v2`` as ``event_fee_update``; its markets' fills pay it."""
        self.venue.set_event_fee_override(event_ticker, fee_type, multiplier)

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

        Returns:
            The added event (its markets ``active``).

        Raises:
            ValueError: ``sunday`` is not a Sunday, or that week is already hosted.
        """
        return self.venue.add_week(sunday)

    def set_market_status(self, ticker: str, status: str) -> None:
        """Set one market's status (``initialized``, ``active``, ``inactive``, ``closed``…).

        Kalshi sends no websocket message when a market opens (initialized → active,
        kalshi-api.md §5.5); neither does this.

        Raises:
            NotFound: unknown market.
        """
        if ticker not in self.venue.status:
            raise NotFound(f"unknown market {ticker}", status=404)
        self.venue.status[ticker] = status

    def close_event(self, event_ticker: str, *, cancel_resting: bool = True) -> None:
        """Close every market of an event, as its ``close_time`` passing does (§3.4.1).

        Afterwards every order write on those markets, cancels included, is rejected with
        ``market_inactive``. ``cancel_resting`` also cancels the resting orders there
        (Kalshi does so shortly after the close).

        Raises:
            NotFound: unknown event.
        """
        self.venue.close_event(event_ticker, cancel_resting=cancel_resting)

    def settle(self, ticker_or_event: str, value: float) -> None:
        """Settle one market or every market of the event; record each user's settlement.

        ``value`` is the weekly average (persons) deciding each market (YES iff strictly above
        its floor strike); for a single market, a value of 0 or 1 is the result itself
        (1 = YES).

        Raises:
            NotFound: unknown ticker.
        """
        self.venue.settle(ticker_or_event, value)

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
        self.venue.publish()
        return order.order_id

    def cancel_order(self, order_id: str, *, user: str = OUTSIDE) -> None:
        """Cancel an order of ``user`` (default outside)."""
        self.engine.cancel(user, order_id, now=self._clock.now())
        self.venue.publish()

    def fill_outside(self, order_id: str, count: int | None = None) -> None:
        """Have an outside trader take ``count`` (default all) of a resting order directly,
        whatever rests ahead of it (a fill the client did not cause).

        Raises:
            NotFound: the order is not resting.
        """
        order = next((o for o in self.engine.orders() if o.order_id == order_id), None)
        if order is None:
            raise NotFound(f"unknown order {order_id}", status=404)
        self.engine.take(OUTSIDE, order_id, count or order.remaining, now=self._clock.now())
        self.venue.publish()

    def start_chaos(self, chaos: Chaos, seed: int = 0) -> None:
        """Inject faults at random (seeded): REST failures, applied-but-failed writes, 429
        bursts, delays, dropped sockets, seq gaps, trading pauses and outside fills."""
        self.faults.start_chaos(chaos, seed)
        self._tasks.append(asyncio.create_task(self._chaos(chaos, random.Random(f"c-{seed}"))))

    async def _chaos(self, chaos: Chaos, rng: random.Random) -> None:
        while True:
            await asyncio.sleep(chaos.tick_s)
            if chaos.outside_fill and rng.random() < chaos.outside_fill:
                mine = [o for o in self.engine.orders() if o.user != OUTSIDE
                        and o.status is OrderStatus.RESTING]
                if mine:
                    with contextlib.suppress(ExchangeError):
                        self.fill_outside(rng.choice(mine).order_id)
                    self.faults.injected["outside_fill"] = (
                        self.faults.injected.get("outside_fill", 0) + 1)
            if chaos.pause and rng.random() < chaos.pause:
                self.faults.injected["pause"] = self.faults.injected.get("pause", 0) + 1
                self.set_trading_active(False)
                await asyncio.sleep(chaos.pause_s)
                self.set_trading_active(True)

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

    # ----------------------------------------------------------------- the request path

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
                    raise ApiError(429, "", "")
                raise ApiError(failure, "internal_error", "injected failure")
            private = sub.startswith(_PRIVATE)
            try:
                user = self._gate.authenticate(request, path)
            except ApiError:
                if private:
                    raise
                user = None  # public data: a bad signature is simply not metered
            if private and user is None:
                raise ApiError(401, "authentication_error", "authentication_error",
                               "missing KALSHI-ACCESS-* headers")
            set_user(user)
            if user is not None:
                self._gate.charge(user, "write" if is_write else "read",
                                  await self._cost(request, sub))
            if is_write and sub.startswith("/portfolio/events/orders"):
                self.write_times.append((self._write_kind(request.method, sub), received))
                delay = self.faults.take_delay()
            response = await handler(request)
            if is_write and response.status < 400:
                lost = self.faults.take_applied_failure()
                if lost is not None:
                    raise ApiError(lost, "internal_error", "injected failure after applying")
        except ApiError as exc:
            response = error_response(exc)
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

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self._gate.authenticate(request, WS_PATH)
        except ApiError as exc:
            return error_response(exc)
        if user is None:
            return error_response(ApiError(
                401, "authentication_error", "authentication_error",
                "missing KALSHI-ACCESS-* headers",
            ))
        return await self.hub.handle(request, user, self._user_id(user))
