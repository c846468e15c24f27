"""Tests of tsad.kalshi.feed against scripted websocket servers (and the emulator) on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random

import structlog
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from tsad.clock import SystemClock
from tsad.core.book import BookResynced, BookStale, BookUpdated
from tsad.kalshi.feed import Feed, FeedConnected, FeedDisconnected, exponential_backoff
from tsad.kalshi.signing import Signer, verify_signature
from tsad.kalshi.wire import FillMsg


T = "KXTSAW-26NOV29-A2.30"
U = "KXTSAW-26NOV29-A2.35"
PATH = "/trade-api/ws/v2"


def tiny_backoff():
    return itertools.repeat(0.01)


def snapshot(sid, seq, ticker, bid="0.4400", ask="0.5600"):
    return {"type": "orderbook_snapshot", "sid": sid, "seq": seq,
            "msg": {"market_ticker": ticker, "yes_dollars_fp": [[bid, "10.00"]],
                    "no_dollars_fp": [[ask, "5.00"]]}}


def delta(sid, seq, ticker, price, d, side="yes"):
    return {"type": "orderbook_delta", "sid": sid, "seq": seq,
            "msg": {"market_ticker": ticker, "price_dollars": price, "delta_fp": d, "side": side}}


class Script:
    """A scripted Kalshi-like server: records handshakes and commands per connection."""

    def __init__(self, on_connection):
        self.on_connection = on_connection
        self.handshakes: list[Headers] = []
        self.commands: list[list[dict]] = []
        self.refuse_first = 0

    def process_request(self, connection, request):
        self.handshakes.append(request.headers)
        if self.refuse_first > 0:
            self.refuse_first -= 1
            return Response(401, "Unauthorized", Headers(), b"")
        return None

    async def handler(self, ws):
        cmds: list[dict] = []
        self.commands.append(cmds)
        n = len(self.commands)

        async def recv():
            async with asyncio.timeout(5):
                cmd = json.loads(await ws.recv())
            cmds.append(cmd)
            return cmd

        async def send(obj):
            await ws.send(obj if isinstance(obj, str) else json.dumps(obj))

        async def subscribe_all(expected):
            """Answer ``expected`` subscribe commands; return {channel: (id, sid)}."""
            out = {}
            for i in range(expected):
                cmd = await recv()
                assert cmd["cmd"] == "subscribe"
                channel = cmd["params"]["channels"][0]
                sid = 100 * n + i + 1
                out[channel] = (cmd, sid)
                await send({"id": cmd["id"], "type": "subscribed",
                            "msg": {"channel": channel, "sid": sid}})
            return out

        await self.on_connection(n, ws, recv, send, subscribe_all)


@contextlib.asynccontextmanager
async def scripted(on_connection):
    script = Script(on_connection)
    async with serve(script.handler, "127.0.0.1", 0,
                     process_request=script.process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield script, f"ws://127.0.0.1:{port}{PATH}"


@contextlib.asynccontextmanager
async def running(feed):
    task = asyncio.create_task(feed.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(out, predicate, seconds=5.0):
    """Drain ``out`` until an event satisfies ``predicate``; return the events seen."""
    seen = []
    async with asyncio.timeout(seconds):
        while True:
            ev = await out.get()
            seen.append(ev)
            if predicate(ev):
                return seen


async def idle(ws):
    with contextlib.suppress(Exception):
        await ws.wait_closed()


def test_backoff_grows_with_jitter_and_cap():
    """The default backoff doubles with jitter in [d/2, d] and stays under the cap."""
    delays = list(itertools.islice(exponential_backoff(1, 2, 8, rng=random.Random(0)), 6))
    for d, nominal in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert nominal / 2 <= d <= nominal


async def test_subscribes_skips_malformed_and_builds_books(rsa_key):
    """The feed subscribes every channel, skips a malformed frame and builds the books."""

    async def conn(n, ws, recv, send, subscribe_all):
        subs = await subscribe_all(7)
        sid = subs["orderbook_delta"][1]
        await send("{not json")
        await send({"type": "orderbook_delta", "sid": sid, "seq": 1, "msg": {"oops": 1}})
        await send(snapshot(sid, 1, T))
        await send(delta(sid, 2, T, "0.4500", "3.00"))
        await send({"type": "fill", "sid": subs["fill"][1], "msg": {
            "trade_id": "tr1", "order_id": "o1", "market_ticker": T, "is_taker": False,
            "yes_price_dollars": "0.4500", "count_fp": "1.00", "book_side": "bid",
            "outcome_side": "yes", "fee_cost": "0.0100", "ts_ms": 1700000000000}})
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (script, url):
        feed = Feed(url, Signer("kid", rsa_key), [T], out, SystemClock(), backoff=tiny_backoff)
        async with running(feed):
            seen = await wait_for(out, lambda e: isinstance(e, FillMsg))
        assert isinstance(seen[0], FeedConnected)
        assert (T, 4500, 5600) in {(e.ticker, e.best_bid, e.best_ask) for e in seen
                                   if isinstance(e, BookUpdated)}
        assert feed.books.best(T) == (4500, 5600)
        channels = {c["params"]["channels"][0]: c["params"] for c in script.commands[0]}
        assert set(channels) == {"orderbook_delta", "ticker", "fill", "user_orders",
                                 "market_positions", "market_lifecycle_v2",
                                 "order_group_updates"}
        assert channels["orderbook_delta"]["use_yes_price"] is True
        assert channels["orderbook_delta"]["market_tickers"] == [T]


async def test_unsigned_feed_subscribes_public_channels_only():
    """Without a signer there are no auth headers and no private channels."""

    subscribed = asyncio.Event()

    async def conn(n, ws, recv, send, subscribe_all):
        await subscribe_all(3)
        subscribed.set()
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (script, url):
        feed = Feed(url, None, [T], out, SystemClock(), backoff=tiny_backoff)
        async with running(feed):
            async with asyncio.timeout(5):
                await subscribed.wait()
        assert "KALSHI-ACCESS-SIGNATURE" not in script.handshakes[0]
        assert {c["params"]["channels"][0] for c in script.commands[0]} == {
            "orderbook_delta", "ticker", "market_lifecycle_v2"}


async def test_gap_resyncs_with_get_snapshot(rsa_key):
    """A seq gap stales the sid's books, sends get_snapshot, and the snapshots freshen them."""
    got_snapshot_cmd: asyncio.Future[dict] = asyncio.get_running_loop().create_future()

    async def conn(n, ws, recv, send, subscribe_all):
        sid = (await subscribe_all(7))["orderbook_delta"][1]
        await send(snapshot(sid, 1, T))
        await send(snapshot(sid, 2, U))
        await send(delta(sid, 4, T, "0.4500", "3.00"))   # seq 3 lost
        cmd = await recv()
        got_snapshot_cmd.set_result(cmd)
        await send({"id": cmd["id"], "type": "ok", "sid": sid, "seq": 5,
                    "msg": {"market_tickers": [T, U]}})
        await send(snapshot(sid, 6, T, bid="0.4700"))
        await send(snapshot(sid, 7, U, bid="0.4100"))
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (_, url):
        feed = Feed(url, Signer("kid", rsa_key), [T, U], out, SystemClock(),
                    backoff=tiny_backoff)
        async with running(feed):
            seen = await wait_for(out, lambda e: isinstance(e, BookStale))
            assert set(seen[-1].tickers) == {T, U}
            assert feed.books.best(T) is None
            seen = await wait_for(out, lambda e: e == BookResynced(ticker=U))
            cmd = got_snapshot_cmd.result()
            assert cmd["cmd"] == "update_subscription"
            assert cmd["params"]["action"] == "get_snapshot"
            assert sorted(cmd["params"]["market_tickers"]) == [T, U]
            assert BookResynced(ticker=T) in seen
            assert feed.books.best(T) == (4700, 5600)
            assert feed.books.stale() == frozenset()


