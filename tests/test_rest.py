"""The Kalshi REST client against the emulator over loopback, and the client-side token buckets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.core.exchange import Exchange
from tsad.core.orders import BookSide, OrderRequest, OrderStatus, WriteAck
from tsad.errors import (
    AmbiguousOutcome,
    AuthError,
    ConfigError,
    Conflict,
    NotFound,
    OrderRejected,
    ServerError,
)
from tsad.kalshi.budget import (
    CAPACITY_SHARE,
    RATE_SHARE,
    TIER_LIMITS,
    Budget,
    Tier,
    TokenBucket,
    request_cost,
)
from tsad.kalshi.rest import AUTH_HINT, KalshiClient
from tsad.kalshi.signing import Signer
from tsad.kalshi.wire import AccountLimits, BucketLimit


# --------------------------------------------------------------------------- fakes of time


class ManualClock:
    """A clock that moves only when told (monotonic) and a fixed wall time."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> datetime:
        return datetime(2026, 8, 25, 14, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t


class SleepRecorder:
    """A sleep that records the requested delays and advances a ManualClock instead of waiting."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.t += seconds
        await asyncio.sleep(0)


# --------------------------------------------------------------------------- budget


@pytest.mark.parametrize(
    ("tier", "read", "read_cap", "write", "write_cap"),
    [
        (Tier.BASIC, 200, 400, 100, 100),
        (Tier.ADVANCED, 300, 600, 300, 600),
        (Tier.EXPERT, 600, 600, 600, 1200),
        (Tier.PREMIER, 1000, 1000, 1000, 2000),
        (Tier.PRESTIGE, 10000, 10000, 8000, 16000),
    ],
    ids=["basic", "advanced", "expert", "premier", "prestige"],
)
def test_tier_table(tier, read, read_cap, write, write_cap):
    """Tier budgets and bucket capacities follow Kalshi's table (2-s and 1-s buckets)."""
    lim = TIER_LIMITS[tier]
    assert (lim.read.refill_rate, lim.read.bucket_capacity) == (read, read_cap)
    assert (lim.write.refill_rate, lim.write.bucket_capacity) == (write, write_cap)


@pytest.mark.parametrize(
    ("method", "path", "items", "expected"),
    [
        ("GET", "/portfolio/orders", 1, ("read", 10)),
        ("GET", "/markets", 1, ("read", 10)),
        ("POST", "/portfolio/events/orders", 1, ("write", 10)),
        ("DELETE", "/portfolio/events/orders/abc", 1, ("write", 10)),
        ("POST", "/portfolio/events/orders/batched", 25, ("write", 250)),
        ("DELETE", "/portfolio/events/orders/batched", 25, ("write", 50)),
    ],
    ids=["orders-read", "markets-read", "create", "cancel", "batch-create", "batch-cancel"],
)
def test_request_cost(method, path, items, expected):
    """Requests bill the right bucket at the documented token cost."""
    assert request_cost(method, path, items=items) == expected


async def test_bucket_keeps_headroom_under_the_exchange():
    """The Basic write bucket bursts 8 of the exchange's 10 creates, then refills at 90 %."""
    clock = ManualClock()
    sleep = SleepRecorder(clock)
    budget = Budget(Tier.BASIC, clock=clock, sleep=sleep)
    assert (budget.write.capacity, budget.write.rate) == (80, 90)
    for _ in range(8):
        await budget.acquire("write", 10)
    assert sleep.delays == []
    await budget.acquire("write", 10)
    assert sleep.delays == [pytest.approx(10 / 90)]


async def test_bucket_drain_and_buckets_are_independent():
    """Draining the read bucket (after a 429) makes reads wait but leaves writes alone."""
    clock = ManualClock()
    sleep = SleepRecorder(clock)
    budget = Budget("basic", clock=clock, sleep=sleep)
    budget.drain("read")
    await budget.acquire("write", 80)
    assert sleep.delays == []
    await budget.acquire("read", 20)
    assert sum(sleep.delays) == pytest.approx(20 / (200 * RATE_SHARE))


def test_bucket_refuses_impossible_cost():
    """A cost above the capacity can never be served and is refused at once."""
    bucket = TokenBucket(100, 100, clock=ManualClock())
    with pytest.raises(ValueError, match="never fit"):
        asyncio.run(bucket.acquire(101))


def test_unknown_tier_is_a_config_error():
    """An unknown tier name is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"exchange\.tier"):
        Budget("platinum")


def test_budget_from_account_limits():
    """GET /account/limits sizes the buckets, overriding the tier table."""
    limits = AccountLimits(usage_tier="premier",
                           read=BucketLimit(refill_rate=1200, bucket_capacity=1200),
                           write=BucketLimit(refill_rate=1200, bucket_capacity=2400))
    budget = Budget.from_account_limits(limits, clock=ManualClock())
    assert (budget.tier, budget.write.capacity) == (Tier.PREMIER, 2400 * CAPACITY_SHARE)
    assert budget.read.rate == pytest.approx(1200 * RATE_SHARE)
    assert budget.max_batch(10) == 192


def test_backoff_is_jittered_and_capped():
    """Retry delays grow exponentially with jitter and never exceed the cap."""
    client = KalshiClient("http://127.0.0.1:9/trade-api/v2", None, rng=random.Random(1),
                          backoff_base=0.5, backoff_cap=4.0)
    delays = [client._delay(n) for n in range(1, 8)]
    tops = [min(4.0, 0.5 * 2 ** (n - 1)) for n in range(1, 8)]
    assert all(t / 2 <= d <= t for d, t in zip(delays, tops, strict=True))
    asyncio.run(client.aclose())


# --------------------------------------------------------------------------- against the emulator


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def client(sim, rsa_key, key_id, sleeps) -> AsyncIterator[KalshiClient]:
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), tier="premier", timeout=2.0,
                     sleep=sleeps, rng=random.Random(0), page_limit=5)
    await c.prepare()
    yield c
    await c.aclose()


def writes(sim, method: str, prefix: str = "/trade-api/v2/portfolio/events/orders") -> list:
    return [r for r in sim.request_log if r.method == method and r.path.startswith(prefix)]


def request(sim, ticker: str, cid: str, price: int = 3000, side=BookSide.BID) -> OrderRequest:
    return OrderRequest(ticker=ticker, side=side, price=price, count=1000, client_order_id=cid)


async def first_ticker(client: KalshiClient, sim) -> str:
    event = await client.get_event(sim.event_ticker)
    return event.markets[len(event.markets) // 2].ticker


def test_client_satisfies_exchange_protocol():
    """KalshiClient is an Exchange (checked by mypy through this assignment)."""
    exchange: Exchange = KalshiClient("http://127.0.0.1:9/trade-api/v2", None)
    assert isinstance(exchange, KalshiClient)
    asyncio.run(exchange.aclose())


async def test_reads(client, sim):
    """Status, event (sorted, 23 markets), markets (paged), orderbook and balance read back."""
    async with asyncio.timeout(10):
        status = await client.get_exchange_status()
        event = await client.get_event(sim.event_ticker)
        markets = await client.list_markets(event_ticker=sim.event_ticker)
        book = await client.get_orderbook(event.markets[0].ticker)
        balance = await client.get_balance()
    assert status.exchange_active
    strikes = [m.floor_strike for m in event.markets]
    assert len(strikes) == 23 and strikes == sorted(strikes)
    assert sorted(m.ticker for m in markets) == sorted(m.ticker for m in event.markets)
    market_pages = [r for r in sim.request_log if r.path.endswith("/markets")]
    assert len(market_pages) >= 5  # 23 markets at 5 per page
    assert book.ticker == event.markets[0].ticker
    assert balance.balance > 0


async def test_order_lifecycle(client, sim):
    """Create, list, get, amend, decrease, cancel; a second cancel is NotFound."""
    async with asyncio.timeout(10):
        ticker = await first_ticker(client, sim)
        ack = await client.create_order(request(sim, ticker, "c-life"))
        assert (ack.client_order_id, ack.remaining) == ("c-life", 1000)
        resting = await client.list_orders(ticker=ticker)
        assert [o.order_id for o in resting] == [ack.order_id]
        amended = await client.amend_order(ack.order_id, ticker=ticker, side="bid", price=3100,
                                           count=1000)
        assert amended.order_id == ack.order_id
        order = await client.get_order(ack.order_id)
        assert (order.price, order.side, order.status) == (3100, BookSide.BID,
                                                           OrderStatus.RESTING)
        decreased = await client.decrease_order(ack.order_id, reduce_to=400)
        assert decreased.remaining == 400
        cancelled = await client.cancel_order(ack.order_id)
        assert cancelled.remaining == 0
        with pytest.raises(NotFound):
            await client.cancel_order(ack.order_id)
    assert sim.resting_orders(client_user(sim)) == []


def client_user(sim) -> str:
    """The emulator user of the test key (users are named by key id)."""
    return "test-key-id"


async def test_duplicate_client_order_id_is_conflict(client, sim):
    """Re-using a client_order_id raises Conflict and places nothing new."""
    async with asyncio.timeout(10):
        ticker = await first_ticker(client, sim)
        await client.create_order(request(sim, ticker, "c-dup"))
        with pytest.raises(Conflict):
            await client.create_order(request(sim, ticker, "c-dup"))
    assert len(sim.resting_orders(client_user(sim))) == 1


async def test_bad_signature_is_auth_error(sim, key_id):
    """A key the exchange does not know yields AuthError with a clear message."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    c = KalshiClient(sim.rest_url, Signer(key_id, stranger))
    try:
        async with asyncio.timeout(10):
            with pytest.raises(AuthError) as info:
                await c.get_balance()
    finally:
        await c.aclose()
    assert AUTH_HINT in str(info.value)
    assert info.value.status == 401


async def test_rate_limit_storm_loses_nothing(client, sim, sleeps):
    """Five 429s in a row: the read still succeeds, with bounded attempts and backoff."""
    sim.faults.fail_next(5, 429)
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(10):
            balance = await client.get_balance()
    assert balance.balance > 0
    balance_calls = [r for r in sim.request_log if r.path.endswith("/portfolio/balance")]
    assert [r.status for r in balance_calls] == [429] * 5 + [200]
    assert len(sleeps.delays) == 5 and all(d > 0 for d in sleeps.delays)
    limited = [e for e in logs if e["event"] == "rest.rate_limited"]
    assert len(limited) == 5
    assert {"method", "path", "status", "attempt"} <= set(limited[0])
    assert "test-key-id" not in repr(logs)


async def test_rate_limited_create_places_once(client, sim):
    """A create answered 429 is re-sent (it was refused, not placed): exactly one order."""
    ticker = await first_ticker(client, sim)
    sim.faults.fail_next(3, 429)
    async with asyncio.timeout(10):
        ack = await client.create_order(request(sim, ticker, "c-429"))
    assert [o.order_id for o in sim.resting_orders(client_user(sim))] == [ack.order_id]


async def test_server_errors_on_reads_are_retried(client, sim):
    """A burst of 5xx on a read is retried through; too many gives ServerError."""
    sim.faults.fail_next(3, 503)
    async with asyncio.timeout(10):
        assert await client.list_orders() == []
    sim.faults.fail_next(20, 500)
    async with asyncio.timeout(10):
        with pytest.raises(ServerError):
            await client.get_exchange_status()
    status_calls = [r for r in sim.request_log if r.path.endswith("/exchange/status")]
    assert len(status_calls) == 6  # bounded by max_attempts


async def test_create_timeout_places_exactly_one_order(sim, rsa_key, key_id, sleeps):
    """A create applied but answered after our timeout resolves by reading back: one order."""
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), tier="premier", timeout=0.3,
                     sleep=sleeps, calibrate=False)
    try:
        ticker = await first_ticker(c, sim)
        sim.faults.delay_next(1.0)
        async with asyncio.timeout(10):
            ack = await c.create_order(request(sim, ticker, "c-slow"))
    finally:
        await c.aclose()
    resting = sim.resting_orders(client_user(sim))
    assert [(o.order_id, o.client_order_id) for o in resting] == [(ack.order_id, "c-slow")]
    assert len(writes(sim, "POST")) == 1


