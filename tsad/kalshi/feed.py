"""The websocket market-data and private-data feed: connection, subscriptions, books, liveness."""

# The feed owns one websocket connection at a time and its own reconnect loop, because
# websockets' built-in reconnect reuses the handshake headers, whose signature carries a
# timestamp (conventions.md gotcha #1): every attempt is signed afresh.
#
# Each session: subscribe every channel, keep the order books (tsad.book) with per-sid
# ``seq`` checking, resync gapped books (``get_snapshot``, else unsubscribe + resubscribe),
# and forward decoded messages to the engine's queue. Liveness is judged by traffic and by
# our pings' pongs, never by market activity (a quiet market on a live connection is fine).

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tsad.core.book import BookEvent, Books, BookStale, Delta, SeqAck, Snapshot
from tsad.core.clock import Clock
from tsad.errors import AuthError, ProtocolError, TransportError
from tsad.kalshi.messages import (
    CommandAck,
    ErrorMsg,
    OrderbookDelta,
    OrderbookSnapshot,
    Subscribed,
    UnknownMsg,
    decode_ws,
    frame_header,
)
from tsad.kalshi.signing import Signer


__all__ = [
    "BOOK_CHANNEL",
    "Feed",
    "FeedConnected",
    "FeedDisconnected",
    "exponential_backoff",
]

BOOK_CHANNEL: Final = "orderbook_delta"
_MARKET_CHANNELS: Final = (BOOK_CHANNEL, "ticker")
_PUBLIC_CHANNELS: Final = ("market_lifecycle_v2",)
_PRIVATE_CHANNELS: Final = ("fill", "user_orders", "market_positions", "order_group_updates")
# Error codes after which a subscription is dead and must be made again (kalshi-api.md §5.3).
_TERMINAL_CODES: Final = frozenset({10, 17, 25})
_BOOK_KINDS: Final = frozenset({"orderbook_snapshot", "orderbook_delta"})
_EXCERPT: Final = 200
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_log = structlog.get_logger("tsad.feed")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedConnected:
    """A websocket session started (``attempt`` counts connection attempts from 1)."""

    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedDisconnected:
    """The websocket session ended; every book is stale until resubscribed."""

    reason: str


