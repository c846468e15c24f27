"""Settled-market history: reads of markets, hourly candlesticks and trades, live or historical.

Kalshi serves markets settled before a rolling cutoff (``GET /historical/cutoff``) only from
the ``/historical/*`` partition, newer ones from the live endpoints; `HistoryReader` asks the
right one per market and returns Kalshi's own response objects untouched, so a saved file is
exactly what the exchange said. These market-data reads are public (no key needed); every
request is paced by the account's read bucket (`tsad.kalshi.budget`) and retried with
backoff on 429 / 5xx / transport errors.

The decoders turn those saved objects into exact values for the backtest: prices in $0.0001
and counts in 0.01 contract (`tsad.core.money`), timestamps in Unix seconds. Both the live
candlestick shape (``yes_bid.close_dollars``, ``volume_fp``) and the historical one
(``yes_bid.close``, ``volume``) are read.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx

from tsad.core.market import Market, StrikeType
from tsad.core.money import PriceGrid, parse_count, parse_price
from tsad.errors import ProtocolError, TransportError
from tsad.kalshi.budget import DEFAULT_COST, Budget


__all__ = [
    "HOUR",
    "Candle",
    "Cutoff",
    "HistoryReader",
    "PrintedTrade",
    "SettledMarket",
    "decode_candles",
    "decode_cutoff",
    "decode_settled_market",
    "decode_trades",
    "unix",
]

HOUR: Final = 3600
Json = Any


def unix(text: str) -> int:
    """Return an RFC3339 time (``2024-09-02T04:00:00Z``) as Unix seconds."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _price(value: object) -> int | None:
    return parse_price(value) if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cutoff:
    """The historical cutoffs in Unix seconds: older data lives under ``/historical``."""

    market_settled_ts: int
    trades_created_ts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SettledMarket:
    """A settled market: the `Market` tsad values, its ``result`` and ``expiration_value``."""

    market: Market
    result: str
    expiration_value: str
    settled_ts: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One hourly candlestick: the closing YES bid and ask (None when that side was empty)."""

    end_ts: int
    bid: int | None
    ask: int | None
    volume: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintedTrade:
    """One public trade print: YES price and count."""

    ts: int
    price: int
    count: int


def decode_cutoff(payload: Json) -> Cutoff:
    """Decode ``GET /historical/cutoff`` (RFC3339 strings or Unix seconds)."""
    try:
        def ts(key: str) -> int:
            v = payload[key]
            return int(v) if isinstance(v, int) else unix(str(v))

        return Cutoff(market_settled_ts=ts("market_settled_ts"),
                      trades_created_ts=ts("trades_created_ts"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"historical cutoff: {exc!r}") from exc


def decode_settled_market(m: Mapping[str, Any]) -> SettledMarket:
    """Decode one Market object of a settled market.

    Raises:
        ProtocolError: a field tsad needs is missing or malformed.
    """
    try:
        floor = m.get("floor_strike")
        market = Market(
            ticker=str(m["ticker"]), event_ticker=str(m["event_ticker"]),
            strike_type=StrikeType(str(m.get("strike_type") or "greater")),
            floor_strike=None if floor is None else float(floor),
            cap_strike=None if m.get("cap_strike") is None else float(m["cap_strike"]),
            grid=PriceGrid.from_wire(m.get("price_ranges")),
            status="active",
            open_time=datetime.fromisoformat(str(m["open_time"]).replace("Z", "+00:00")),
            close_time=datetime.fromisoformat(str(m["close_time"]).replace("Z", "+00:00")),
            exchange_index=int(m.get("exchange_index") or 0),
            title=str(m.get("yes_sub_title") or ""),
        )
        settled = m.get("settlement_ts")
        return SettledMarket(
            market=market, result=str(m.get("result") or ""),
            expiration_value=str(m.get("expiration_value") or ""),
            settled_ts=unix(str(settled)) if settled else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"market {m.get('ticker')!r}: {exc!r}") from exc


def _close(dist: Mapping[str, Any] | None) -> int | None:
    if not dist:
        return None
    value = dist.get("close_dollars", dist.get("close"))
    return _price(value)


def decode_candles(payload: Json) -> list[Candle]:
    """Decode a ``GetMarketCandlesticks`` response (live or historical shape), oldest first."""
    try:
        out = []
        for c in payload["candlesticks"]:
            vol = c.get("volume_fp", c.get("volume"))
            bid, ask = _close(c.get("yes_bid")), _close(c.get("yes_ask"))
            out.append(Candle(
                end_ts=int(c["end_period_ts"]),
                bid=bid or None,  # a zero bid means no bid
                ask=None if ask is None or ask >= 10_000 else ask,
                volume=parse_count(vol) if isinstance(vol, str) else int(vol or 0) * 100,
            ))
        return sorted(out, key=lambda c: c.end_ts)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"candlesticks: {exc!r}") from exc


def decode_trades(payload: Json) -> list[PrintedTrade]:
    """Decode a ``GetTrades`` response (``{"trades": [...]}``), oldest first."""
    try:
        out = [
            PrintedTrade(ts=unix(str(t["created_time"])),
                         price=parse_price(str(t["yes_price_dollars"])),
                         count=parse_count(str(t["count_fp"])))
            for t in payload["trades"]
        ]
        return sorted(out, key=lambda t: t.ts)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"trades: {exc!r}") from exc


Sleep = Callable[[float], Awaitable[None]]


class HistoryReader:
    """Paced, retried GETs of the public market-data endpoints, live and historical.

    Args:
        rest_url: the API root, e.g. ``https://external-api.kalshi.com/trade-api/v2``.
        budget: the account's token buckets (reads draw from ``read``).
        timeout: seconds per request.
        transport: an httpx transport (tests); None uses the network.
        max_attempts: attempts per request.
        sleep: the coroutine used between retries.
    """

    def __init__(
        self, rest_url: str, *, budget: Budget, timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None, max_attempts: int = 6,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._base = rest_url.rstrip("/")
        self._budget = budget
        self._attempts = max(1, max_attempts)
        self._sleep = sleep
        self._rng = random.Random()
        self.requests = 0
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport,
                                       headers={"Accept": "application/json"})

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Json:
        """GET ``path`` (relative to the API root) and return its JSON body.

        Raises:
            TransportError: the exchange kept failing or answered a client error.
        """
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(1, self._attempts + 1):
            await self._budget.acquire("read", DEFAULT_COST)
            self.requests += 1
            try:
                resp = await self._http.get(self._base + path, params=clean)
            except httpx.HTTPError as exc:
                if attempt == self._attempts:
                    raise TransportError(f"GET {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if resp.status_code < 400:
                    return resp.json()
                if resp.status_code != 429 and resp.status_code < 500:
                    raise TransportError(f"GET {path} → HTTP {resp.status_code}: "
                                         f"{resp.text[:200]}")
                if resp.status_code == 429:
                    self._budget.drain("read")
                if attempt == self._attempts:
                    raise TransportError(f"GET {path} → HTTP {resp.status_code} "
                                         f"after {attempt} attempts")
            top = min(8.0, 0.25 * 2 ** (attempt - 1))
            await self._sleep(top / 2 + self._rng.uniform(0, top / 2))
        raise AssertionError("unreachable")

    async def pages(self, path: str, key: str, params: Mapping[str, Any]) -> list[Json]:
        """Follow a cursor-paginated list to its end and return every item of ``key``."""
        items: list[Json] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body = await self.get(path, {**params, "limit": 1000, "cursor": cursor})
            items.extend(body.get(key) or [])
            cursor = body.get("cursor") or None
            if cursor is None:
                return items
            if cursor in seen:
                raise ProtocolError(f"GET {path}: cursor {cursor!r} repeated")
            seen.add(cursor)

    async def cutoff(self) -> Cutoff:
        """Read ``GET /historical/cutoff``."""
        return decode_cutoff(await self.get("/historical/cutoff"))

    async def settled_markets(self, series: str, *, min_ts: int, max_ts: int) -> list[Json]:
        """Return the raw Market objects of ``series`` settled in ``[min_ts, max_ts]``.

        Both partitions are asked (the cutoff moves); a market in both is kept once.
        """
        window = {"series_ticker": series, "min_settled_ts": min_ts, "max_settled_ts": max_ts}
        live = await self.pages("/markets", "markets", {**window, "status": "settled"})
        old = await self.pages("/historical/markets", "markets", window)
        by_ticker = {str(m["ticker"]): m for m in old}
        by_ticker.update({str(m["ticker"]): m for m in live})
        return [by_ticker[t] for t in sorted(by_ticker)]

    async def candlesticks(self, market: Mapping[str, Any], *, historical: bool) -> Json:
        """Return the hourly ``GetMarketCandlesticks`` response over the market's life."""
        ticker, event = str(market["ticker"]), str(market["event_ticker"])
        series = event.split("-", 1)[0]
        params = {"start_ts": unix(str(market["open_time"])),
                  "end_ts": unix(str(market["close_time"])), "period_interval": 60}
        if historical:
            return await self.get(f"/historical/markets/{ticker}/candlesticks", params)
        return await self.get(f"/series/{series}/markets/{ticker}/candlesticks", params)

    async def trades(self, market: Mapping[str, Any], *, cutoff: Cutoff) -> Json:
        """Return every trade of the market as one ``{"trades": [...], "cursor": ""}``.

        Trades before ``cutoff.trades_created_ts`` come from ``/historical/trades``.
        """
        ticker = str(market["ticker"])
        lo, hi = unix(str(market["open_time"])), unix(str(market["close_time"]))
        out: list[Json] = []
        if lo < cutoff.trades_created_ts:
            out += await self.pages("/historical/trades", "trades", {
                "ticker": ticker, "min_ts": lo, "max_ts": min(hi, cutoff.trades_created_ts)})
        if hi >= cutoff.trades_created_ts:
            out += await self.pages("/markets/trades", "trades", {
                "ticker": ticker, "min_ts": max(lo, cutoff.trades_created_ts), "max_ts": hi})
        unique = {str(t["trade_id"]): t for t in out}
        return {"trades": sorted(unique.values(), key=lambda t: str(t["created_time"])),
                "cursor": ""}