async def test_create_5xx_resends_once(client, sim):
    """A create answered 503 and not found among our orders is sent once more: one order."""
    ticker = await first_ticker(client, sim)
    sim.faults.fail_next(1, 503)
    async with asyncio.timeout(10):
        ack = await client.create_order(request(sim, ticker, "c-503"))
    assert [o.order_id for o in sim.resting_orders(client_user(sim))] == [ack.order_id]
    assert len(writes(sim, "POST")) == 2


async def test_cancel_timeout_then_gone_is_success(sim, rsa_key, key_id, sleeps):
    """A cancel applied but answered late is retried; the retry's 404 means done."""
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), tier="premier", timeout=0.3,
                     sleep=sleeps, calibrate=False)
    try:
        ticker = await first_ticker(c, sim)
        async with asyncio.timeout(10):
            ack = await c.create_order(request(sim, ticker, "c-cancel"))
            sim.faults.delay_next(1.0)
            result = await c.cancel_order(ack.order_id)
    finally:
        await c.aclose()
    assert result == WriteAck(order_id=ack.order_id, remaining=0)
    assert sim.resting_orders(client_user(sim)) == []


async def open_spot(client: KalshiClient, sim) -> tuple[str, int]:
    """Return a market and a bid price that would be the best bid without crossing."""
    event = await client.get_event(sim.event_ticker)
    for m in event.markets:
        book = await client.get_orderbook(m.ticker)
        best_bid = book.yes[-1][0] if book.yes else 0
        best_ask = 10000 - book.no[-1][0] if book.no else 10000
        if best_bid + 100 < best_ask and best_bid >= 100:
            return m.ticker, best_bid + 100
    raise AssertionError("no market with room inside the spread")