def exponential_backoff(
    initial: float = 0.5, factor: float = 2.0, max_delay: float = 60.0,
    *, rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield jittered, exponentially growing delays (seconds), capped at ``max_delay``.

    Each delay is uniform in [d/2, d] where d doubles from ``initial`` up to the cap, so
    many clients restarting together do not reconnect in lockstep.

    Args:
        initial: the first nominal delay.
        factor: growth per attempt.
        max_delay: the cap of the nominal delay.
        rng: the random source (inject a seeded one in tests).
    """
    r = rng or random.Random()
    delay = initial
    while True:
        yield delay / 2 + r.uniform(0, delay / 2)
        delay = min(delay * factor, max_delay)


def _now_ms(clock: Clock) -> int:
    return (clock.now() - _EPOCH) // timedelta(milliseconds=1)


def _excerpt(raw: str | bytes) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


class Feed:
    """One Kalshi websocket feed, reconnecting forever; events go to ``out``.

    Events put on ``out``: `FeedConnected`, `FeedDisconnected`, the book events of
    `tsad.core.book` (`BookUpdated`, `BookStale`, `BookResynced`), and the decoded messages
    of `tsad.kalshi.messages` other than command replies (`TickerUpdate`, `TradeMsg`,
    `FillMsg`, `UserOrderMsg`, `PositionMsg`, `LifecycleMsg`, `MarketCreated`,
    `PriceGridChanged`, `EventCreated`, `EventFeeUpdate`, `OrderGroupUpdate`). A frame that
    does not decode is logged and skipped; if it was an orderbook message of our book
    subscription, its book goes stale and is resynced.

    Args:
        ws_url: ``wss://…/trade-api/ws/v2``.
        signer: signs each handshake; None for an unauthenticated connection (no private
            channels are subscribed then).
        tickers: the markets of the order book and ticker subscriptions.
        out: the engine's event queue.
        clock: the time source (signatures and liveness).
        stale_after: reconnect when nothing at all (message or pong) arrived for this long.
        backoff: makes a fresh delay generator; called again (the delays start over) once a
            session has every channel subscribed, so short healthy sessions never grow it.
        rng: the random source of the default backoff's jitter.
        connect_timeout: bound on one connection attempt (TCP + TLS + handshake).
        resync_timeout: how long a ``get_snapshot`` may take before resubscribing instead.
    """

    def __init__(
        self,
        ws_url: str,
        signer: Signer | None,
        tickers: Iterable[str],
        out: asyncio.Queue[object],
        clock: Clock,
        *,
        stale_after: float = 30.0,
        backoff: Callable[[], Iterator[float]] | None = None,
        rng: random.Random | None = None,
        connect_timeout: float = 10.0,
        resync_timeout: float = 5.0,
    ) -> None:
        self._url = ws_url
        self._path = urlsplit(ws_url).path or "/"
        self._signer = signer
        self._tickers = sorted(set(tickers))
        self._out = out
        self._clock = clock
        self._stale_after = stale_after
        rng = rng or random.Random()
        self._backoff = backoff or (lambda: exponential_backoff(rng=rng))
        self._connect_timeout = connect_timeout
        self._resync_timeout = resync_timeout
        self._delays: Iterator[float] = iter(())
        self._books = Books(self._tickers, yes_prices=True)
        self._tickers_changed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._attempt = 0
        self._reset_session()

    def __repr__(self) -> str:
        signed = self._signer is not None
        return f"Feed({self._url!r}, signed={signed}, tickers={len(self._tickers)})"

    def _reset_session(self) -> None:
        self._next_id = 1
        self._cmds: dict[int, tuple[str, str | int]] = {}
        self._sids: dict[str, int] = {}
        self._resyncing: dict[int, float] = {}
        self._last_rx = self._clock.monotonic()
        self._close_reason: str | None = None
        self._pending_channels: set[str] = set()
        self._healthy = False

    # -- public ------------------------------------------------------------------------

    @property
    def books(self) -> Books:
        """The order books (read them only from the event loop's thread)."""
        return self._books

    @property
    def connected(self) -> bool:
        """Tell whether a session is up."""
        return self._ws is not None

    @property
    def tickers(self) -> list[str]:
        """The markets subscribed for order books and tickers."""
        return list(self._tickers)

    def set_tickers(self, tickers: Iterable[str]) -> None:
        """Change the subscribed markets (weekly roll); the live session resubscribes."""
        new = sorted(set(tickers))
        if new == self._tickers:
            return
        self._tickers = new
        self._books.set_tickers(new)
        self._tickers_changed.set()

    async def run(self) -> None:
        """Connect, subscribe and forward events until cancelled, reconnecting as needed."""
        self._delays = self._backoff()
        while True:
            self._attempt += 1
            try:
                ws = await self._connect()
            except AuthError as exc:
                _log.error("ws.auth_failed", attempt=self._attempt, status=exc.status,
                           error=str(exc))
            except TransportError as exc:
                _log.warning("ws.connect_failed", attempt=self._attempt, error=str(exc))
            else:
                reason = await self._session(ws)
                await self._emit(self._books.mark_all_stale(f"disconnected: {reason}"))
                await self._out.put(FeedDisconnected(reason=reason))
                _log.warning("ws.disconnected", reason=reason)
            delay = next(self._delays)
            _log.info("ws.reconnecting", attempt=self._attempt + 1, delay=round(delay, 3))
            await asyncio.sleep(delay)

    # -- connection --------------------------------------------------------------------

    async def _connect(self) -> ClientConnection:
        # NOTE: headers are rebuilt for every attempt: the signature covers a timestamp.
        headers = (
            self._signer.headers("GET", self._path, _now_ms(self._clock))
            if self._signer is not None else None
        )
        keepalive = min(20.0, self._stale_after)
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await connect(
                    self._url,
                    additional_headers=headers,
                    open_timeout=None,
                    ping_interval=keepalive,
                    ping_timeout=keepalive,
                    close_timeout=min(5.0, self._stale_after),
                    max_size=2**23,
                    user_agent_header="tsad",
                )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(
                    f"websocket handshake refused with HTTP {status}: check the key id, the key "
                    "and the system clock", status=status,
                ) from None
            raise TransportError(f"websocket handshake got HTTP {status}", status=status) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise TransportError(f"websocket connect failed: {exc!r}") from exc

    async def _session(self, ws: ClientConnection) -> str:
        self._reset_session()
        self._ws = ws
        _log.info("ws.connected", attempt=self._attempt)
        await self._out.put(FeedConnected(attempt=self._attempt))
        self._tickers_changed.clear()
        side_tasks = [
            asyncio.create_task(self._watch(ws), name="feed-watchdog"),
            asyncio.create_task(self._control(ws), name="feed-control"),
        ]
        try:
            await self._subscribe_all(ws)
            async for raw in ws:
                self._last_rx = self._clock.monotonic()
                await self._handle(ws, raw)
            reason = self._close_reason or f"closed by server (code {ws.close_code})"
        except ConnectionClosed as exc:
            reason = self._close_reason or f"connection lost ({exc})"
        finally:
            for t in side_tasks:
                t.cancel()
            for t in side_tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await t
            self._ws = None
            await ws.close()
        return reason

    async def _watch(self, ws: ClientConnection) -> None:
        """Ping when idle, close when nothing arrived for ``stale_after``, time out resyncs."""
        period = self._stale_after / 4
        while True:
            await asyncio.sleep(period)
            now = self._clock.monotonic()
            idle = now - self._last_rx
            if idle >= self._stale_after:
                self._close_reason = f"stale: nothing received for {idle:.1f}s"
                _log.warning("ws.stale", idle_s=round(idle, 3))
                await ws.close(code=1001, reason="stale")
                return
            if idle >= period:
                pong = asyncio.ensure_future(await ws.ping())
                pong.add_done_callback(self._on_pong)
            for sid, started in list(self._resyncing.items()):
                if now - started >= self._resync_timeout and sid == self._sids.get(BOOK_CHANNEL):
                    _log.warning("ws.resync_timeout", sid=sid)
                    await self._resubscribe(ws, BOOK_CHANNEL)

    def _on_pong(self, fut: asyncio.Future[float]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._last_rx = self._clock.monotonic()

    async def _control(self, ws: ClientConnection) -> None:
        while True:
            await self._tickers_changed.wait()
            self._tickers_changed.clear()
            for channel in _MARKET_CHANNELS:
                await self._resubscribe(ws, channel)

    # -- commands ----------------------------------------------------------------------

    async def _send(self, ws: ClientConnection, cmd: str, params: dict[str, object],
                    purpose: tuple[str, str | int]) -> int:
        cmd_id = self._next_id
        self._next_id += 1
        self._cmds[cmd_id] = purpose
        await ws.send(json.dumps({"id": cmd_id, "cmd": cmd, "params": params}))
        return cmd_id

    def _channels(self) -> list[str]:
        channels = list(_MARKET_CHANNELS) if self._tickers else []
        channels += _PUBLIC_CHANNELS
        if self._signer is not None:
            channels += _PRIVATE_CHANNELS
        return channels

    async def _subscribe(self, ws: ClientConnection, channel: str) -> None:
        params: dict[str, object] = {"channels": [channel]}
        if channel in _MARKET_CHANNELS:
            if not self._tickers:
                return
            params["market_tickers"] = list(self._tickers)
        if channel == BOOK_CHANNEL:
            params["use_yes_price"] = True
        if channel == "ticker":
            params["send_initial_snapshot"] = True
        await self._send(ws, "subscribe", params, ("subscribe", channel))

    async def _subscribe_all(self, ws: ClientConnection) -> None:
        channels = self._channels()
        self._pending_channels = set(channels)
        for channel in channels:
            await self._subscribe(ws, channel)

    def _on_subscribed(self, channel: str) -> None:
        """Once every channel of the session is subscribed, the session is healthy."""
        self._pending_channels.discard(channel)
        if not self._pending_channels and not self._healthy:
            self._healthy = True
            self._delays = self._backoff()
            _log.info("ws.healthy", attempt=self._attempt)

    async def _resubscribe(self, ws: ClientConnection, channel: str) -> None:
        sid = self._sids.pop(channel, None)
        if sid is not None:
            await self._send(ws, "unsubscribe", {"sids": [sid]}, ("unsubscribe", sid))
            if channel == BOOK_CHANNEL:
                self._resyncing.pop(sid, None)
                await self._emit(self._books.forget_sid(sid))
        _log.info("ws.resubscribing", channel=channel, old_sid=sid)
        await self._subscribe(ws, channel)

    async def _resync(self, ws: ClientConnection) -> None:
        book_sid = self._sids.get(BOOK_CHANNEL)
        for item in self._books.needs_resync():
            if item != book_sid or item in self._resyncing:
                continue
            tickers = sorted(self._books.stale_of_sid(item))
            self._resyncing[item] = self._clock.monotonic()
            await self._send(
                ws, "update_subscription",
                {"sids": [item], "market_tickers": tickers, "action": "get_snapshot"},
                ("get_snapshot", item),
            )
            _log.info("ws.resyncing", sid=item, tickers=len(tickers))

    # -- messages ----------------------------------------------------------------------

    async def _emit(self, events: Iterable[object]) -> None:
        for ev in events:
            await self._out.put(ev)

    async def _handle(self, ws: ClientConnection, raw: str | bytes) -> None:
        book_sid = self._sids.get(BOOK_CHANNEL)
        try:
            msg = decode_ws(raw)
        except ProtocolError as exc:
            _log.warning("ws.malformed", error=str(exc), excerpt=_excerpt(raw))
            head = frame_header(raw)
            if head.kind in _BOOK_KINDS and head.sid is not None and head.sid == book_sid:
                await self._book_events(ws, self._books.corrupt(
                    head.sid, head.market_ticker, head.seq, str(exc)))
            return
        if isinstance(msg, OrderbookSnapshot | OrderbookDelta):
            if msg.sid != book_sid:
                return  # a late message of a subscription we dropped
            book_msg: Snapshot | Delta = (
                Snapshot(sid=msg.sid, seq=msg.seq, ticker=msg.market_ticker, yes=msg.yes,
                         no=msg.no)
                if isinstance(msg, OrderbookSnapshot) else
                Delta(sid=msg.sid, seq=msg.seq, ticker=msg.market_ticker, side=msg.side,
                      price=msg.price, delta=msg.delta)
            )
            await self._book_events(ws, self._books.receive(book_msg))
        elif isinstance(msg, Subscribed):
            self._sids[msg.channel] = msg.sid
            _log.info("ws.subscribed", channel=msg.channel, sid=msg.sid)
            self._on_subscribed(msg.channel)
        elif isinstance(msg, CommandAck):
            if msg.sid is not None and msg.sid == book_sid and msg.seq is not None:
                await self._book_events(ws, self._books.receive(SeqAck(sid=msg.sid, seq=msg.seq)))
        elif isinstance(msg, ErrorMsg):
            await self._on_error(ws, msg)
        elif isinstance(msg, UnknownMsg):
            _log.debug("ws.unknown", kind=msg.kind)
        else:
            await self._out.put(msg)

    async def _book_events(self, ws: ClientConnection, events: Sequence[BookEvent]) -> None:
        for ev in events:
            if isinstance(ev, BookStale):
                _log.warning("ws.gap", tickers=len(ev.tickers), reason=ev.reason)
        await self._emit(events)
        for sid in list(self._resyncing):
            if not self._books.stale_of_sid(sid):
                started = self._resyncing.pop(sid)
                _log.info("ws.resynced", sid=sid,
                          seconds=round(self._clock.monotonic() - started, 3))
        if self._books.needs_resync():
            await self._resync(ws)

    async def _on_error(self, ws: ClientConnection, msg: ErrorMsg) -> None:
        purpose = self._cmds.get(msg.id) if msg.id is not None else None
        _log.warning("ws.error", code=msg.code, error=msg.msg, command=purpose)
        if purpose is not None and purpose[0] == "get_snapshot":
            # get_snapshot unsupported or refused: fall back to a fresh subscription.
            await self._resubscribe(ws, BOOK_CHANNEL)
        elif msg.code in _TERMINAL_CODES:
            for channel in self._channels():
                await self._resubscribe(ws, channel)
