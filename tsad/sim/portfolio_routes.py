"""The emulator's private reads: balance, positions, orders, fills, settlements, account limits."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tsad.core.money import format_count
from tsad.errors import NotFound
from tsad.sim.api import JSON, ApiError, current_user, page
from tsad.sim.auth import TIERS
from tsad.sim.venue import Venue
from tsad.sim.wire import fill_json, money_str, order_json, position_json


__all__ = ["PortfolioRoutes"]


def _ts_filter(rows: list[Any], query: Any, ts: Any) -> list[Any]:
    """Keep rows whose Unix-seconds time is within ``min_ts``/``max_ts``."""
    try:
        if query.get("min_ts"):
            rows = [r for r in rows if ts(r).timestamp() >= int(query["min_ts"])]
        if query.get("max_ts"):
            rows = [r for r in rows if ts(r).timestamp() <= int(query["max_ts"])]
    except ValueError:
        raise ApiError(400, "invalid_parameters", "bad min_ts/max_ts") from None
    return rows


class PortfolioRoutes:
    """Handlers of the authenticated reads (kalshi-api.md §3.7, §3.10, §3.12)."""

    def __init__(self, venue: Venue, tier: str) -> None:
        """Serve ``venue``'s accounts; ``tier`` is the rate-limit tier reported."""
        self._v = venue
        self._tier = tier

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Add the routes under ``prefix``."""
        p = prefix
        router.add_get(p + "/account/limits", self.limits)
        router.add_get(p + "/portfolio/balance", self.balance)
        router.add_get(p + "/portfolio/orders", self.orders)
        router.add_get(p + "/portfolio/orders/{order_id}", self.order)
        router.add_get(p + "/portfolio/positions", self.positions)
        router.add_get(p + "/portfolio/fills", self.fills)
        router.add_get(p + "/portfolio/settlements", self.settlements)

    async def limits(self, request: web.Request) -> web.Response:
        """``GET /account/limits``."""
        current_user(request)
        read, write, rcap, wcap = TIERS[self._tier]
        return web.json_response({
            "usage_tier": self._tier,
            "read": {"refill_rate": read, "bucket_capacity": read * rcap},
            "write": {"refill_rate": write, "bucket_capacity": write * wcap},
            "grants": [],
        })

    async def balance(self, request: web.Request) -> web.Response:
        """``GET /portfolio/balance`` (cents and dollars)."""
        acct = self._v.engine.account(current_user(request))
        value = acct.balance + sum(ps.cost for ps in acct.positions.values())
        return web.json_response({
            "balance": acct.balance // 10_000,
            "balance_dollars": money_str(acct.balance),
            "portfolio_value": value // 10_000,
            "updated_ts": int(self._v.clock.now().timestamp()),
            "balance_breakdown": [{"exchange_index": 0, "balance": money_str(acct.balance)}],
        })

    async def orders(self, request: web.Request) -> web.Response:
        """``GET /portfolio/orders``, newest first."""
        user = current_user(request)
        v = self._v
        q = request.query
        rows = list(reversed(v.engine.orders(user)))
        if q.get("ticker"):
            rows = [o for o in rows if o.ticker == q["ticker"]]
        if q.get("event_ticker"):
            events = set(q["event_ticker"].split(","))
            rows = [o for o in rows if v.markets[o.ticker].event_ticker in events]
        if q.get("status"):
            if q["status"] not in ("resting", "canceled", "executed"):
                raise ApiError(400, "invalid_parameters", f"unknown status {q['status']!r}")
            rows = [o for o in rows if o.status == q["status"]]
        rows = _ts_filter(rows, q, lambda o: o.created)
        rows_page, cursor = page(request, rows, default=100, maximum=1000)
        uid = v.user_id(user)
        return web.json_response({"orders": [order_json(o, uid) for o in rows_page],
                                  "cursor": cursor})

    async def order(self, request: web.Request) -> web.Response:
        """``GET /portfolio/orders/{order_id}``."""
        user = current_user(request)
        try:
            o = self._v.engine.order(user, request.match_info["order_id"])
        except NotFound:
            raise ApiError(404, "not_found", "order not found") from None
        return web.json_response({"order": order_json(o, self._v.user_id(user))})

    async def positions(self, request: web.Request) -> web.Response:
        """``GET /portfolio/positions``: unsettled positions, per market and per event."""
        v = self._v
        acct = v.engine.account(current_user(request))
        q = request.query
        rows = [(t, ps) for t, ps in acct.positions.items() if v.status[t] != "finalized"]
        if q.get("ticker"):
            rows = [r for r in rows if r[0] == q["ticker"]]
        if q.get("event_ticker"):
            rows = [r for r in rows if v.markets[r[0]].event_ticker == q["event_ticker"]]
        filters = [f for f in q.get("count_filter", "").split(",") if f]
        if "position" in filters:
            rows = [r for r in rows if r[1].position]
        if "total_traded" in filters:
            rows = [r for r in rows if r[1].traded]
        rows_page, cursor = page(request, rows, default=100, maximum=1000)
        event_positions: list[JSON] = []
        if rows_page:
            by_event: dict[str, list[Any]] = {}
            for r in rows:
                by_event.setdefault(v.markets[r[0]].event_ticker, []).append(r)
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
            "market_positions": [position_json(t, ps) for t, ps in rows_page],
            "event_positions": event_positions,
            "cursor": cursor,
        })

    async def fills(self, request: web.Request) -> web.Response:
        """``GET /portfolio/fills``, newest first."""
        user = current_user(request)
        q = request.query
        rows = [f for f in reversed(self._v.engine.fills) if f.user == user]
        if q.get("ticker"):
            rows = [f for f in rows if f.ticker == q["ticker"]]
        if q.get("order_id"):
            rows = [f for f in rows if f.order_id == q["order_id"]]
        rows = _ts_filter(rows, q, lambda f: f.ts)
        rows_page, cursor = page(request, rows, default=100, maximum=1000)
        return web.json_response({"fills": [fill_json(f) for f in rows_page], "cursor": cursor})

    async def settlements(self, request: web.Request) -> web.Response:
        """``GET /portfolio/settlements``: the user's settled markets, newest first."""
        user = current_user(request)
        q = request.query
        rows = [s for s in reversed(self._v.settlements) if s.user == user]
        if q.get("ticker"):
            rows = [s for s in rows if s.ticker == q["ticker"]]
        if q.get("event_ticker"):
            rows = [s for s in rows if s.event_ticker == q["event_ticker"]]
        rows = _ts_filter(rows, q, lambda s: s.ts)
        rows_page, cursor = page(request, rows, default=100, maximum=1000)
        return web.json_response({"settlements": [s.to_json() for s in rows_page],
                                  "cursor": cursor})
