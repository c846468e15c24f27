"""The emulator's V2 order writes (kalshi-api.md §3.8): create, batch create, amend, decrease,
cancel, batch cancel and cancel-all; the V1 write paths answer 410.

Acks follow the spec's response schemas: a create reports the order's fills so far; an amend
reports only what the amend itself did (``fill_count`` = contracts the amend filled,
``remaining_count`` = resting size after it, both only when it filled or changed the size;
average price and fee of the amend's own fills, only when it filled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from aiohttp import web

from tsad.core.money import format_count, format_price, parse_count, parse_price
from tsad.core.orders import BookSide, OrderStatus
from tsad.errors import ExchangeError, NotFound
from tsad.sim.api import JSON, ApiError, bad_field, current_user, from_exchange_error, json_body
from tsad.sim.auth import Gate
from tsad.sim.records import BookOrder, FillRow
from tsad.sim.venue import Venue
from tsad.sim.wire import ts_ms


__all__ = ["V1_WRITES", "OrderRoutes"]

V1_WRITES: Final = (
    ("POST", "/portfolio/orders"),
    ("POST", "/portfolio/orders/batched"),
    ("DELETE", "/portfolio/orders/batched"),
    ("POST", "/portfolio/orders/batched/cancel"),
    ("DELETE", "/portfolio/orders/{order_id}"),
    ("POST", "/portfolio/orders/{order_id}/amend"),
    ("POST", "/portfolio/orders/{order_id}/decrease"),
)


def fill_summary(out: JSON, fills: Sequence[FillRow]) -> None:
    """Add ``average_fill_price`` and ``average_fee_paid`` of ``fills`` (if any) to an ack."""
    filled = sum(f.count for f in fills)
    if not filled:
        return
    notional = sum(f.price * f.count for f in fills)
    fees = sum(f.fee for f in fills)
    out["average_fill_price"] = format_price(notional // filled)
    out["average_fee_paid"] = format_price(-(-fees // filled))


class OrderRoutes:
    """Handlers of the order writes."""

    def __init__(self, venue: Venue, gate: Gate) -> None:
        """Write to ``venue``; ``gate`` meters cancel-all."""
        self._v = venue
        self._gate = gate

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Add the routes under ``prefix``."""
        p = prefix
        router.add_post(p + "/portfolio/events/orders", self.create)
        router.add_delete(p + "/portfolio/events/orders", self.cancel_all)
        router.add_post(p + "/portfolio/events/orders/batched", self.batch_create)
        router.add_delete(p + "/portfolio/events/orders/batched", self.batch_cancel)
        router.add_delete(p + "/portfolio/events/orders/{order_id}", self.cancel)
        router.add_post(p + "/portfolio/events/orders/{order_id}/amend", self.amend)
        router.add_post(p + "/portfolio/events/orders/{order_id}/decrease", self.decrease)
        for method, path in V1_WRITES:
            router.add_route(method, p + path, self.v1)

    async def v1(self, request: web.Request) -> web.Response:
        """Every V1 order write: 410 (switched off in June 2026)."""
        raise ApiError(410, "deprecated_v1_order_endpoint", "Please switch to the V2 endpoints",
                       "V1 order write endpoints were removed; use /portfolio/events/orders")

    # ----------------------------------------------------------------- create

    def _parse_create(self, body: JSON) -> JSON:
        out: JSON = {}
        for field in ("ticker", "side", "count", "price", "time_in_force",
                      "self_trade_prevention_type"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise bad_field(field)
        if body["side"] not in ("bid", "ask"):
            raise bad_field("side", "must be bid or ask")
        try:
            out["price"] = parse_price(body["price"])
        except ValueError:
            raise bad_field("price", "is not a decimal price") from None
        try:
            out["count"] = parse_count(body["count"])
        except ValueError:
            raise ApiError(400, "invalid_order_size", "invalid order size",
                           "count is not a decimal count") from None
        if out["count"] <= 0:
            raise ApiError(400, "invalid_order_size", "invalid order size",
                           "count must be positive")
        coid = body.get("client_order_id", "")
        if not isinstance(coid, str):
            raise bad_field("client_order_id", "must be a string")
        exp = body.get("expiration_time")
        if exp is not None:
            if body["time_in_force"] == "immediate_or_cancel":
                raise ApiError(400, "invalid_order", "invalid order",
                               "Cannot specify both immediate_or_cancel and expiration_ts")
            if not isinstance(exp, int) or exp <= self._v.clock.now().timestamp():
                raise ApiError(400, "invalid_order", "invalid order",
                               "Expiration timestamp must be in the future")
        for flag in ("post_only", "cancel_order_on_pause", "reduce_only"):
            if not isinstance(body.get(flag, False), bool):
                raise bad_field(flag, "must be a boolean")
        group_id = body.get("order_group_id") or ""
        if not isinstance(group_id, str):
            raise bad_field("order_group_id", "must be a string")
        out.update(
            ticker=body["ticker"], side=BookSide(body["side"]), client_order_id=coid,
            time_in_force=body["time_in_force"],
            self_trade_prevention_type=body["self_trade_prevention_type"],
            post_only=body.get("post_only", False),
            cancel_order_on_pause=body.get("cancel_order_on_pause", False),
            order_group_id=group_id,
        )
        return out

    def _check_group(self, user: str, group_id: str) -> None:
        if not group_id:
            return
        try:
            group = self._v.groups.get(user, group_id)
        except NotFound:
            raise ApiError(400, "order_group_not_found", "order group not found",
                           f"order group {group_id} not found") from None
        if group.triggered:
            raise ApiError(400, "order_group_triggered", "order group limit reached",
                           f"order group {group_id} is triggered; reset it to place orders")

    def _create_one(self, user: str, body: JSON) -> JSON:
        args = self._parse_create(body)
        self._v.check_writable(args["ticker"], placing=True)
        self._check_group(user, args["order_group_id"])
        start = len(self._v.engine.fills)
        try:
            order = self._v.engine.place(user, now=self._v.clock.now(), **args)
        except ExchangeError as exc:
            raise from_exchange_error(exc) from None
        finally:
            self._v.publish()
        out: JSON = {"order_id": order.order_id, "client_order_id": order.client_order_id,
                     "fill_count": format_count(order.filled),
                     "remaining_count": format_count(order.remaining)}
        fill_summary(out, self._own_fills(order, start))
        out["ts_ms"] = ts_ms(order.updated)
        return out

    def _own_fills(self, order: BookOrder, start: int) -> list[FillRow]:
        return [f for f in self._v.engine.fills[start:]
                if f.order_id == order.order_id and f.user == order.user]

    async def create(self, request: web.Request) -> web.Response:
        """``POST /portfolio/events/orders`` → 201."""
        body = await json_body(request)
        return web.json_response(self._create_one(current_user(request), body), status=201)

    async def batch_create(self, request: web.Request) -> web.Response:
        """``POST /portfolio/events/orders/batched`` → 201 with one result per item."""

        def one(user: str, item: object) -> JSON:
            if not isinstance(item, dict):
                raise bad_field("orders[]", "must be objects")
            return self._create_one(user, item)

        def failed(item: object, exc: ApiError) -> JSON:
            res: JSON = {"error": exc.item()}
            if isinstance(item, dict) and isinstance(item.get("client_order_id"), str):
                res["client_order_id"] = item["client_order_id"]
            return res

        results = await _each_item(request, one, failed)
        return web.json_response({"orders": results}, status=201)

    # ----------------------------------------------------------------- cancel

    def _cancel_one(self, user: str, order_id: str) -> JSON:
        try:
            order = self._v.engine.order(user, order_id)
        except NotFound:
            raise ApiError(404, "not_found", "order not found") from None
        self._v.check_writable(order.ticker, placing=False)
        try:
            order, reduced = self._v.engine.cancel(user, order_id, now=self._v.clock.now())
        except NotFound:
            raise ApiError(404, "not_found", "order not found",
                           "the order is already filled or cancelled") from None
        finally:
            self._v.publish()
        return {"order_id": order.order_id, "client_order_id": order.client_order_id,
                "reduced_by": format_count(reduced), "ts_ms": ts_ms(order.updated)}

    async def cancel(self, request: web.Request) -> web.Response:
        """``DELETE /portfolio/events/orders/{order_id}``."""
        return web.json_response(self._cancel_one(current_user(request),
                                                  request.match_info["order_id"]))

    async def batch_cancel(self, request: web.Request) -> web.Response:
        """``DELETE /portfolio/events/orders/batched`` (a JSON body) → one result per item."""

        def one(user: str, item: object) -> JSON:
            oid = item.get("order_id") if isinstance(item, dict) else None
            if not isinstance(oid, str):
                raise bad_field("order_id")
            return self._cancel_one(user, oid)

        def failed(item: object, exc: ApiError) -> JSON:
            oid = item.get("order_id") if isinstance(item, dict) else None
            return {"order_id": oid if isinstance(oid, str) else "", "reduced_by": "0.00",
                    "error": exc.item()}

        return web.json_response({"orders": await _each_item(request, one, failed)})

    async def cancel_all(self, request: web.Request) -> web.Response:
        """``DELETE /portfolio/events/orders`` → 204; costs 2 tokens per order (10 to capacity)."""
        user = current_user(request)
        v = self._v
        if not v.exchange_active:
            raise ApiError(400, "exchange_paused", "exchange is paused")
        resting = [o for o in v.engine.orders(user) if o.status is OrderStatus.RESTING
                   and v.status[o.ticker] == "active"]
        bucket = self._gate.bucket(user, "write")
        self._gate.charge(user, "write", min(max(10, 2 * len(resting)), bucket.capacity))
        ids = {o.order_id for o in resting}
        v.engine.cancel_where(v.clock.now(), lambda o: o.order_id in ids)
        v.publish()
        return web.Response(status=204)

    # ----------------------------------------------------------------- amend and decrease

    def _existing(self, user: str, order_id: str) -> BookOrder:
        try:
            return self._v.engine.order(user, order_id)
        except NotFound:
            raise ApiError(404, "not_found", "order not found") from None

    async def amend(self, request: web.Request) -> web.Response:
        """``POST /portfolio/events/orders/{order_id}/amend``: new price and total count."""
        user = current_user(request)
        body = await json_body(request)
        for field in ("ticker", "side", "price", "count"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise bad_field(field)
        if body["side"] not in ("bid", "ask"):
            raise bad_field("side", "must be bid or ask")
        try:
            price = parse_price(body["price"])
            count = parse_count(body["count"])
        except ValueError as exc:
            raise bad_field("price/count", str(exc)) from None
        oid = request.match_info["order_id"]
        existing = self._existing(user, oid)
        coid = body.get("client_order_id")
        if coid is not None and coid != existing.client_order_id:
            raise ApiError(400, "order_id_and_client_order_id_mismatch",
                           "order id and client order id mismatch")
        self._v.check_writable(existing.ticker, placing=True)
        updated = body.get("updated_client_order_id")
        remaining_before = existing.remaining
        start = len(self._v.engine.fills)
        try:
            order = self._v.engine.amend(
                user, oid, ticker=body["ticker"], side=BookSide(body["side"]), price=price,
                count=count, now=self._v.clock.now(),
                updated_client_order_id=updated if isinstance(updated, str) else None,
            )
        except ExchangeError as exc:
            raise from_exchange_error(exc) from None
        finally:
            self._v.publish()
        fills = self._own_fills(order, start)
        out: JSON = {"order_id": order.order_id, "client_order_id": order.client_order_id}
        if fills or order.remaining != remaining_before:
            out["remaining_count"] = format_count(order.remaining)
            out["fill_count"] = format_count(sum(f.count for f in fills))
        fill_summary(out, fills)
        out["ts_ms"] = ts_ms(order.updated)
        return web.json_response(out)

    async def decrease(self, request: web.Request) -> web.Response:
        """``POST /portfolio/events/orders/{order_id}/decrease``: exactly one of reduce_by/to."""
        user = current_user(request)
        body = await json_body(request)
        oid = request.match_info["order_id"]
        existing = self._existing(user, oid)
        self._v.check_writable(existing.ticker, placing=False)
        try:
            by = parse_count(body["reduce_by"]) if body.get("reduce_by") is not None else None
            to = parse_count(body["reduce_to"]) if body.get("reduce_to") is not None else None
        except (ValueError, TypeError):
            raise bad_field("reduce_by/reduce_to", "is not a decimal count") from None
        try:
            order = self._v.engine.decrease(user, oid, now=self._v.clock.now(), reduce_by=by,
                                            reduce_to=to)
        except ExchangeError as exc:
            raise from_exchange_error(exc) from None
        finally:
            self._v.publish()
        return web.json_response({
            "order_id": order.order_id, "client_order_id": order.client_order_id,
            "remaining_count": format_count(order.remaining), "ts_ms": ts_ms(order.updated),
        })


async def _each_item(
    request: web.Request,
    one: Callable[[str, object], JSON],
    failed: Callable[[object, ApiError], JSON],
) -> list[JSON]:
    """Run a V2 batch's ``orders`` one at a time: one result per item, in order.

    An item whose ``one`` raises `ApiError` gets ``failed``'s result; the others still run.
    """
    body = await json_body(request)
    items = body.get("orders")
    if not isinstance(items, list) or not items:
        raise bad_field("orders")
    user = current_user(request)
    results: list[JSON] = []
    for item in items:
        try:
            results.append(one(user, item))
        except ApiError as exc:
            results.append(failed(item, exc))
    return results
