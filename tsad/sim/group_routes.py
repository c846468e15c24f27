"""The emulator's order-group routes (kalshi-api.md §3.11): create, list, get, reset, trigger,
limit and delete, each announced on the ``order_group_updates`` websocket channel."""

from __future__ import annotations

from aiohttp import web

from tsad.core.money import format_count, parse_count
from tsad.errors import NotFound
from tsad.sim.api import JSON, ApiError, current_user, json_body
from tsad.sim.order_groups import OrderGroup
from tsad.sim.venue import Venue


__all__ = ["GroupRoutes", "parse_limit"]


def parse_limit(body: JSON) -> int:
    """Return the contracts limit (count units) of ``contracts_limit``/``contracts_limit_fp``.

    Raises:
        ApiError: neither given, malformed, not a whole count ≥ 1, or the two disagree.
    """
    whole, fp = body.get("contracts_limit"), body.get("contracts_limit_fp")
    values: list[int] = []
    if whole is not None:
        if not isinstance(whole, int) or isinstance(whole, bool) or whole < 1:
            raise ApiError(400, "invalid_parameters", "invalid contracts_limit")
        values.append(whole * 100)
    if fp is not None:
        try:
            values.append(parse_count(fp))
        except (TypeError, ValueError):
            raise ApiError(400, "invalid_parameters", "invalid contracts_limit_fp") from None
    if not values:
        raise ApiError(400, "invalid_parameters", "contracts_limit is required")
    if len(set(values)) > 1:
        raise ApiError(400, "invalid_parameters",
                       "contracts_limit and contracts_limit_fp must match")
    if values[0] < 100 or values[0] % 100:
        raise ApiError(400, "invalid_parameters", "contracts_limit must be whole contracts ≥ 1")
    return values[0]


class GroupRoutes:
    """Handlers of ``/portfolio/order_groups``."""

    def __init__(self, venue: Venue) -> None:
        """Serve ``venue``'s order groups."""
        self._v = venue

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Add the routes under ``prefix``."""
        p = prefix + "/portfolio/order_groups"
        router.add_post(p + "/create", self.create)
        router.add_get(p, self.list_groups)
        router.add_get(p + "/{group_id}", self.get)
        router.add_delete(p + "/{group_id}", self.delete)
        router.add_put(p + "/{group_id}/reset", self.reset)
        router.add_put(p + "/{group_id}/trigger", self.trigger)
        router.add_put(p + "/{group_id}/limit", self.limit)

    def _group(self, request: web.Request) -> OrderGroup:
        try:
            return self._v.groups.get(current_user(request), request.match_info["group_id"])
        except NotFound:
            raise ApiError(404, "not_found", "order group not found") from None

    async def create(self, request: web.Request) -> web.Response:
        """``POST /portfolio/order_groups/create`` → 201."""
        user = current_user(request)
        limit = parse_limit(await json_body(request))
        group = self._v.groups.create(user, limit)
        self._v.group_update(group, "created")
        return web.json_response({"order_group_id": group.group_id, "subaccount": 0,
                                  "exchange_index": 0}, status=201)

    async def list_groups(self, request: web.Request) -> web.Response:
        """``GET /portfolio/order_groups``."""
        groups = self._v.groups.of(current_user(request))
        return web.json_response({"order_groups": [
            {"id": g.group_id, "contracts_limit_fp": format_count(g.limit),
             "is_auto_cancel_enabled": True, "exchange_index": 0} for g in groups
        ]})

    async def get(self, request: web.Request) -> web.Response:
        """``GET /portfolio/order_groups/{id}``: the limit and the group's order ids."""
        group = self._group(request)
        orders = [o.order_id for o in self._v.engine.orders(group.user)
                  if o.order_group_id == group.group_id]
        return web.json_response({"is_auto_cancel_enabled": True,
                                  "contracts_limit_fp": format_count(group.limit),
                                  "orders": orders, "exchange_index": 0})

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /portfolio/order_groups/{id}``: cancel its resting orders and forget it."""
        group = self._group(request)
        v = self._v
        v.engine.cancel_where(v.clock.now(), lambda o: o.order_group_id == group.group_id)
        v.groups.delete(group.user, group.group_id)
        v.publish()
        v.group_update(group, "deleted")
        return web.json_response({})

    async def reset(self, request: web.Request) -> web.Response:
        """``PUT /portfolio/order_groups/{id}/reset``: clear the trigger and the counter."""
        group = self._group(request)
        self._v.groups.reset(group)
        self._v.group_update(group, "reset")
        return web.json_response({})

    async def trigger(self, request: web.Request) -> web.Response:
        """``PUT /portfolio/order_groups/{id}/trigger``: cancel the group's orders now."""
        group = self._group(request)
        self._v.trigger_group(group)
        self._v.publish()
        return web.json_response({})

    async def limit(self, request: web.Request) -> web.Response:
        """``PUT /portfolio/order_groups/{id}/limit``; triggers at once if volume is above it."""
        group = self._group(request)
        limit = parse_limit(await json_body(request))
        triggers = self._v.groups.set_limit(group, limit, self._v.clock.now())
        self._v.group_update(group, "limit_updated")
        if triggers:
            self._v.trigger_group(group)
            self._v.publish()
        return web.json_response({})
