"""The Kalshi REST client: the Trade API v2 calls tsad makes, and how writes stay safe.

`KalshiClient` satisfies `tsad.core.exchange.Exchange` structurally. Signing, pacing,
retries and error mapping live in `tsad.kalshi.session`; on top of them this client follows
(kalshi-api.md §2–§4, §10):

* order writes use the V2 paths under ``/portfolio/events/orders`` only;
* the local buckets are sized from ``GET /account/limits`` and priced from
  ``GET /account/endpoint_costs`` before the first write (`prepare`);
* a single cancel goes through the V2 batch cancel (2 tokens instead of 10);
* with ``order_group_contracts_limit > 0`` an order group is created before the first
  create and every create carries its ``order_group_id`` (kalshi-api.md §3.11);
  ``cancel_order_on_pause`` is sent on every create as its `OrderRequest` says;
* a create is never blindly re-sent: after a timeout, transport error or 5xx its outcome is
  unknown, so our orders on that ticker are read back and matched by ``client_order_id``;
  only if it is absent is it sent once more with the same id (a 409 then means it exists);
  a 429 refused it whole, so it is re-sent after a backoff;
* an amend with an unknown outcome is resolved by reading the order back and comparing price;
* a 2xx write whose body does not decode is an `AmbiguousOutcome` (it may have been applied);
* a list read with a row that does not decode returns the other rows and logs the bad one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Unpack

import structlog

from tsad.core.exchange import Exchange, ExchangeStatus, MarketSettlement, OrderbookLevels
from tsad.core.fees import FeeSchedule, fee_schedule
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
    Conflict,
    ExchangeError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from tsad.kalshi import wire
from tsad.kalshi.session import AUTH_HINT, ApiSession, SessionOptions
from tsad.kalshi.signing import Signer


__all__ = ["AUTH_HINT", "KalshiClient"]

# AUTH_HINT is re-exported: callers and tests read it from here.

V2_ORDERS: Final = "/portfolio/events/orders"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_RECENT: Final = timedelta(hours=6)

_log = structlog.get_logger("tsad.kalshi.rest")


def _undecodable(what: str, exc: ProtocolError) -> AmbiguousOutcome:
    return AmbiguousOutcome(f"{what}: accepted but the answer did not decode ({exc})")


def _ack_or_ambiguous(payload: Any, what: str) -> WriteAck:
    """Decode a 2xx write ack; one that does not decode leaves the outcome unknown."""
    try:
        return wire.decode_write_ack(payload)
    except ProtocolError as exc:
        raise _undecodable(what, exc) from exc


def _ack_from_order(order: Order) -> WriteAck:
    return WriteAck(
        order_id=order.order_id,
        client_order_id=order.client_order_id or None,
        remaining=order.remaining,
        filled=order.filled,
    )


class KalshiClient(ApiSession):
    """An async Kalshi Trade API v2 client; `ApiSession` documents the shared arguments.

    Args:
        order_group_contracts_limit: whole contracts per rolling 15 s of the order group
            every create joins (0: no group).
        calibrate: read the account's limits and endpoint costs before the first write.
    """

    def __init__(
        self,
        rest_url: str,
        signer: Signer | None,
        *,
        order_group_contracts_limit: int = 0,
        calibrate: bool = True,
        **session: Unpack[SessionOptions],
    ) -> None:
        super().__init__(rest_url, signer, **session)
        self._group_limit = max(0, order_group_contracts_limit)
        self.order_group_id: str | None = None
        self._prepared = not calibrate and not self._group_limit
        self._calibrate = calibrate
        self._prepare_lock = asyncio.Lock()

    # ------------------------------------------------------------------ reads

    async def get_exchange_status(self) -> ExchangeStatus:
        """Return whether the exchange and trading are active (``GET /exchange/status``)."""
        return wire.decode_exchange_status(await self._call("GET", "/exchange/status"))

    async def get_series(self, series_ticker: str) -> wire.Series:
        """Return one series (``GET /series/{series_ticker}``)."""
        return wire.decode_series(await self._call("GET", f"/series/{series_ticker}"))

    async def get_fee_schedule(self, series_ticker: str) -> FeeSchedule:
        """Return the series' fee schedule, read exactly from ``GET /series/{t}``."""
        series = await self.get_series(series_ticker)
        try:
            return fee_schedule(series.fee_type or None, series.fee_multiplier)
        except ValueError as exc:  # an unknown fee_type: the codec's boundary, not a crash
            raise ProtocolError(f"series {series_ticker}: {exc}") from exc

    async def get_event(self, event_ticker: str) -> Event:
        """Return the event with its markets sorted by strike (``with_nested_markets=true``)."""
        payload = await self._call("GET", f"/events/{event_ticker}",
                                   params={"with_nested_markets": "true"})
        event, bad = wire.decode_event_rows(payload)
        for error in bad:
            _log.warning("rest.bad_row", path=f"/events/{event_ticker}", error=error)
        return event

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

    async def list_settlements(
        self, *, event_ticker: str | None = None
    ) -> list[MarketSettlement]:
        """Return our settled markets, all pages (``GET /portfolio/settlements``)."""
        params = {"event_ticker": event_ticker}
        return await self._paged("/portfolio/settlements", params, wire.decode_settlements_page)

    async def get_balance(self) -> Balance:
        """Return our balance (``GET /portfolio/balance``)."""
        return wire.decode_balance(await self._call("GET", "/portfolio/balance"))

    async def get_account_limits(self) -> wire.AccountLimits | None:
        """Return the account's rate-limit buckets, or None where the endpoint is absent (404)."""
        try:
            return wire.decode_account_limits(await self._call("GET", "/account/limits"))
        except NotFound:
            return None

    async def get_endpoint_costs(self) -> wire.EndpointCosts | None:
        """Return the endpoints priced off the default (``GET /account/endpoint_costs``)."""
        try:
            return wire.decode_endpoint_costs(await self._call("GET", "/account/endpoint_costs"))
        except NotFound:
            return None

    async def calibrate(self) -> None:
        """Size the buckets from the account's limits and price requests from its cost table.

        Either read may fail (old endpoint, network): the tier table and the documented
        costs stay in force, and the failure is logged.
        """
        try:
            limits = await self.get_account_limits()
            if limits is not None:
                self.budget.use_limits(limits)
            costs = await self.get_endpoint_costs()
            if costs is not None:
                self.budget.use_costs(costs)
        except ExchangeError as exc:
            _log.warning("rest.calibrate_failed", error=type(exc).__name__, detail=str(exc))
            return
        _log.info("rest.calibrated", write_rate=self.budget.write.rate,
                  write_capacity=self.budget.write.capacity,
                  costs=len(costs.endpoints) if costs is not None else None)

    # ------------------------------------------------------------------ order groups

    async def create_order_group(self, *, contracts_limit: int) -> str:
        """Create an order group (``POST /portfolio/order_groups/create``); return its id.

        Once fills in the group pass ``contracts_limit`` whole contracts within 15 s, Kalshi
        cancels the group's resting orders and rejects new ones in it until it is reset.
        """
        payload = await self._call("POST", "/portfolio/order_groups/create",
                                   body=wire.encode_order_group(contracts_limit=contracts_limit))
        return wire.decode_order_group_created(payload)

    async def get_order_group(self, order_group_id: str) -> wire.OrderGroup:
        """Return one order group (``GET /portfolio/order_groups/{id}``)."""
        payload = await self._call("GET", f"/portfolio/order_groups/{order_group_id}")
        return wire.decode_order_group(order_group_id, payload)

    async def reset_order_group(self, order_group_id: str | None = None) -> None:
        """Clear a triggered group so its orders may be placed again (ours when None)."""
        gid = order_group_id or self.order_group_id
        if gid is None:
            return
        await self._call("PUT", f"/portfolio/order_groups/{gid}/reset", body={})

    async def delete_order_group(self, order_group_id: str | None = None) -> None:
        """Delete a group and cancel its orders (ours when None; then creates go ungrouped)."""
        gid = order_group_id or self.order_group_id
        if gid is None:
            return
        await self._call("DELETE", f"/portfolio/order_groups/{gid}")
        if gid == self.order_group_id:
            self.order_group_id = None

    def _is_prepared(self) -> bool:
        return self._prepared

    async def prepare(self) -> str | None:
        """Get ready to write (at startup, else before the first write); return our group's id.

        Calibrates the buckets (once) and creates our order group when configured. An
        exchange without order groups (404) is logged and the client goes on without one;
        any other failure to create it propagates, and the next write tries again.
        """
        if self._is_prepared():
            return self.order_group_id
        async with self._prepare_lock:
            if self._is_prepared():
                return self.order_group_id
            if self._calibrate:
                await self.calibrate()
                self._calibrate = False
            if self._group_limit and self.order_group_id is None:
                try:
                    self.order_group_id = await self.create_order_group(
                        contracts_limit=self._group_limit)
                except NotFound:
                    _log.warning("rest.order_group_unavailable",
                                 contracts_limit=self._group_limit)
                    self._group_limit = 0
                else:
                    _log.info("rest.order_group", order_group_id=self.order_group_id,
                              contracts_limit=self._group_limit)
            self._prepared = True
            return self.order_group_id

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
        group = await self.prepare()
        body = wire.encode_order_request(request, order_group_id=group)
        reposted = False
        attempt = 1
        while True:
            try:
                payload = await self._send("POST", V2_ORDERS, body=body, kind="write",
                                           tokens=self._write_cost("POST", V2_ORDERS),
                                           attempt=attempt)
            except ProtocolError as exc:
                raise _undecodable(f"create {request.client_order_id}", exc) from exc
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
            else:
                return _ack_or_ambiguous(payload, f"create {request.client_order_id}")
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
                                           tokens=self._write_cost("POST", path),
                                           attempt=attempt)
            except ProtocolError as exc:
                raise _undecodable(f"amend {order_id}", exc) from exc
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
            else:
                return _ack_or_ambiguous(payload, f"amend {order_id}")
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
        """Cancel one order, retried; sent as a one-order V2 batch cancel (2 tokens, not 10).

        Raises:
            NotFound: the order was already gone on the first attempt (gone on a retry
                means our earlier attempt cancelled it, and is success).
        """
        path = f"{V2_ORDERS}/batched"
        body = wire.encode_batch_cancel([order_id])
        attempt = 1
        while True:
            try:
                payload = await self._send("DELETE", path, body=body, kind="write",
                                           tokens=self._write_cost("DELETE", path),
                                           attempt=attempt)
            except (TransportError, ServerError, RateLimited) as exc:
                if attempt >= self._max_attempts:
                    raise
                delay = self._delay(attempt)
                _log.info("rest.retry", method="DELETE", path=path, status=exc.status,
                          attempt=attempt, error=type(exc).__name__, delay=round(delay, 3))
                await self._sleep(delay)
                attempt += 1
                continue
            results = wire.decode_batch_acks(payload, cancelled=True)
            if len(results) != 1:
                raise ProtocolError(f"cancel {order_id}: {len(results)} results for 1 order")
            result = results[0]
            if isinstance(result, WriteAck):
                return result
            if isinstance(result, NotFound) and attempt > 1:
                return WriteAck(order_id=order_id, remaining=0)
            raise result

    async def batch_cancel(self, order_ids: Sequence[str]) -> list[WriteAck | ExchangeError]:
        """Cancel several orders (V2 batch, 2 tokens each); one result per id, in order.

        Batches are split to fit the write bucket. The call is idempotent and retried; an
        item reported `NotFound` is gone (possibly cancelled by an earlier attempt).
        """
        out: list[WriteAck | ExchangeError] = []
        size = self.budget.max_batch(self._write_cost("DELETE", f"{V2_ORDERS}/batched"))
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
        """Place several orders (``POST /portfolio/events/orders/batched``, 10 tokens each).

        One result per request, in order: a `WriteAck`, or the item's error. Chunks are
        sized so each fits our write bucket whole (Kalshi rejects a batch that does not fit
        its bucket with a 429). A 429 refuses the whole chunk, which is then re-sent after a
        backoff; on an unknown outcome the chunk is resolved like `create_order` (orders
        found by client id are acks; only the missing ones are sent again, once); an answer
        that does not decode makes every item of the chunk an `AmbiguousOutcome`.
        """
        group = await self.prepare()
        out: list[WriteAck | ExchangeError] = []
        size = self.budget.max_batch(self._write_cost("POST", f"{V2_ORDERS}/batched"))
        for i in range(0, len(requests), size):
            out.extend(await self._batch_create_chunk(list(requests[i:i + size]), group))
        return out

    async def _batch_create_chunk(
        self, chunk: list[OrderRequest], group: str | None
    ) -> list[WriteAck | ExchangeError]:
        path = f"{V2_ORDERS}/batched"
        body = wire.encode_batch_create(chunk, order_group_id=group)
        attempt = 1
        while True:
            try:
                payload = await self._call("POST", path, body=body, items=len(chunk),
                                           retry=False)
            except RateLimited:
                if attempt >= self._max_attempts:
                    raise
                await self._sleep(self._delay(attempt))
                attempt += 1
                continue
            except ProtocolError as exc:
                return [_undecodable(f"batch create {r.client_order_id}", exc) for r in chunk]
            except (TransportError, ServerError) as exc:
                return await self._resolve_batch(chunk, group, exc)
            return self._batch_results(chunk, payload)

    def _batch_results(
        self, chunk: list[OrderRequest], payload: Any
    ) -> list[WriteAck | ExchangeError]:
        try:
            acks = wire.decode_batch_acks(payload, cancelled=False)
        except ProtocolError as exc:
            return [_undecodable(f"batch create {r.client_order_id}", exc) for r in chunk]
        if len(acks) != len(chunk):
            short = ProtocolError(f"batch create: {len(acks)} results for {len(chunk)} orders")
            return [_undecodable(f"batch create {r.client_order_id}", short) for r in chunk]
        return acks

    async def _resolve_batch(
        self, chunk: list[OrderRequest], group: str | None, cause: ExchangeError
    ) -> list[WriteAck | ExchangeError]:
        path = f"{V2_ORDERS}/batched"
        _log.warning("rest.ambiguous", method="POST", path=path, status=cause.status,
                     attempt=1, error=type(cause).__name__)
        results: list[WriteAck | ExchangeError | None] = []
        for req in chunk:
            found = await self._find_order(req.ticker, req.client_order_id)
            results.append(_ack_from_order(found) if found else None)
        missing = [r for r, res in zip(chunk, results, strict=True) if res is None]
        if missing:
            try:
                payload = await self._call(
                    "POST", path, body=wire.encode_batch_create(missing, order_group_id=group),
                    items=len(missing), retry=False)
                again_list = self._batch_results(missing, payload)
            except (TransportError, ServerError, RateLimited) as exc:
                again_list = [AmbiguousOutcome(
                    f"batch create {r.client_order_id}: outcome unknown ({cause}; then {exc})")
                    for r in missing]
            except ProtocolError as exc:
                again_list = [_undecodable(f"batch create {r.client_order_id}", exc)
                              for r in missing]
            again = iter(again_list)
            results = [res if res is not None else next(again) for res in results]
        return [r for r in results if r is not None]

    def _write_cost(self, method: str, path: str) -> int:
        """Tokens of one write (per order for batches)."""
        return self.budget.cost(method, path, items=1)[1]

    async def cancel_all(self) -> None:
        """Cancel all our resting orders (``DELETE /portfolio/events/orders``), retried.

        Costs as much as a maximal batch cancel, so it takes the whole write bucket.
        """
        await self._call("DELETE", V2_ORDERS, tokens=int(self.budget.write.capacity))


if TYPE_CHECKING:

    def _satisfies_exchange(client: KalshiClient) -> Exchange:
        """Make mypy prove that `KalshiClient` structurally satisfies `Exchange`."""
        return client