async def test_post_only_cross_is_rejected(client, sim):
    """A post-only ask at or below the best bid is an OrderRejected with a 400."""
    async with asyncio.timeout(10):
        ticker, price = await open_spot(client, sim)
        with pytest.raises(OrderRejected) as info:
            await client.create_order(
                request(sim, ticker, "c-cross", price=price - 100, side=BookSide.ASK))
    assert info.value.status == 400
    assert sim.resting_orders(client_user(sim)) == []


async def test_fills_and_positions(client, sim):
    """An outside seller hitting our (best) bid shows up in fills and positions."""
    async with asyncio.timeout(10):
        ticker, price = await open_spot(client, sim)
        ack = await client.create_order(request(sim, ticker, "c-fill", price=price))
        sim.add_order(ticker, BookSide.ASK, price, 300, user="outside")
        fills = await client.list_fills(ticker=ticker)
        positions = await client.list_positions(event_ticker=sim.event_ticker)
    assert [(f.order_id, f.side, f.price, f.count) for f in fills] == [
        (ack.order_id, BookSide.BID, price, 300)]
    assert [(p.ticker, p.position) for p in positions if p.position] == [(ticker, 300)]


async def test_batches_and_cancel_all(client, sim):
    """Batch create and batch cancel give one result per item; cancel_all clears the rest."""
    event = await client.get_event(sim.event_ticker)
    tickers = [m.ticker for m in event.markets[:4]]
    async with asyncio.timeout(10):
        requests = [request(sim, t, f"c-b{i}", price=1000) for i, t in enumerate(tickers)]
        results = await client.batch_create(requests)
        assert all(isinstance(r, WriteAck) for r in results)
        ids = [r.order_id for r in results if isinstance(r, WriteAck)]
        cancelled = await client.batch_cancel([ids[0], ids[1], "no-such-order"])
        assert [type(r).__name__ for r in cancelled] == ["WriteAck", "WriteAck", "NotFound"]
        assert [r.reduced_by for r in cancelled[:2] if isinstance(r, WriteAck)] == [
            r.count for r in requests[:2]]
        assert len(sim.resting_orders(client_user(sim))) == 2
        await client.cancel_all()
    assert sim.resting_orders(client_user(sim)) == []


