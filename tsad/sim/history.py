"""A generated history of settled KXTSAW weeks, in Kalshi's response shapes, and its routes.

`GeneratedHistory` invents, from a seed, a run of past weeks: each week's realized average
(the settlement's ``expiration_value``), a forecaster's prediction of it, one market per strike
around it settled by Kalshi's rule (YES iff the average is above the floor strike), an hourly
market that drifts from the prediction toward the outcome as the week goes, its hourly
candlesticks and its public trades. Everything is deterministic per seed and exact on the
cent grid.

It serves the read endpoints ``tsad fetch-history`` uses — ``/historical/cutoff``,
``/markets`` and ``/historical/markets`` (``status=settled``, ``series_ticker``,
``min/max_settled_ts``, cursor pages), the live and historical hourly candlesticks, and
``/markets/trades`` / ``/historical/trades`` — with weeks settled before ``cutoff`` only in
the historical partition, as Kalshi does. `add_history_routes` attaches them to an aiohttp
router; `write_forecaster_files` writes matching prediction and error-history files.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from tsad.core import tickers
from tsad.core.money import format_count, format_price


__all__ = ["GeneratedHistory", "GeneratedWeek", "add_history_routes", "write_forecaster_files"]

HOUR: Final = 3600
_STRIKE_STEP: Final = 50_000
_SPREAD: Final = 200  # each side of the mid, price units ($0.02)


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cent(value: float) -> int:
    """A probability as a YES price on the cent grid, within 1–99 cents."""
    return min(max(round(value * 100), 1), 99) * 100


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedWeek:
    """One generated week: its realized average, the prediction, and its strikes."""

    sunday: date
    event_ticker: str
    actual: int
    prediction: int
    strikes: tuple[int, ...]
    open_ts: int
    close_ts: int
    settled_ts: int


class GeneratedHistory:
    """Deterministic past weeks of one series, served in Kalshi's shapes.

    Args:
        start: the first week's Sunday (or a day before it).
        end: the last week's Sunday (or a day after it).
        seed: the randomness.
        strikes: markets per week (centred on the week's actual, $50k apart).
        trades_per_hour: the average number of public trades per market-hour.
        cutoff: weeks settled before this instant are only in the historical partition
            (default: none are).
    """

    def __init__(
        self, start: date, end: date, *, seed: int = 0, strikes: int = 23,
        trades_per_hour: float = 1.5, cutoff: datetime | None = None,
    ) -> None:
        rng = random.Random(f"history-{seed}")
        self.seed = seed
        self.trades_per_hour = trades_per_hour
        first = start + timedelta(days=(6 - start.weekday()) % 7)
        self.weeks: list[GeneratedWeek] = []
        sunday = first
        level = 2_450_000.0
        while sunday <= end:
            level *= 1 + rng.gauss(0, 0.01)
            actual = int(level * (1 + 0.05 * math.sin(sunday.toordinal() / 58.0)))
            prediction = int(actual * (1 + rng.gauss(0, 0.02)))
            centre = round(actual / _STRIKE_STEP) * _STRIKE_STEP
            half = strikes // 2
            ks = tuple(centre + (i - half) * _STRIKE_STEP for i in range(strikes))
            open_ts = int(tickers.event_open_time(sunday).timestamp())
            close_ts = int(tickers.event_close_time(sunday).timestamp())
            self.weeks.append(GeneratedWeek(
                sunday=sunday, event_ticker=tickers.event_ticker(sunday, "KXTSAW"),
                actual=actual, prediction=prediction, strikes=ks, open_ts=open_ts,
                close_ts=close_ts, settled_ts=close_ts + 2 * 86_400,
            ))
            sunday += timedelta(days=7)
        self.cutoff_ts = int(cutoff.timestamp()) if cutoff else min(
            (w.settled_ts for w in self.weeks), default=0)
        self._markets = {self.ticker(w, k): (w, k) for w in self.weeks for k in w.strikes}

    @staticmethod
    def ticker(week: GeneratedWeek, strike: int) -> str:
        """The market ticker of a strike: ``KXTSAW-24SEP08-A2.45``."""
        return f"{week.event_ticker}-A{strike / 1_000_000:.2f}"

    # -- Kalshi objects --------------------------------------------------------------------

    def market(self, week: GeneratedWeek, strike: int) -> dict[str, Any]:
        """The settled Market object."""
        yes = week.actual > strike
        return {
            "ticker": self.ticker(week, strike), "event_ticker": week.event_ticker,
            "market_type": "binary", "status": "finalized",
            "yes_sub_title": f"Above {strike / 1_000_000:.2f}M",
            "no_sub_title": f"{strike / 1_000_000:.2f}M or below",
            "open_time": _rfc3339(week.open_ts), "close_time": _rfc3339(week.close_ts),
            "latest_expiration_time": _rfc3339(week.settled_ts),
            "settlement_ts": _rfc3339(week.settled_ts), "settlement_timer_seconds": 3600,
            "result": "yes" if yes else "no", "expiration_value": str(week.actual),
            "settlement_value_dollars": "1.0000" if yes else "0.0000",
            "strike_type": "greater", "floor_strike": strike,
            "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
            "notional_value_dollars": "1.0000", "exchange_index": 0,
        }

    def _mid(self, week: GeneratedWeek, strike: int, ts: int) -> float:
        """The market's probability of YES at ``ts``: the forecast moves to the outcome."""
        frac = min(max((ts - week.open_ts) / (week.close_ts - week.open_ts), 0.0), 1.0)
        centre = week.prediction + (week.actual - week.prediction) * frac
        sd = week.actual * 0.025 * math.sqrt(max(1.0 - frac, 0.02))
        return 0.5 * (1 + math.erf((centre - strike) / (sd * math.sqrt(2))))

    def candlesticks(self, ticker: str, *, historical: bool = False) -> dict[str, Any]:
        """The hourly GetMarketCandlesticks response over the market's life."""
        week, strike = self._markets[ticker]
        sticks = []
        for end in range(week.open_ts + HOUR, week.close_ts + 1, HOUR):
            mid = _cent(self._mid(week, strike, end))
            bid, ask = max(mid - _SPREAD, 100), min(mid + _SPREAD, 9900)
            if historical:
                def dist(p: int) -> dict[str, str]:
                    return {k: format_price(p) for k in ("open", "low", "high", "close")}
                sticks.append({"end_period_ts": end, "yes_bid": dist(bid), "yes_ask": dist(ask),
                               "price": {"close": format_price(mid)}, "volume": "0",
                               "open_interest": "0"})
            else:
                def dist_fp(p: int) -> dict[str, str]:
                    return {f"{k}_dollars": format_price(p)
                            for k in ("open", "low", "high", "close")}
                sticks.append({"end_period_ts": end, "yes_bid": dist_fp(bid),
                               "yes_ask": dist_fp(ask),
                               "price": {"close_dollars": format_price(mid)},
                               "volume_fp": "0.00", "open_interest_fp": "0.00"})
        return {"ticker": ticker, "candlesticks": sticks}

    def trades(self, ticker: str) -> list[dict[str, Any]]:
        """Every public trade of the market, oldest first (Trade objects)."""
        week, strike = self._markets[ticker]
        rng = random.Random(f"trades-{self.seed}-{ticker}")
        out = []
        for start in range(week.open_ts, week.close_ts, HOUR):
            n = int(rng.random() * 2 * self.trades_per_hour + 0.5)
            for i in range(n):
                ts = start + 1 + rng.randrange(HOUR - 1)
                mid = self._mid(week, strike, ts)
                price = _cent(mid + rng.gauss(0, 0.04))
                count = rng.randint(1, 20) * 100
                taker_yes = rng.random() < 0.5
                out.append({
                    "trade_id": f"{ticker}-{start}-{i}", "ticker": ticker,
                    "count_fp": format_count(count), "yes_price_dollars": format_price(price),
                    "no_price_dollars": format_price(10_000 - price),
                    "taker_outcome_side": "yes" if taker_yes else "no",
                    "taker_book_side": "bid" if taker_yes else "ask",
                    "created_time": _rfc3339(ts), "is_block_trade": False,
                })
        return sorted(out, key=lambda t: str(t["created_time"]))

    # -- the partition ---------------------------------------------------------------------

    def _settled(self, q: dict[str, str], historical: bool) -> Iterator[dict[str, Any]]:
        lo = int(q.get("min_settled_ts") or 0)
        hi = int(q.get("max_settled_ts") or 2**62)
        series = q.get("series_ticker")
        for w in self.weeks:
            if (w.settled_ts < self.cutoff_ts) != historical or not lo <= w.settled_ts <= hi:
                continue
            if series and not w.event_ticker.startswith(series + "-"):
                continue
            for k in w.strikes:
                yield self.market(w, k)

    def is_historical(self, ticker: str) -> bool:
        """Whether the market settled before the cutoff (only under ``/historical``)."""
        return self._markets[ticker][0].settled_ts < self.cutoff_ts


def _page(items: Sequence[dict[str, Any]], key: str, q: dict[str, str]) -> web.Response:
    start = int(q.get("cursor") or 0)
    limit = min(max(int(q.get("limit") or 100), 1), 1000)
    chunk = list(items[start:start + limit])
    more = start + limit < len(items)
    return web.json_response({key: chunk, "cursor": str(start + limit) if more else ""})


def add_history_routes(router: web.UrlDispatcher, history: GeneratedHistory, *,
                       prefix: str = "/trade-api/v2",
                       live_markets: bool = True) -> None:
    """Serve ``history`` on ``router`` (``live_markets=False`` leaves ``GET /markets`` to an
    emulator that already serves it; it then answers settled queries from ``history`` when
    asked through `settled_markets_response`)."""

    async def cutoff(_: web.Request) -> web.Response:
        ts = _rfc3339(history.cutoff_ts)
        return web.json_response({"market_settled_ts": ts, "trades_created_ts": ts,
                                  "orders_updated_ts": ts})

    async def markets(request: web.Request) -> web.Response:
        q = dict(request.query)
        return _page(list(history._settled(q, historical=False)), "markets", q)

    async def hist_markets(request: web.Request) -> web.Response:
        q = dict(request.query)
        return _page(list(history._settled(q, historical=True)), "markets", q)

    async def candles(request: web.Request) -> web.Response:
        t = request.match_info["ticker"]
        if t not in history._markets or history.is_historical(t):
            raise web.HTTPNotFound()
        return web.json_response(history.candlesticks(t))

    async def hist_candles(request: web.Request) -> web.Response:
        t = request.match_info["ticker"]
        if t not in history._markets or not history.is_historical(t):
            raise web.HTTPNotFound()
        return web.json_response(history.candlesticks(t, historical=True))

    def _trades(request: web.Request, historical: bool) -> web.Response:
        q = dict(request.query)
        t = q.get("ticker", "")
        if t not in history._markets:
            return _page([], "trades", q)
        lo, hi = int(q.get("min_ts") or 0), int(q.get("max_ts") or 2**62)
        cut = history.cutoff_ts
        rows = [
            tr for tr in history.trades(t)
            if lo <= (ts := int(datetime.fromisoformat(
                str(tr["created_time"]).replace("Z", "+00:00")).timestamp())) <= hi
            and (ts < cut) == historical
        ]
        return _page(rows, "trades", q)

    async def trades(request: web.Request) -> web.Response:
        return _trades(request, False)

    async def hist_trades(request: web.Request) -> web.Response:
        return _trades(request, True)

    router.add_get(prefix + "/historical/cutoff", cutoff)
    router.add_get(prefix + "/historical/markets", hist_markets)
    router.add_get(prefix + "/historical/markets/{ticker}/candlesticks", hist_candles)
    router.add_get(prefix + "/historical/trades", hist_trades)
    router.add_get(prefix + "/series/{series}/markets/{ticker}/candlesticks", candles)
    if live_markets:
        router.add_get(prefix + "/markets", markets)
        router.add_get(prefix + "/markets/trades", trades)


def write_forecaster_files(history: GeneratedHistory, directory: Path, *,
                           seed: int = 0, past_rows: int = 120) -> tuple[Path, Path]:
    """Write ``predictions.json`` (each week's prediction) and ``history.csv`` (errors).

    The error history is ``past_rows`` synthetic weeks with the same 2 % forecast error, so a
    backtest prices every generated week. Returns the two paths.
    """
    rng = random.Random(f"forecaster-{seed}")
    directory.mkdir(parents=True, exist_ok=True)
    preds = directory / "predictions.json"
    preds.write_text(json.dumps(
        {w.sunday.isoformat(): {"prediction": w.prediction} for w in history.weeks}, indent=1))
    lines = ["date,passengers_7_day_moving_average,prediction"]
    day = date(2020, 1, 5)
    for _ in range(past_rows):
        p = 2_400_000 * (1 + rng.uniform(-0.1, 0.1))
        lines.append(f"{day.isoformat()},{round(p * (1 + rng.gauss(0, 0.02)))},{round(p)}")
        day += timedelta(days=7)
    hist = directory / "history.csv"
    hist.write_text("\n".join(lines) + "\n")
    return preds, hist