async def test_gap_falls_back_to_resubscribe(rsa_key):
    """When get_snapshot is refused, the feed unsubscribes and resubscribes the order book."""

    async def conn(n, ws, recv, send, subscribe_all):
        sid = (await subscribe_all(7))["orderbook_delta"][1]
        await send(snapshot(sid, 1, T))
        await send(delta(sid, 3, T, "0.4500", "3.00"))
        cmd = await recv()
        assert cmd["params"]["action"] == "get_snapshot"
        await send({"id": cmd["id"], "type": "error", "msg": {"code": 13, "msg": "Unsupported"}})
        unsub = await recv()
        assert unsub == {"id": unsub["id"], "cmd": "unsubscribe", "params": {"sids": [sid]}}
        sub = await recv()
        assert sub["params"]["channels"] == ["orderbook_delta"]
        await send({"id": sub["id"], "type": "subscribed",
                    "msg": {"channel": "orderbook_delta", "sid": 99}})
        await send(snapshot(sid, 4, T, bid="0.1000"))   # late message of the old sid: ignored
        await send(snapshot(99, 1, T, bid="0.4800"))
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (_, url):
        feed = Feed(url, Signer("kid", rsa_key), [T], out, SystemClock(), backoff=tiny_backoff)
        async with running(feed):
            await wait_for(out, lambda e: isinstance(e, BookStale))
            await wait_for(out, lambda e: isinstance(e, BookResynced))
            assert feed.books.best(T) == (4800, 5600)


