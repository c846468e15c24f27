"""The Kalshi REST client: signed, throttled, retrying calls to the Trade API v2.

`KalshiClient` satisfies `tsad.exchange.Exchange` structurally. Rules it follows
(kalshi-api.md §2–§4, §10):

* every request is signed afresh (``timestamp_ms + METHOD + /trade-api/v2/<path>``, no query);
* every request first takes its tokens from the local read or write bucket (`Budget`);
* order writes use the V2 paths under ``/portfolio/events/orders`` only;
* reads and idempotent writes (cancel, decrease, batch cancel, cancel all) retry on
  transport errors, 5xx and 429 with jittered exponential backoff and bounded attempts; a
  429 also empties the local bucket;
* a create is never blindly re-sent: after a timeout, transport error or 5xx its outcome is
  unknown, so our orders on that ticker are read back and matched by ``client_order_id``;
  only if it is absent is it sent once more with the same id (a 409 then means it exists);
* an amend with an unknown outcome is resolved by reading the order back and comparing price;
* httpx exceptions become `TransportError` here and nowhere else; headers, the key id and
  bodies of signed calls are never logged.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx
import structlog

from tsad.clock import SystemClock
from tsad.core.clock import Clock
from tsad.core.exchange import Exchange, ExchangeStatus, OrderbookLevels
from tsad.core.market import Event, Market
from tsad.core.orders import (
    Balance,
    BookSide,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    WriteAck,
)
from tsad.errors import (
    AmbiguousOutcome,
    AuthError,
    Conflict,
    ExchangeError,
    NotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from tsad.kalshi import wire
from tsad.kalshi.budget import (
    BATCH_CANCEL_COST,
    BATCH_CREATE_COST,
    BucketKind,
    Budget,
    Tier,
    request_cost,
)
from tsad.kalshi.signing import Signer


__all__ = ["AUTH_HINT", "KalshiClient"]

AUTH_HINT: Final = (
    "Kalshi rejected the request signature/key: check key_id, the private key and the clock"
)
V2_ORDERS: Final = "/portfolio/events/orders"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_RECENT: Final = timedelta(hours=6)

_log = structlog.get_logger("tsad.kalshi.rest")

Sleep = Callable[[float], Awaitable[None]]


def _ack_from_order(order: Order) -> WriteAck:
    return WriteAck(
        order_id=order.order_id,
        client_order_id=order.client_order_id or None,
        remaining=order.remaining,
        filled=order.filled,
    )


class KalshiClient:
    """An async Kalshi Trade API v2 client (one `httpx.AsyncClient` per instance).

    Args:
        rest_url: API root including ``/trade-api/v2``, e.g.
            ``https://external-api.kalshi.com/trade-api/v2``.
        signer: signs requests; None sends unauthenticated requests (public data only).
        tier: the account's usage tier, sizing the local token buckets.
        timeout: seconds for each HTTP request (connect, read, write, pool).
        transport: an httpx transport (tests); None uses the default network transport.
        clock: time source for signatures and the token buckets.
        budget: the token buckets; built from ``tier`` when None.
        max_attempts: attempts per retryable call (≥ 1).
        backoff_base: first retry delay in seconds (doubled per attempt, with jitter).
        backoff_cap: largest retry delay in seconds.
        rng: randomness for the jitter.
        sleep: the coroutine used to wait between retries.
        page_limit: ``limit`` sent with every paginated list request.
    """

    def __init__(
        self,
        rest_url: str,
        signer: Signer | None,
        *,
        tier: Tier | str = Tier.BASIC,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        budget: Budget | None = None,
        max_attempts: int = 6,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        page_limit: int = 200,
    ) -> None:
        self._base = rest_url.rstrip("/")
        self._base_path = urlsplit(self._base).path
        self._signer = signer
        self._clock = clock or SystemClock()
        self.budget = budget or Budget(tier, clock=self._clock)
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._page_limit = page_limit
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"KalshiClient({self._base!r}, signed={self._signer is not None})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> KalshiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ transport

    def _timestamp_ms(self) -> int:
        return (self._clock.now() - _EPOCH) // timedelta(milliseconds=1)

    def _headers(self, method: str, path: str) -> dict[str, str]:
        if self._signer is None:
            return {}
        return self._signer.headers(method, self._base_path + path, self._timestamp_ms())

    def _error(self, resp: httpx.Response, method: str, path: str) -> ExchangeError:
        status = resp.status_code
        body = wire.decode_error_body(resp.content)
        detail = " ".join(x for x in (body.code or "", body.message, body.details) if x)
        where = f"{method} {path} → HTTP {status}"
        text = f"{where}: {detail}" if detail else where
        if status in (401, 403):
            return AuthError(f"{AUTH_HINT} ({text})", status=status, code=body.code)
        if status == 404:
            return NotFound(text, status=status, code=body.code)
        if status == 409:
            return Conflict(text, status=status, code=body.code)
        if status == 429:
            return RateLimited(text, status=status, code=body.code)
        if status >= 500:
            return ServerError(text, status=status, code=body.code)
        return OrderRejected(text, status=status, code=body.code)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        kind: BucketKind,
        tokens: int,
        attempt: int,
    ) -> Any:
        """Send one request; return its decoded JSON (None when empty) or raise mapped errors."""
        await self.budget.acquire(kind, tokens)
        try:
            resp = await self._http.request(
                method,
                self._base + path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
                headers=self._headers(method, path),
            )
        except httpx.TimeoutException as exc:
            raise TransportError(f"{method} {path}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            err = self._error(resp, method, path)
            if isinstance(err, RateLimited):
                self.budget.drain(kind)
                _log.warning("rest.rate_limited", method=method, path=path,
                             status=resp.status_code, attempt=attempt)
            raise err
        if not resp.content:
            return None
        return wire.decode_json(resp.content, f"{method} {path}")

    def _delay(self, attempt: int) -> float:
        """Equal-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        top = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return top / 2 + self._rng.uniform(0, top / 2)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        items: int = 1,
        tokens: int | None = None,
        retry: bool = True,
        on_retry_not_found: Callable[[], Any] | None = None,
    ) -> Any:
        """Send a request, retrying retryable failures when ``retry`` (reads, idempotent writes).

        ``on_retry_not_found``: for idempotent removals, a 404 on a *retry* means an earlier
        attempt already succeeded; its result is returned instead of raising.
        """
        kind, cost = request_cost(method, path, items=items)
        attempt = 1
        while True:
            try:
                return await self._send(method, path, params=params, body=body, kind=kind,
                                        tokens=tokens if tokens is not None else cost,
                                        attempt=attempt)
            except NotFound:
                if attempt > 1 and on_retry_not_found is not None:
                    return on_retry_not_found()
                raise
            except (TransportError, ServerError, RateLimited) as exc:
                if not retry or attempt >= self._max_attempts:
                    raise
                delay = self._delay(attempt)
                _log.info("rest.retry", method=method, path=path, status=exc.status,
                          attempt=attempt, error=type(exc).__name__, delay=round(delay, 3))
                await self._sleep(delay)
                attempt += 1

    async def _paged(
        self, path: str, params: Mapping[str, Any], decode: Callable[[Any], wire.Page]
    ) -> list[Any]:
        out: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = decode(await self._call(
                "GET", path, params={**params, "limit": self._page_limit, "cursor": cursor}))
            out.extend(page.items)
            if not page.cursor:
                return out
            if page.cursor in seen:
                raise ProtocolError(f"GET {path}: cursor {page.cursor!r} repeated")
            seen.add(page.cursor)
            cursor = page.cursor

    # ------------------------------------------------------------------ reads

    async def get_exchange_status(self) -> ExchangeStatus:
        """Return whether the exchange and trading are active (``GET /exchange/status``)."""
        return wire.decode_exchange_status(await self._call("GET", "/exchange/status"))

    async def get_series(self, series_ticker: str) -> wire.Series:
        """Return one series (``GET /series/{series_ticker}``)."""
        return wire.decode_series(await self._call("GET", f"/series/{series_ticker}"))

    async def get_event(self, event_ticker: str) -> Event:
        """Return the event with its markets sorted by strike (``with_nested_markets=true``)."""
        payload = await self._call("GET", f"/events/{event_ticker}",
                                   params={"with_nested_markets": "true"})
        return wire.decode_event(payload)

    async def get_market(self, ticker: str) -> Market:
        """Return one market (``GET /markets/{ticker}``)."""
        return wire.decode_market_response(await self._call("GET", f"/markets/{ticker}"))

    async def list_markets(
        self, *, event_ticker: str | None = None, status: str | None = None,
        series_ticker: str | None = None,
    ) -> list[Market]:
        """Return markets, all pages (``GET /markets``)."""
        params = {"event_ticker": event_ticker, "status": status, "series_ticker": series_ticker}
        return await self._paged("/markets", params, wire.decode_markets_page)

    async def get_orderbook(self, ticker: str, *, depth: int = 0) -> OrderbookLevels:
        """Return the market's REST order book (all levels unless ``depth``)."""
        payload = await self._call("GET", f"/markets/{ticker}/orderbook",
                                   params={"depth": depth or None})
        return wire.decode_orderbook(ticker, payload)

    async def list_orders(
        self, *, event_ticker: str | None = None, ticker: str | None = None,
        status: str | None = "resting", min_ts: int | None = None,
    ) -> list[Order]:
        """Return our orders, all pages (``GET /portfolio/orders``).

        Args:
            event_ticker: one event (Kalshi accepts up to 10, comma-separated).
            ticker: one market.
            status: ``resting`` (default), ``canceled``, ``executed`` or None for all.
            min_ts: only orders since this Unix time (seconds).
        """
        params = {"event_ticker": event_ticker, "ticker": ticker, "status": status,
                  "min_ts": min_ts}
        return await self._paged("/portfolio/orders", params, wire.decode_orders_page)

    async def get_order(self, order_id: str) -> Order:
        """Return one of our orders (``GET /portfolio/orders/{order_id}``)."""
        return wire.decode_order_response(await self._call("GET", f"/portfolio/orders/{order_id}"))

    async def list_positions(
        self, *, event_ticker: str | None = None, ticker: str | None = None
    ) -> list[Position]:
        """Return our market positions, all pages (``GET /portfolio/positions``)."""
        params = {"event_ticker": event_ticker, "ticker": ticker}
        return await self._paged("/portfolio/positions", params, wire.decode_positions_page)

    async def list_fills(
        self, *, ticker: str | None = None, min_ts: int | None = None,
        order_id: str | None = None,
    ) -> list[Fill]:
        """Return our fills, all pages, optionally since ``min_ts`` (Unix seconds)."""
        params = {"ticker": ticker, "min_ts": min_ts, "order_id": order_id}
        return await self._paged("/portfolio/fills", params, wire.decode_fills_page)

    async def get_balance(self) -> Balance:
        """Return our balance (``GET /portfolio/balance``)."""
        return wire.decode_balance(await self._call("GET", "/portfolio/balance"))

    async def get_account_limits(self) -> wire.AccountLimits | None:
        """Return the account's rate-limit buckets, or None where the endpoint is absent (404)."""
        try:
            return wire.decode_account_limits(await self._call("GET", "/account/limits"))
        except NotFound:
            return None

    # ------------------------------------------------------------------ writes

    async def _find_order(self, ticker: str, client_order_id: str) -> Order | None:
        """Look our order up by client id: resting first, then recent orders of any status."""
        try:
            for order in await self.list_orders(ticker=ticker, status="resting"):
                if order.client_order_id == client_order_id:
                    return order
            since = int((self._clock.now() - _RECENT - _EPOCH).total_seconds())
            for order in await self.list_orders(ticker=ticker, status=None, min_ts=since):
                if order.client_order_id == client_order_id:
                    return order
        except (TransportError, ServerError, RateLimited) as exc:
            raise AmbiguousOutcome(
                f"create {client_order_id} on {ticker}: outcome unknown and reading orders "
                f"back failed ({exc})", status=exc.status, code=exc.code) from exc
        return None

    async def create_order(self, request: OrderRequest) -> WriteAck:
        """Place an order (``POST /portfolio/events/orders``), never placing it twice.

        Raises:
            Conflict: its client_order_id already exists (and we did not just place it).
            AmbiguousOutcome: the outcome stayed unknown after reading back and one re-send.
            OrderRejected: the exchange refused it (post-only cross, closed market, …).
        """
        body = wire.encode_order_request(request)
        reposted = False
        attempt = 1
        while True:
            try:
                payload = await self._send("POST", V2_ORDERS, body=body, kind="write",
                                           tokens=BATCH_CREATE_COST, attempt=attempt)
                return wire.decode_write_ack(payload)
            except RateLimited:
                # a 429 is refused before matching: the order was not placed; safe to resend
                if attempt >= self._max_attempts:
                    raise
            except Conflict:
                if not reposted:
                    raise
                found = await self._find_order(request.ticker, request.client_order_id)
                if found is None:
                    raise
                _log.info("rest.resolved", method="POST", path=V2_ORDERS, attempt=attempt,
                          outcome="exists")
                return _ack_from_order(found)
            except (TransportError, ServerError) as exc:
                _log.warning("rest.ambiguous", method="POST", path=V2_ORDERS,
                             status=exc.status, attempt=attempt, error=type(exc).__name__)
                found = await self._find_order(request.ticker, request.client_order_id)
                if found is not None:
                    _log.info("rest.resolved", method="POST", path=V2_ORDERS, attempt=attempt,
                              outcome="placed")
                    return _ack_from_order(found)
                if reposted:
                    raise AmbiguousOutcome(
                        f"create {request.client_order_id} on {request.ticker}: no answer "
                        f"twice and not found among our orders", status=exc.status,
                        code=exc.code) from exc
                reposted = True
                _log.info("rest.resolved", method="POST", path=V2_ORDERS, attempt=attempt,
                          outcome="absent_resend")
            await self._sleep(self._delay(attempt))
            attempt += 1

    async def amend_order(
        self, order_id: str, *, ticker: str, side: str, price: int, count: int,
        client_order_id: str | None = None, updated_client_order_id: str | None = None,
    ) -> WriteAck:
        """Change an order's price and total count (``count`` = filled + new remaining).

        An unknown outcome is resolved by reading the order back: at the new price it is
        done; still resting at the old price, the amend is sent once more.

        Raises:
            NotFound: the order is gone.
            AmbiguousOutcome: still unknown after one re-send.
        """
        path = f"{V2_ORDERS}/{order_id}/amend"
        body = wire.encode_amend(ticker=ticker, side=BookSide(side).value, price=price,
                                 count=count, client_order_id=client_order_id,
                                 updated_client_order_id=updated_client_order_id)
        resent = False
        attempt = 1
        while True:
            try:
                payload = await self._send("POST", path, body=body, kind="write",
                                           tokens=BATCH_CREATE_COST, attempt=attempt)
                return wire.decode_write_ack(payload)
            except RateLimited:
                if attempt >= self._max_attempts:
                    raise
            except (TransportError, ServerError) as exc:
                _log.warning("rest.ambiguous", method="POST", path=path, status=exc.status,
                             attempt=attempt, error=type(exc).__name__)
                try:
                    order = await self.get_order(order_id)
                except (TransportError, ServerError, RateLimited) as read_exc:
                    raise AmbiguousOutcome(
                        f"amend {order_id}: outcome unknown and reading it back failed "
                        f"({read_exc})") from exc
                if order.price == price:
                    return _ack_from_order(order)
                if order.status is not OrderStatus.RESTING:
                    raise NotFound(f"amend {order_id}: order is {order.status.value}",
                                   status=None) from exc
                if resent:
                    raise AmbiguousOutcome(
                        f"amend {order_id}: no answer twice and price still "
                        f"{order.price}", status=exc.status, code=exc.code) from exc
                resent = True
            await self._sleep(self._delay(attempt))
            attempt += 1

    async def decrease_order(self, order_id: str, *, reduce_to: int) -> WriteAck:
        """Reduce an order's remaining count to ``reduce_to`` (idempotent, so retried)."""
        def gone() -> WriteAck:
            if reduce_to:
                raise NotFound(f"decrease {order_id}: order is gone")
            return WriteAck(order_id=order_id, remaining=0)

        payload = await self._call("POST", f"{V2_ORDERS}/{order_id}/decrease",
                                   body=wire.encode_decrease(reduce_to=reduce_to),
                                   on_retry_not_found=gone)
        if isinstance(payload, WriteAck):
            return payload
        return wire.decode_write_ack(payload)

    async def cancel_order(self, order_id: str) -> WriteAck:
        """Cancel one order (``DELETE /portfolio/events/orders/{id}``), retried.

        Raises:
            NotFound: the order was already gone on the first attempt (a 404 on a retry
                means our earlier attempt cancelled it, and is success).
        """
        payload = await self._call(
            "DELETE", f"{V2_ORDERS}/{order_id}",
            on_retry_not_found=lambda: WriteAck(order_id=order_id, remaining=0))
        if isinstance(payload, WriteAck):
            return payload
        return wire.decode_write_ack(payload, cancelled=True)

    async def batch_cancel(self, order_ids: Sequence[str]) -> list[WriteAck | ExchangeError]:
        """Cancel several orders (V2 batch, 2 tokens each); one result per id, in order.

        Batches are split to fit the write bucket. The call is idempotent and retried; an
        item reported `NotFound` is gone (possibly cancelled by an earlier attempt).
        """
        out: list[WriteAck | ExchangeError] = []
        size = self.budget.max_batch(BATCH_CANCEL_COST)
        for i in range(0, len(order_ids), size):
            chunk = list(order_ids[i:i + size])
            payload = await self._call("DELETE", f"{V2_ORDERS}/batched",
                                       body=wire.encode_batch_cancel(chunk), items=len(chunk))
            results = wire.decode_batch_acks(payload, cancelled=True)
            if len(results) != len(chunk):
                raise ProtocolError(
                    f"batch cancel: {len(results)} results for {len(chunk)} orders")
            out.extend(results)
        return out

    async def batch_create(
        self, requests: Sequence[OrderRequest]
    ) -> list[WriteAck | ExchangeError]:
        """Place several orders (V2 batch, 10 tokens each); one result per request, in order.

        On an unknown outcome the batch is resolved like `create_order`: orders found by
        client id are acks; only the missing ones are sent again, once.
        """
        out: list[WriteAck | ExchangeError] = []
        size = self.budget.max_batch(BATCH_CREATE_COST)
        for i in range(0, len(requests), size):
            out.extend(await self._batch_create_chunk(list(requests[i:i + size])))
        return out

    async def _batch_create_chunk(
        self, chunk: list[OrderRequest]
    ) -> list[WriteAck | ExchangeError]:
        path = f"{V2_ORDERS}/batched"
        try:
            payload = await self._call("POST", path, body=wire.encode_batch_create(chunk),
                                       items=len(chunk), retry=False)
        except RateLimited:
            payload = await self._call("POST", path, body=wire.encode_batch_create(chunk),
                                       items=len(chunk), retry=False)
        except (TransportError, ServerError) as exc:
            _log.warning("rest.ambiguous", method="POST", path=path, status=exc.status,
                         attempt=1, error=type(exc).__name__)
            results: list[WriteAck | ExchangeError | None] = []
            for req in chunk:
                found = await self._find_order(req.ticker, req.client_order_id)
                results.append(_ack_from_order(found) if found else None)
            missing = [r for r, res in zip(chunk, results, strict=True) if res is None]
            if missing:
                again = iter(await self._batch_create_resend(missing, exc))
                results = [res if res is not None else next(again) for res in results]
            return [r for r in results if r is not None]
        acks = wire.decode_batch_acks(payload, cancelled=False)
        if len(acks) != len(chunk):
            raise ProtocolError(f"batch create: {len(acks)} results for {len(chunk)} orders")
        return acks

    async def _batch_create_resend(
        self, missing: list[OrderRequest], cause: ExchangeError
    ) -> list[WriteAck | ExchangeError]:
        try:
            payload = await self._call("POST", f"{V2_ORDERS}/batched",
                                       body=wire.encode_batch_create(missing),
                                       items=len(missing), retry=False)
        except (TransportError, ServerError) as exc:
            return [AmbiguousOutcome(f"batch create {r.client_order_id}: outcome unknown "
                                     f"({cause}; then {exc})") for r in missing]
        return wire.decode_batch_acks(payload, cancelled=False)

    async def cancel_all(self) -> None:
        """Cancel all our resting orders (``DELETE /portfolio/events/orders``), retried.

        Costs as much as a maximal batch cancel, so it takes the whole write bucket.
        """
        await self._call("DELETE", V2_ORDERS, tokens=int(self.budget.write.capacity))


if TYPE_CHECKING:

    def _satisfies_exchange(client: KalshiClient) -> Exchange:
        """Make mypy prove that `KalshiClient` structurally satisfies `Exchange`."""
        return client