async def test_account_limits_tolerated(client):
    """GET /account/limits decodes, or is None where the endpoint does not exist."""
    async with asyncio.timeout(10):
        limits = await client.get_account_limits()
    assert limits is None or limits.write.refill_rate > 0


async def test_v1_write_path_is_gone(sim, rsa_key, key_id):
    """The V1 create path answers 410 deprecated_v1_order_endpoint; the client never uses it."""
    signer = Signer(key_id, rsa_key)
    path = "/trade-api/v2/portfolio/orders"
    ts = int(datetime.now(UTC).timestamp() * 1000)
    async with httpx.AsyncClient(timeout=5) as raw:
        resp = await raw.post(sim.rest_url + "/portfolio/orders",
                              headers=signer.headers("POST", path, ts),
                              json={"ticker": "X", "side": "yes", "action": "buy", "count": 1,
                                    "yes_price": 30})
    assert resp.status_code == 410
    assert "deprecated_v1_order_endpoint" in resp.text
    assert not any(r.path == path and r.method == "POST"
                   for r in sim.request_log if r.status != 410)


async def test_amend_timeout_resolved_by_reading_back(sim, rsa_key, key_id, sleeps):
    """An amend applied but answered late is resolved by reading the order's price back."""
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), tier="premier", timeout=0.3,
                     sleep=sleeps, calibrate=False)
    try:
        ticker = await first_ticker(c, sim)
        async with asyncio.timeout(10):
            ack = await c.create_order(request(sim, ticker, "c-amend"))
            sim.faults.delay_next(1.0)
            amended = await c.amend_order(ack.order_id, ticker=ticker, side="bid", price=3200,
                                          count=1000)
    finally:
        await c.aclose()
    assert amended.order_id == ack.order_id
    assert [o.price for o in sim.resting_orders(client_user(sim))] == [3200]
    assert len(writes(sim, "POST", "/trade-api/v2/portfolio/events/orders/")) == 1