async def test_reconnect_resigns_and_resubscribes(rsa_key):
    """After the server closes, the feed reconnects with a fresh signature and resubscribes."""

    async def conn(n, ws, recv, send, subscribe_all):
        sid = (await subscribe_all(7))["orderbook_delta"][1]
        await send(snapshot(sid, 1, T))
        if n == 1:
            await asyncio.sleep(0.01)   # a later timestamp for the next handshake
            await ws.close()
            return
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (script, url):
        feed = Feed(url, Signer("kid", rsa_key), [T], out, SystemClock(), backoff=tiny_backoff)
        async with running(feed):
            seen = await wait_for(out, lambda e: e == FeedConnected(attempt=2))
            seen += await wait_for(out, lambda e: isinstance(e, BookResynced))
        assert any(isinstance(e, FeedDisconnected) for e in seen)
        assert BookStale(tickers=(T,), reason=next(
            e.reason for e in seen if isinstance(e, BookStale))) in seen
        assert len(script.commands) == 2 and len(script.commands[1]) == 7
        stamps, sigs = [], []
        for h in script.handshakes[:2]:
            ts, sig = h["KALSHI-ACCESS-TIMESTAMP"], h["KALSHI-ACCESS-SIGNATURE"]
            assert h["KALSHI-ACCESS-KEY"] == "kid"
            assert verify_signature(rsa_key.public_key(), ts + "GET" + PATH, sig)
            stamps.append(ts)
            sigs.append(sig)
        assert stamps[0] != stamps[1]
        assert sigs[0] != sigs[1]


async def test_auth_refusal_is_retried(rsa_key):
    """A 401 handshake is not fatal: the feed keeps retrying and connects when accepted."""

    async def conn(n, ws, recv, send, subscribe_all):
        await subscribe_all(7)
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (script, url):
        script.refuse_first = 2
        feed = Feed(url, Signer("kid", rsa_key), [T], out, SystemClock(), backoff=tiny_backoff)
        async with running(feed):
            ev = (await wait_for(out, lambda e: isinstance(e, FeedConnected)))[-1]
        assert ev == FeedConnected(attempt=3)
        assert len(script.handshakes) == 3


