"""The emulator's websocket: commands, subscriptions, channel messages and per-sid seq numbers.

Shapes follow kalshi-api.md §5 and the AsyncAPI document. Sequenced messages (``seq``) are
those of ``orderbook_delta`` and ``order_group_updates`` subscriptions (snapshots, deltas,
group updates, and the ``ok`` acknowledgements of such a subscription), and every
``unsubscribed`` acknowledgement, which the schema requires to carry the subscription's next
seq (§5.4); a subscription's first message has seq 1. Other channels carry no ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from tsad.core.market import Market
from tsad.core.money import PRICE_ONE, format_count, format_price
from tsad.core.orders import BookSide
from tsad.sim.matching import MatchingEngine
from tsad.sim.records import (
    BookChange,
    EngineEvent,
    FillRow,
    LifecycleChange,
    OrderChange,
    PositionChange,
    TradeRow,
)
from tsad.sim.wire import market_id, money_str, outcome_side, rfc3339, ts_ms


__all__ = ["CHANNELS", "Hub"]

JSON = dict[str, Any]
CHANNELS = (
    "orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions",
    "market_lifecycle_v2", "order_group_updates",
)
_SEQUENCED = frozenset({"orderbook_delta", "order_group_updates"})
_MARKETLESS = frozenset({"market_lifecycle_v2", "order_group_updates"})


@dataclass(slots=True, kw_only=True)
class _Subscription:
    sid: int
    channel: str
    tickers: set[str] | None
    use_yes_price: bool = False
    seq: int = 0


@dataclass(slots=True, kw_only=True, eq=False)
class _Connection:
    ws: web.WebSocketResponse
    user: str
    user_id: str
    subs: dict[int, _Subscription] = field(default_factory=dict)
    next_sid: int = 1
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class _CommandError(Exception):
    def __init__(self, code: int, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.extra = extra


class Hub:
    """Every websocket connection of the emulator, and the fan-out of engine events to them."""

    def __init__(
        self,
        *,
        engine: MatchingEngine,
        markets: dict[str, Market],
        now: Callable[[], datetime],
        skip_seq: Callable[[], bool],
    ) -> None:
        """Create a hub with no connections.

        Args:
            engine: the matching engine (for snapshots and tickers).
            markets: the known markets by ticker.
            now: the emulator's clock.
            skip_seq: tells whether the next sequenced message must skip a number.
        """
        self._engine = engine
        self._markets = markets
        self._now = now
        self._skip_seq = skip_seq
        self._conns: set[_Connection] = set()
        self._last_ticker: dict[str, tuple[object, ...]] = {}

    @property
    def connection_count(self) -> int:
        """Return how many websocket connections are open."""
        return len(self._conns)

    async def handle(self, request: web.Request, user: str, user_id: str) -> web.WebSocketResponse:
        """Serve one authenticated websocket connection until it closes."""
        ws = web.WebSocketResponse(heartbeat=10.0, autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws=ws, user=user, user_id=user_id)
        self._conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._command(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            conn.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def drop_all(self) -> None:
        """Close every connection now (as a server restart would)."""
        for conn in list(self._conns):
            self._conns.discard(conn)
            conn.queue.put_nowait(None)
            asyncio.get_running_loop().create_task(conn.ws.close(code=WSCloseCode.GOING_AWAY))

    async def close_all(self) -> None:
        """Close every connection and wait for the closes."""
        conns = list(self._conns)
        self._conns.clear()
        for conn in conns:
            await conn.ws.close(code=WSCloseCode.GOING_AWAY)

    # ----------------------------------------------------------------- publishing

    def publish(self, events: Iterable[EngineEvent]) -> None:
        """Fan engine events out to the subscribed connections."""
        touched: list[str] = []
        for ev in events:
            if isinstance(ev, BookChange):
                self._on_book(ev)
                touched.append(ev.ticker)
            elif isinstance(ev, TradeRow):
                self._on_trade(ev)
                touched.append(ev.ticker)
            elif isinstance(ev, FillRow):
                self._on_fill(ev)
            elif isinstance(ev, OrderChange):
                self._on_order(ev)
            elif isinstance(ev, PositionChange):
                self._on_position(ev)
            elif isinstance(ev, LifecycleChange):
                self._on_lifecycle(ev)
        for ticker in dict.fromkeys(touched):
            self._maybe_ticker(ticker)

    def _subs(self, channel: str, ticker: str | None, user: str | None = None) -> Iterable[
        tuple[_Connection, _Subscription]
    ]:
        for conn in list(self._conns):
            if user is not None and conn.user != user:
                continue
            for sub in list(conn.subs.values()):
                if sub.channel != channel:
                    continue
                if ticker is not None and sub.tickers is not None and ticker not in sub.tickers:
                    continue
                yield conn, sub

    def _send(self, conn: _Connection, sub: _Subscription, type_: str, msg: Any,
              *, id_: int | None = None) -> None:
        frame: JSON = {}
        if id_ is not None:
            frame["id"] = id_
        frame["type"] = type_
        frame["sid"] = sub.sid
        if sub.channel in _SEQUENCED or type_ == "unsubscribed":
            sub.seq += 2 if self._skip_seq() else 1
            frame["seq"] = sub.seq
        if msg is not None:
            frame["msg"] = msg
        conn.queue.put_nowait(json.dumps(frame))

    @staticmethod
    def _reply(conn: _Connection, frame: JSON) -> None:
        conn.queue.put_nowait(json.dumps(frame))

    def _on_book(self, ev: BookChange) -> None:
        now = ev.ts
        for conn, sub in self._subs("orderbook_delta", ev.ticker):
            if ev.side is BookSide.BID:
                side, price = "yes", ev.price
            else:
                side = "no"
                price = ev.price if sub.use_yes_price else PRICE_ONE - ev.price
            msg: JSON = {
                "market_ticker": ev.ticker,
                "market_id": market_id(ev.ticker),
                "price_dollars": format_price(price),
                "delta_fp": format_count(ev.delta),
                "side": side,
                "ts": rfc3339(now),
                "ts_ms": ts_ms(now),
            }
            if ev.client_order_id and ev.user == conn.user:
                msg["client_order_id"] = ev.client_order_id
                msg["subaccount"] = 0
            self._send(conn, sub, "orderbook_delta", msg)

    def _snapshot(self, conn: _Connection, sub: _Subscription, ticker: str) -> None:
        bids, asks = self._engine.levels(ticker)
        msg: JSON = {"market_ticker": ticker, "market_id": market_id(ticker)}
        if bids:
            msg["yes_dollars_fp"] = [[format_price(p), format_count(c)] for p, c in bids]
        if asks:
            levels = asks if sub.use_yes_price else sorted((PRICE_ONE - p, c) for p, c in asks)
            msg["no_dollars_fp"] = [[format_price(p), format_count(c)] for p, c in levels]
        self._send(conn, sub, "orderbook_snapshot", msg)

    def _on_trade(self, ev: TradeRow) -> None:
        msg = {
            "trade_id": ev.trade_id,
            "market_ticker": ev.ticker,
            "yes_price_dollars": format_price(ev.price),
            "no_price_dollars": format_price(PRICE_ONE - ev.price),
            "count_fp": format_count(ev.count),
            "taker_side": outcome_side(ev.taker_side),
            "taker_outcome_side": outcome_side(ev.taker_side),
            "taker_book_side": str(ev.taker_side),
            "is_block_trade": False,
            "ts": int(ev.ts.timestamp()),
            "ts_ms": ts_ms(ev.ts),
        }
        for conn, sub in self._subs("trade", ev.ticker):
            self._send(conn, sub, "trade", msg)

    def _on_fill(self, ev: FillRow) -> None:
        side = outcome_side(ev.side)
        msg: JSON = {
            "trade_id": ev.trade_id,
            "order_id": ev.order_id,
            "market_ticker": ev.ticker,
            "exchange_index": 0,
            "is_taker": ev.is_taker,
            "side": side,
            "yes_price_dollars": format_price(ev.price),
            "count_fp": format_count(ev.count),
            "fee_cost": money_str(ev.fee),
            "action": "buy",
            "outcome_side": side,
            "book_side": str(ev.side),
            "ts": int(ev.ts.timestamp()),
            "ts_ms": ts_ms(ev.ts),
            "post_position_fp": format_count(ev.post_position),
            "purchased_side": side,
            "subaccount": 0,
        }
        if ev.client_order_id:
            msg["client_order_id"] = ev.client_order_id
        for conn, sub in self._subs("fill", ev.ticker, ev.user):
            self._send(conn, sub, "fill", msg)

    def _on_order(self, ev: OrderChange) -> None:
        o = ev.order
        for conn, sub in self._subs("user_orders", o.ticker, o.user):
            msg = {
                "order_id": o.order_id,
                "user_id": conn.user_id,
                "ticker": o.ticker,
                "status": str(o.status),
                "side": outcome_side(o.side),
                "is_yes": o.side is BookSide.BID,
                "outcome_side": outcome_side(o.side),
                "book_side": str(o.side),
                "yes_price_dollars": format_price(o.price),
                "fill_count_fp": format_count(o.filled),
                "remaining_count_fp": format_count(o.remaining),
                "initial_count_fp": format_count(o.initial),
                "taker_fill_cost_dollars": money_str(o.taker_fill_cost),
                "maker_fill_cost_dollars": money_str(o.maker_fill_cost),
                "taker_fees_dollars": money_str(o.taker_fees),
                "maker_fees_dollars": money_str(o.maker_fees),
                "client_order_id": o.client_order_id,
                **({"order_group_id": o.order_group_id} if o.order_group_id else {}),
                "self_trade_prevention_type": o.self_trade_prevention_type,
                "created_time": rfc3339(o.created),
                "created_ts_ms": ts_ms(o.created),
                "last_update_time": rfc3339(o.updated),
                "last_updated_ts_ms": ts_ms(o.updated),
                "subaccount_number": 0,
            }
            self._send(conn, sub, "user_order", msg)

    def _on_position(self, ev: PositionChange) -> None:
        ps = self._engine.account(ev.user).positions.get(ev.ticker)
        if ps is None:
            return
        for conn, sub in self._subs("market_positions", ev.ticker, ev.user):
            msg = {
                "user_id": conn.user_id,
                "market_ticker": ev.ticker,
                "position_fp": format_count(ps.position),
                "position_cost_dollars": money_str(ps.cost),
                "realized_pnl_dollars": money_str(ps.realized),
                "fees_paid_dollars": money_str(ps.fees),
                "position_fee_cost_dollars": money_str(ps.fees),
                "volume_fp": format_count(ps.volume),
                "subaccount": 0,
            }
            self._send(conn, sub, "market_position", msg)

    def _on_lifecycle(self, ev: LifecycleChange) -> None:
        msg: JSON = {"market_ticker": ev.ticker, "event_type": ev.event_type}
        if ev.event_type == "determined":
            msg["result"] = ev.result or ""
            msg["determination_ts"] = int(ev.ts.timestamp())
            if ev.settlement_value is not None:
                msg["settlement_value"] = format_price(ev.settlement_value)
        elif ev.event_type == "settled":
            msg["settled_ts"] = int(ev.ts.timestamp())
        for conn, sub in self._subs("market_lifecycle_v2", None):
            self._send(conn, sub, "market_lifecycle_v2", msg)

    def event_fee_update(self, event_ticker: str, fee_type: str | None,
                         multiplier: float | None) -> None:
        """Send an ``event_fee_update`` to every ``market_lifecycle_v2`` subscription."""
        msg: JSON = {"event_ticker": event_ticker, "fee_type_override": fee_type,
                     "fee_multiplier_override": multiplier}
        for conn, sub in self._subs("market_lifecycle_v2", None):
            self._send(conn, sub, "event_fee_update", msg)

    def group_update(self, user: str, event_type: str, group_id: str, limit_fp: str | None,
                     ts: int) -> None:
        """Send an ``order_group_updates`` message to ``user``'s subscriptions."""
        msg: JSON = {"event_type": event_type, "order_group_id": group_id}
        if limit_fp is not None:
            msg["contracts_limit_fp"] = limit_fp
        msg["ts_ms"] = ts
        for conn, sub in self._subs("order_group_updates", None, user):
            self._send(conn, sub, "order_group_updates", msg)

    def _ticker_msg(self, ticker: str) -> JSON:
        e = self._engine
        bids, asks = e.levels(ticker)
        now = self._now()
        last = e.last_price.get(ticker, 0)
        oi = e.open_interest(ticker)
        return {
            "market_ticker": ticker,
            "market_id": market_id(ticker),
            "price_dollars": format_price(last),
            "yes_bid_dollars": format_price(bids[-1][0] if bids else 0),
            "yes_ask_dollars": format_price(asks[0][0] if asks else PRICE_ONE),
            "volume_fp": format_count(e.volume.get(ticker, 0)),
            "open_interest_fp": format_count(oi),
            "dollar_volume": e.notional.get(ticker, 0) // 1_000_000,
            "dollar_open_interest": oi * last // 1_000_000,
            "yes_bid_size_fp": format_count(bids[-1][1] if bids else 0),
            "yes_ask_size_fp": format_count(asks[0][1] if asks else 0),
            "last_trade_size_fp": format_count(e.last_size.get(ticker, 0)),
            "ts": int(now.timestamp()),
            "ts_ms": ts_ms(now),
            "time": rfc3339(now),
        }

    def _maybe_ticker(self, ticker: str) -> None:
        msg = self._ticker_msg(ticker)
        key = tuple(v for k, v in msg.items() if k not in ("ts", "ts_ms", "time"))
        if self._last_ticker.get(ticker) == key:
            return
        self._last_ticker[ticker] = key
        for conn, sub in self._subs("ticker", ticker):
            self._send(conn, sub, "ticker", msg)

    # ----------------------------------------------------------------- commands

    def _command(self, conn: _Connection, text: str) -> None:
        id_ = 0
        try:
            try:
                cmd = json.loads(text)
            except ValueError:
                raise _CommandError(1, "Unable to process message") from None
            if not isinstance(cmd, dict):
                raise _CommandError(1, "Unable to process message")
            raw_id = cmd.get("id", 0)
            if not isinstance(raw_id, int):
                raise _CommandError(1, "Unable to process message")
            id_ = raw_id
            name = cmd.get("cmd")
            params = cmd.get("params")
            if params is not None and not isinstance(params, dict):
                raise _CommandError(1, "Unable to process message")
            if name == "subscribe":
                self._subscribe(conn, id_, params)
            elif name == "unsubscribe":
                self._unsubscribe(conn, id_, params)
            elif name == "update_subscription":
                self._update(conn, id_, params)
            elif name == "get_snapshot":
                self._update(conn, id_, {**(params or {}), "action": "get_snapshot"})
            elif name == "list_subscriptions":
                self._reply(conn, {"id": id_, "type": "ok", "msg": [
                    {"channel": s.channel, "sid": s.sid} for s in conn.subs.values()
                ]})
            else:
                raise _CommandError(5, "Unknown command")
        except _CommandError as exc:
            self._reply(conn, {"id": id_, "type": "error",
                               "msg": {"code": exc.code, "msg": exc.msg, **exc.extra}})

    def _tickers(self, params: JSON) -> list[str] | None:
        one, many = params.get("market_ticker"), params.get("market_tickers")
        if one is not None and many is not None:
            raise _CommandError(11, "Invalid parameter")
        if one is not None:
            many = [one]
        if many is None:
            return None
        if not isinstance(many, list) or not all(isinstance(t, str) for t in many):
            raise _CommandError(11, "Invalid parameter")
        for t in many:
            if t not in self._markets:
                raise _CommandError(16, "Market not found", market_ticker=t)
        return list(dict.fromkeys(many))

    def _subscribe(self, conn: _Connection, id_: int, params: JSON | None) -> None:
        if not params:
            raise _CommandError(2, "Params required")
        channels = params.get("channels")
        if not channels or not isinstance(channels, list):
            raise _CommandError(3, "Channels required")
        for ch in channels:
            if ch not in CHANNELS:
                raise _CommandError(8, "Unknown channel name")
        tickers = self._tickers(params)
        if "orderbook_delta" in channels and not tickers:
            raise _CommandError(14, "Market Ticker required")
        use_yes = bool(params.get("use_yes_price", False))
        for ch in channels:
            existing = next((s for s in conn.subs.values() if s.channel == ch), None)
            if existing is not None:
                if existing.tickers is None or tickers is None:
                    existing.tickers = None
                    added: list[str] = []
                else:
                    added = [t for t in tickers if t not in existing.tickers]
                    existing.tickers.update(added)
                ok: JSON = {"market_tickers": sorted(existing.tickers or ())}
                self._send(conn, existing, "ok", ok, id_=id_)
                if ch == "orderbook_delta":
                    for t in added:
                        self._snapshot(conn, existing, t)
                continue
            sub = _Subscription(
                sid=conn.next_sid, channel=ch,
                tickers=None if tickers is None or ch in _MARKETLESS else set(tickers),
                use_yes_price=use_yes,
            )
            conn.next_sid += 1
            conn.subs[sub.sid] = sub
            self._reply(conn, {"id": id_, "type": "subscribed",
                               "msg": {"channel": ch, "sid": sub.sid}})
            if ch == "orderbook_delta":
                for t in tickers or ():
                    self._snapshot(conn, sub, t)
            elif ch == "ticker" and params.get("send_initial_snapshot"):
                for t in tickers or list(self._markets):
                    self._send(conn, sub, "ticker", self._ticker_msg(t))

    def _unsubscribe(self, conn: _Connection, id_: int, params: JSON | None) -> None:
        sids = (params or {}).get("sids")
        if not sids or not isinstance(sids, list):
            raise _CommandError(4, "Subscription IDs required")
        for sid in sids:
            if sid not in conn.subs:
                raise _CommandError(7, "Unknown subscription ID")
        for sid in sids:
            sub = conn.subs.pop(sid)
            self._send(conn, sub, "unsubscribed", None, id_=id_)

    def _update(self, conn: _Connection, id_: int, params: JSON | None) -> None:
        if not params:
            raise _CommandError(2, "Params required")
        sids = params.get("sids")
        if sids is None and "sid" in params:
            sids = [params["sid"]]
        if not isinstance(sids, list) or len(sids) != 1:
            raise _CommandError(12, "Exactly one subscription ID is required")
        sub = conn.subs.get(sids[0])
        if sub is None:
            raise _CommandError(7, "Unknown subscription ID")
        action = params.get("action")
        if not action:
            raise _CommandError(15, "Action required")
        tickers = self._tickers(params)
        if action == "get_snapshot":
            if sub.channel != "orderbook_delta":
                raise _CommandError(13, "Unsupported action")
            wanted = tickers if tickers is not None else sorted(sub.tickers or ())
            self._send(conn, sub, "ok", {"market_tickers": sorted(sub.tickers or ())}, id_=id_)
            for t in wanted:
                self._snapshot(conn, sub, t)
            return
        if action not in ("add_markets", "delete_markets"):
            raise _CommandError(13, "Unsupported action")
        if not tickers:
            raise _CommandError(14, "Market Ticker required")
        current = set(sub.tickers) if sub.tickers is not None else set(self._markets)
        if action == "add_markets":
            added = [t for t in tickers if t not in current]
            current.update(added)
        else:
            added = []
            current.difference_update(tickers)
        sub.tickers = current
        self._send(conn, sub, "ok", {"market_tickers": sorted(current)}, id_=id_)
        if sub.channel == "orderbook_delta":
            for t in added:
                self._snapshot(conn, sub, t)

    async def _writer(self, conn: _Connection) -> None:
        while True:
            text = await conn.queue.get()
            if text is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