async def test_orders_pagination(client, sim):
    """Our orders come back complete across pages of five."""
    event = await client.get_event(sim.event_ticker)
    async with asyncio.timeout(10):
        for i in range(7):
            await client.create_order(request(sim, event.markets[i].ticker, f"c-p{i}",
                                              price=500))
        orders = await client.list_orders(event_ticker=sim.event_ticker)
    assert sorted(o.client_order_id for o in orders) == [f"c-p{i}" for i in range(7)]
    pages = [r for r in sim.request_log if r.path.endswith("/portfolio/orders")]
    assert len(pages) == 2


# --------------------------------------------------------------------------- seams


class MangledCreateAnswers(httpx.AsyncBaseTransport):
    """A real loopback transport whose 201 answers arrive truncated (a broken proxy)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await self._inner.handle_async_request(request)
        if resp.status_code != 201:
            return resp
        body = await resp.aread()
        return httpx.Response(201, headers={"content-type": "application/json"},
                              content=body[: len(body) // 2])

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_undecodable_201_is_ambiguous_and_the_order_reads_back(sim, rsa_key, key_id):
    """A create answered 201 with a body we cannot decode is AmbiguousOutcome, not 'not placed'."""
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), transport=MangledCreateAnswers(),
                     calibrate=False)
    try:
        async with asyncio.timeout(10):
            ticker = await first_ticker(c, sim)
            with pytest.raises(AmbiguousOutcome, match="did not decode"):
                await c.create_order(request(sim, ticker, "c-mangled"))
            batch = await c.batch_create([request(sim, ticker, "c-mangled-2", price=2900)])
            assert [type(r) for r in batch] == [AmbiguousOutcome]
            placed = await c.list_orders(ticker=ticker)
    finally:
        await c.aclose()
    assert sorted(o.client_order_id for o in placed) == ["c-mangled", "c-mangled-2"]
    assert len(writes(sim, "POST")) == 2


async def test_order_group_is_created_once_and_stamped_on_every_create(sim, rsa_key, key_id):
    """With a contracts limit, the client makes one group and every create (and batch) joins it."""
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), order_group_contracts_limit=5)
    try:
        async with asyncio.timeout(10):
            event = await c.get_event(sim.event_ticker)
            a = await c.create_order(request(sim, event.markets[0].ticker, "g-1", price=500))
            b = await c.batch_create([request(sim, event.markets[1].ticker, "g-2", price=500)])
            assert c.order_group_id is not None
            group = await c.get_order_group(c.order_group_id)
            await c.reset_order_group()
            await c.delete_order_group()
    finally:
        await c.aclose()
    assert isinstance(b[0], WriteAck)
    assert sorted(group.orders) == sorted([a.order_id, b[0].order_id])
    assert group.contracts_limit == 500
    creates = [r for r in sim.request_log if r.path.endswith("/order_groups/create")]
    assert len(creates) == 1
    assert sim.resting_orders(client_user(sim)) == []  # deleting the group cancelled them
    assert c.order_group_id is None


async def test_cancel_uses_the_cheaper_batch_path(client, sim):
    """A single cancel goes out as a one-order batch cancel (2 tokens, not 10)."""
    ticker = await first_ticker(client, sim)
    async with asyncio.timeout(10):
        req = request(sim, ticker, "c-cheap")
        ack = await client.create_order(req)
        cancelled = await client.cancel_order(ack.order_id)
    assert (cancelled.remaining, cancelled.reduced_by) == (0, req.count)
    deletes = writes(sim, "DELETE")
    assert [r.path.rsplit("/", 1)[-1] for r in deletes] == ["batched"]
    assert client.budget.cost("DELETE", "/portfolio/events/orders/batched") == ("write", 2)


async def test_bad_row_in_a_list_is_skipped_and_logged(sim, rsa_key, key_id):
    """One fill that does not decode is left out with a log line; the other fills come back."""

    class OneBadFill(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, req: httpx.Request) -> httpx.Response:
            resp = await self._inner.handle_async_request(req)
            if not req.url.path.endswith("/portfolio/fills"):
                return resp
            import json

            data = json.loads(await resp.aread())
            data["fills"].insert(0, {**data["fills"][0], "ts": 10**18, "trade_id": "bad"})
            return httpx.Response(200, json=data)

        async def aclose(self) -> None:
            await self._inner.aclose()

    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), transport=OneBadFill(),
                     calibrate=False)
    try:
        async with asyncio.timeout(10):
            ticker, price = await open_spot(c, sim)
            await c.create_order(request(sim, ticker, "c-row", price=price))
            sim.add_order(ticker, BookSide.ASK, price, 100, user="outside")
            with structlog.testing.capture_logs() as logs:
                fills = await c.list_fills(ticker=ticker)
    finally:
        await c.aclose()
    assert [f.count for f in fills] == [100]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["rest.bad_row"]


async def test_no_secret_in_any_log_line(sim, rsa_key, key_id):
    """Signed calls through retries, 429s and errors never log headers, signatures or the key id."""
    c = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), sleep=SleepRecorder(),
                     order_group_contracts_limit=5)
    with structlog.testing.capture_logs() as logs:
        try:
            async with asyncio.timeout(10):
                ticker = await first_ticker(c, sim)
                sim.faults.fail_next(2, 429)
                await c.get_balance()
                sim.faults.fail_next(1, 503)
                ack = await c.create_order(request(sim, ticker, "c-secret"))
                await c.cancel_order(ack.order_id)
                with pytest.raises(NotFound):
                    await c.cancel_order(ack.order_id)
        finally:
            await c.aclose()
    text = repr(logs)
    assert logs
    for secret in (key_id, "KALSHI-ACCESS", "signature", "PRIVATE KEY"):
        assert secret.lower() not in text.lower()


async def test_fee_schedule_is_read_from_the_series(client):
    """The series' fee_type and fee_multiplier come back as an exact schedule."""
    from fractions import Fraction

    from tsad.core.fees import FeeType

    schedule = await client.get_fee_schedule("KXTSAW")
    assert schedule.fee_type is FeeType.QUADRATIC and schedule.multiplier == Fraction(1)
    # 10 contracts at $0.50: the taker pays 0.07 × 10 × 0.5 × 0.5 = $0.175, rounded up to $0.0001.
    assert schedule.trade_fee(1000, 5000, is_taker=True) == 175_000  # money units: $0.000001
    assert schedule.trade_fee(1000, 5000, is_taker=False) == 0