async def test_silent_connection_is_dropped_as_stale():
    """A connection on which nothing arrives (no data, no pongs) is closed and reconnected."""
    # A raw TCP server that completes the websocket handshake, then never answers anything.
    import base64
    import hashlib

    accepted = 0

    async def silent(reader, writer):
        nonlocal accepted
        accepted += 1
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        await writer.drain()
        with contextlib.suppress(Exception):
            await reader.read()   # swallow everything until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    out: asyncio.Queue[object] = asyncio.Queue()
    feed = Feed(f"ws://127.0.0.1:{port}{PATH}", None, [T], out, SystemClock(),
                stale_after=0.4, backoff=tiny_backoff)
    try:
        async with running(feed):
            seen = await wait_for(out, lambda e: isinstance(e, FeedDisconnected))
            assert "stale" in seen[-1].reason
            await wait_for(out, lambda e: e == FeedConnected(attempt=2))
    finally:
        server.close()
        await server.wait_closed()
    assert accepted >= 2


async def test_set_tickers_resubscribes_market_channels(rsa_key):
    """Changing the tickers re-subscribes the order book and ticker channels with the new set."""
    done: asyncio.Future[list[dict]] = asyncio.get_running_loop().create_future()

    async def conn(n, ws, recv, send, subscribe_all):
        subs = await subscribe_all(7)
        await send(snapshot(subs["orderbook_delta"][1], 1, T))
        cmds = [await recv() for _ in range(4)]
        done.set_result(cmds)
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (_, url):
        feed = Feed(url, Signer("kid", rsa_key), [T], out, SystemClock(), backoff=tiny_backoff)
        async with running(feed):
            await wait_for(out, lambda e: isinstance(e, BookResynced))
            feed.set_tickers([U])
            async with asyncio.timeout(5):
                cmds = await done
    assert [c["cmd"] for c in cmds] == ["unsubscribe", "subscribe", "unsubscribe", "subscribe"]
    assert all(c["params"]["market_tickers"] == [U] for c in cmds if c["cmd"] == "subscribe")
    assert feed.books.tickers() == [U]


# -- against the emulator --------------------------------------------------------------------


def sim_ticker(sim):
    return f"{sim.event_ticker}-A2.30"


async def test_emulator_drop_reconnects_and_resubscribes(sim, rsa_key, key_id):
    """After the emulator drops every socket, the feed reconnects and its books come back."""
    t = sim_ticker(sim)
    out: asyncio.Queue[object] = asyncio.Queue()
    feed = Feed(sim.ws_url, Signer(key_id, rsa_key), [t], out, SystemClock(),
                backoff=tiny_backoff)
    async with running(feed):
        await wait_for(out, lambda e: e == BookResynced(ticker=t))
        sim.faults.drop_connections()
        seen = await wait_for(out, lambda e: isinstance(e, FeedDisconnected))
        assert any(isinstance(e, BookStale) and t in e.tickers for e in seen)
        assert feed.books.is_stale(t)
        seen = await wait_for(out, lambda e: e == BookResynced(ticker=t))
        assert FeedConnected(attempt=2) in seen
        assert not feed.books.is_stale(t)


async def test_emulator_seq_gap_resyncs_before_use(sim, rsa_key, key_id):
    """A skipped seq stales the book; it is resynced (with the new order) before it is used."""
    from tsad.core.orders import BookSide

    t = sim_ticker(sim)
    out: asyncio.Queue[object] = asyncio.Queue()
    feed = Feed(sim.ws_url, Signer(key_id, rsa_key), [t], out, SystemClock(),
                backoff=tiny_backoff)
    async with running(feed):
        await wait_for(out, lambda e: e == BookResynced(ticker=t))
        before = feed.books.best(t)
        sim.faults.skip_seq(1)
        sim.add_order(t, BookSide.BID, 1200, 500)
        seen = await wait_for(out, lambda e: isinstance(e, BookStale))
        assert not any(isinstance(e, BookUpdated) and e.best_bid == 1200 for e in seen)
        await wait_for(out, lambda e: e == BookResynced(ticker=t))
        assert not feed.books.is_stale(t)
        bid, _ = feed.books.best(t)
        assert bid is not None and bid >= 1200
        assert before != feed.books.best(t) or (before[0] or 0) >= 1200


