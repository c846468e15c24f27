"""The emulator's public market-data routes: exchange, series, events, markets, books, trades."""

from __future__ import annotations

from aiohttp import web

from tsad.core.money import PRICE_ONE, format_count, format_price
from tsad.core.orders import BookSide
from tsad.sim.api import JSON, ApiError, flag, page
from tsad.sim.venue import Venue
from tsad.sim.wire import rfc3339


__all__ = ["MarketRoutes"]

_STATUS_FILTER = {"open": "active", "unopened": "initialized", "paused": "inactive",
                  "closed": "closed", "settled": "finalized"}


class MarketRoutes:
    """Handlers of the unauthenticated reads (kalshi-api.md §3.1–§3.6)."""

    def __init__(self, venue: Venue) -> None:
        """Serve ``venue``'s data."""
        self._v = venue

    def register(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Add the routes under ``prefix``."""
        p = prefix
        router.add_get(p + "/exchange/status", self.exchange_status)
        router.add_get(p + "/exchange/schedule", self.schedule)
        router.add_get(p + "/series/{series}", self.series)
        router.add_get(p + "/events", self.events)
        router.add_get(p + "/events/{event}", self.event)
        router.add_get(p + "/markets", self.markets)
        router.add_get(p + "/markets/trades", self.trades)
        router.add_get(p + "/markets/{ticker}", self.market)
        router.add_get(p + "/markets/{ticker}/orderbook", self.orderbook)
        router.add_get(p + "/account/endpoint_costs", self.endpoint_costs)

    async def exchange_status(self, request: web.Request) -> web.Response:
        """``GET /exchange/status``."""
        v = self._v
        trading = v.trading_active and v.exchange_active
        return web.json_response({
            "exchange_active": v.exchange_active,
            "trading_active": trading,
            "intra_exchange_transfers_active": v.exchange_active,
            "exchange_index_statuses": [{
                "exchange_index": 0, "description": "event contracts",
                "exchange_active": v.exchange_active, "trading_active": trading,
                "intra_exchange_transfers_active": v.exchange_active,
            }],
        })

    async def schedule(self, request: web.Request) -> web.Response:
        """``GET /exchange/schedule``: open around the clock for the first week."""
        day = [{"open_time": "00:00", "close_time": "23:59"}]
        hours = {d: day for d in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                  "saturday", "sunday")}
        m0 = self._v.event.markets[0]
        assert m0.open_time is not None and m0.close_time is not None
        return web.json_response({"schedule": {
            "standard_hours": [{"start_time": rfc3339(m0.open_time),
                                "end_time": rfc3339(m0.close_time), **hours}],
            "maintenance_windows": [],
        }})

    async def series(self, request: web.Request) -> web.Response:
        """``GET /series/{series_ticker}``."""
        series = self._v.event.series_ticker
        if request.match_info["series"] != series:
            raise ApiError(404, "not_found", "series not found")
        return web.json_response({"series": {
            "ticker": series,
            "frequency": "weekly",
            "title": "TSA check-ins weekly average",
            "category": "Transportation",
            "tags": ["TSA"],
            "settlement_sources": [{"name": "TSA",
                                    "url": "https://www.tsa.gov/travel/passenger-volumes"}],
            "contract_url": "",
            "contract_terms_url": "",
            "fee_type": "quadratic",
            "fee_multiplier": 1,
            "additional_prohibitions": [],
            "exchange_index": 0,
        }})

    async def events(self, request: web.Request) -> web.Response:
        """``GET /events`` (series, tickers and status filters; cursor paging)."""
        q = request.query
        nested = flag(request, "with_nested_markets")
        rows: list[JSON] = []
        for event in self._v.events():
            if q.get("series_ticker") not in (None, "", event.series_ticker):
                continue
            if q.get("tickers") and event.event_ticker not in q["tickers"].split(","):
                continue
            status = q.get("status")
            if status and not any(self._status_matches(m.ticker, status)
                                  for m in event.markets):
                continue
            rows.append(self._v.event_json(event, nested=nested))
        rows_page, cursor = page(request, rows, default=200, maximum=200)
        return web.json_response({"events": rows_page, "cursor": cursor})

    async def event(self, request: web.Request) -> web.Response:
        """``GET /events/{event_ticker}``."""
        event = self._v.hosted_event(request.match_info["event"])
        if event is None:
            raise ApiError(404, "not_found", "event not found")
        body = self._v.event_json(event, nested=flag(request, "with_nested_markets"))
        return web.json_response({"event": body, "markets": [
            self._v.market_json(m.ticker) for m in event.markets
        ]})

    def _status_matches(self, ticker: str, status: str) -> bool:
        if status not in _STATUS_FILTER:
            raise ApiError(400, "invalid_parameters", f"unknown status {status!r}")
        return self._v.status[ticker] == _STATUS_FILTER[status]

    async def markets(self, request: web.Request) -> web.Response:
        """``GET /markets`` (event, series, tickers and status filters; cursor paging)."""
        q = request.query
        v = self._v
        tickers = list(v.markets)
        if q.get("event_ticker"):
            tickers = [t for t in tickers if v.markets[t].event_ticker == q["event_ticker"]]
        if q.get("series_ticker") and q["series_ticker"] != v.event.series_ticker:
            tickers = []
        if q.get("tickers"):
            wanted = set(q["tickers"].split(","))
            tickers = [t for t in tickers if t in wanted]
        if q.get("status"):
            tickers = [t for t in tickers if self._status_matches(t, q["status"])]
        rows_page, cursor = page(request, tickers, default=100, maximum=1000)
        return web.json_response({"markets": [v.market_json(t) for t in rows_page],
                                  "cursor": cursor})

    def _known(self, ticker: str) -> str:
        if ticker not in self._v.markets:
            raise ApiError(404, "not_found", f"market {ticker} not found")
        return ticker

    async def market(self, request: web.Request) -> web.Response:
        """``GET /markets/{ticker}``."""
        t = self._known(request.match_info["ticker"])
        return web.json_response({"market": self._v.market_json(t)})

    async def orderbook(self, request: web.Request) -> web.Response:
        """``GET /markets/{ticker}/orderbook``: YES bids and NO bids, ascending, by ``depth``."""
        t = self._known(request.match_info["ticker"])
        bids, asks = self._v.engine.levels(t)
        try:
            depth = int(request.query.get("depth", 0))
        except ValueError:
            raise ApiError(400, "invalid_parameters", "bad depth") from None
        yes, no = list(bids), sorted((PRICE_ONE - p, c) for p, c in asks)
        if depth > 0:
            yes, no = yes[-depth:], no[-depth:]
        return web.json_response({"orderbook_fp": {
            "yes_dollars": [[format_price(p), format_count(c)] for p, c in yes],
            "no_dollars": [[format_price(p), format_count(c)] for p, c in no],
        }})

    async def trades(self, request: web.Request) -> web.Response:
        """``GET /markets/trades``: public prints, newest first."""
        rows = list(reversed(self._v.engine.trades))
        if request.query.get("ticker"):
            rows = [r for r in rows if r.ticker == request.query["ticker"]]
        rows_page, cursor = page(request, rows, default=100, maximum=1000)
        return web.json_response({"trades": [{
            "trade_id": r.trade_id, "ticker": r.ticker, "count_fp": format_count(r.count),
            "yes_price_dollars": format_price(r.price),
            "no_price_dollars": format_price(PRICE_ONE - r.price),
            "taker_outcome_side": "yes" if r.taker_side is BookSide.BID else "no",
            "taker_book_side": str(r.taker_side),
            "taker_side": "yes" if r.taker_side is BookSide.BID else "no",
            "created_time": rfc3339(r.ts), "is_block_trade": False,
        } for r in rows_page], "cursor": cursor})

    async def endpoint_costs(self, request: web.Request) -> web.Response:
        """``GET /account/endpoint_costs``: the non-default token costs (§4.1)."""
        return web.json_response({"default_cost": 10, "endpoint_costs": [
            {"method": "DELETE", "path": "/portfolio/events/orders/batched", "cost": 2},
        ]})