def growing_backoff():
    return (0.01 * 2**i for i in itertools.count())


async def reconnect_delays(rsa_key, subscribe: bool, sessions: int = 4) -> list[float]:
    """The delays the feed waited before reconnecting, over ``sessions`` short sessions."""

    async def conn(n, ws, recv, send, subscribe_all):
        if subscribe:
            await subscribe_all(7)
        await ws.close()

    out: asyncio.Queue[object] = asyncio.Queue()
    with structlog.testing.capture_logs() as logs:
        async with scripted(conn) as (script, url):
            feed = Feed(url, Signer("kid", rsa_key), [T], out, SystemClock(),
                        backoff=growing_backoff)
            async with running(feed):
                async with asyncio.timeout(10):
                    while len(script.commands) < sessions:
                        await asyncio.sleep(0.01)
    return [e["delay"] for e in logs if e["event"] == "ws.reconnecting"][:sessions - 1]


async def test_backoff_resets_after_each_healthy_session(rsa_key):
    """Short sessions that got every channel subscribed reconnect after the first delay."""
    delays = await reconnect_delays(rsa_key, subscribe=True)
    assert delays == [0.01] * len(delays) and len(delays) == 3


async def test_backoff_grows_while_sessions_never_subscribe(rsa_key):
    """Sessions dropped before their subscriptions were confirmed keep growing the backoff."""
    delays = await reconnect_delays(rsa_key, subscribe=False)
    assert delays == [0.01, 0.02, 0.04]


async def test_undecodable_book_frame_stales_and_resyncs_the_book(rsa_key):
    """A delta that does not decode stales its book and resyncs it; the feed lives on."""
    got_snapshot_cmd: asyncio.Future[dict] = asyncio.get_running_loop().create_future()

    async def conn(n, ws, recv, send, subscribe_all):
        subs = await subscribe_all(7)
        sid = subs["orderbook_delta"][1]
        await send(snapshot(sid, 1, T))
        await send(snapshot(sid, 2, U))
        await send(delta(sid, 3, T, "not-a-price", "3.00"))
        cmd = await recv()
        got_snapshot_cmd.set_result(cmd)
        await send({"id": cmd["id"], "type": "ok", "sid": sid, "seq": 4,
                    "msg": {"market_tickers": [T]}})
        await send(snapshot(sid, 5, T, bid="0.4600"))
        await send({"type": "fill", "sid": subs["fill"][1], "msg": {
            "trade_id": "bad", "order_id": "o1", "market_ticker": T, "is_taker": False,
            "yes_price_dollars": "0.4500", "count_fp": "1.00", "book_side": "bid",
            "fee_cost": "0.0100", "ts_ms": 10**22}})
        await send({"type": "fill", "sid": subs["fill"][1], "msg": {
            "trade_id": "good", "order_id": "o1", "market_ticker": T, "is_taker": False,
            "yes_price_dollars": "0.4500", "count_fp": "1.00", "book_side": "bid",
            "fee_cost": "0.0100", "ts_ms": 1700000000000}})
        await idle(ws)

    out: asyncio.Queue[object] = asyncio.Queue()
    async with scripted(conn) as (_, url):
        feed = Feed(url, Signer("kid", rsa_key), [T, U], out, SystemClock(),
                    backoff=tiny_backoff)
        async with running(feed):
            seen = await wait_for(out, lambda e: isinstance(e, BookStale))
            assert seen[-1].tickers == (T,)
            assert feed.books.best(U) == (4400, 5600)
            seen = await wait_for(out, lambda e: isinstance(e, FillMsg))
            assert BookResynced(ticker=T) in seen
            assert seen[-1].fill.trade_id == "good"
            assert not any(isinstance(e, FeedDisconnected) for e in seen)
            assert feed.books.best(T) == (4600, 5600)
            cmd = got_snapshot_cmd.result()
            assert cmd["params"] == {"sids": [cmd["params"]["sids"][0]], "market_tickers": [T],
                                     "action": "get_snapshot"}
