"""The signed, throttled, retrying HTTP session under the Kalshi REST client.

Every request is signed afresh (``timestamp_ms + METHOD + /trade-api/v2/<path>``, no
query) and first takes its tokens from the local read or write bucket (`Budget`). Reads and
idempotent writes retry on transport errors, 5xx and 429 with jittered exponential backoff
and bounded attempts; a 429 also empties the local bucket. httpx exceptions become
`TransportError` here and nowhere else. Headers, the key id and bodies of signed calls are
never logged: log lines carry the method, the path, the status and the attempt only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self, TypedDict
from urllib.parse import urlsplit

import httpx
import structlog

from tsad.clock import SystemClock
from tsad.core.clock import Clock
from tsad.errors import (
    AuthError,
    Conflict,
    ExchangeError,
    NotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from tsad.kalshi import wire
from tsad.kalshi.budget import BucketKind, Budget, Tier
from tsad.kalshi.signing import Signer


__all__ = ["AUTH_HINT", "ApiSession", "SessionOptions", "Sleep"]

AUTH_HINT: Final = (
    "Kalshi rejected the request signature/key: check key_id, the private key and the clock"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_log = structlog.get_logger("tsad.kalshi.rest")

Sleep = Callable[[float], Awaitable[None]]


class SessionOptions(TypedDict, total=False):
    """`ApiSession`'s keyword arguments (documented there), as a subclass passes them on."""

    tier: Tier | str
    timeout: float
    transport: httpx.AsyncBaseTransport | None
    clock: Clock | None
    budget: Budget | None
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    rng: random.Random | None
    sleep: Sleep
    page_limit: int


class ApiSession:
    """Signed, throttled, retrying HTTP calls to the Trade API v2 (one `httpx.AsyncClient`).

    Args:
        rest_url: API root including ``/trade-api/v2``, e.g.
            ``https://external-api.kalshi.com/trade-api/v2``.
        signer: signs requests; None sends unauthenticated requests (public data only).
        tier: the account's usage tier, sizing the local token buckets.
        timeout: seconds for each HTTP request (connect, read, write, pool).
        transport: an httpx transport (tests); None uses the default network transport.
        clock: time source for signatures and the token buckets.
        budget: the token buckets; built from ``tier`` when None.
        max_attempts: attempts per retryable call (≥ 1).
        backoff_base: first retry delay in seconds (doubled per attempt, with jitter).
        backoff_cap: largest retry delay in seconds.
        rng: randomness for the jitter.
        sleep: the coroutine used to wait between retries.
        page_limit: ``limit`` sent with every paginated list request.
    """

    def __init__(
        self,
        rest_url: str,
        signer: Signer | None,
        *,
        tier: Tier | str = Tier.BASIC,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        budget: Budget | None = None,
        max_attempts: int = 6,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        page_limit: int = 200,
    ) -> None:
        self._base = rest_url.rstrip("/")
        self._base_path = urlsplit(self._base).path
        self._signer = signer
        self._clock = clock or SystemClock()
        self.budget = budget or Budget(tier, clock=self._clock)
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._page_limit = page_limit
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base!r}, signed={self._signer is not None})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ transport

    def _timestamp_ms(self) -> int:
        return (self._clock.now() - _EPOCH) // timedelta(milliseconds=1)

    def _headers(self, method: str, path: str) -> dict[str, str]:
        if self._signer is None:
            return {}
        return self._signer.headers(method, self._base_path + path, self._timestamp_ms())

    def _error(self, resp: httpx.Response, method: str, path: str) -> ExchangeError:
        status = resp.status_code
        body = wire.decode_error_body(resp.content)
        detail = " ".join(x for x in (body.code or "", body.message, body.details) if x)
        where = f"{method} {path} → HTTP {status}"
        text = f"{where}: {detail}" if detail else where
        if status in (401, 403):
            return AuthError(f"{AUTH_HINT} ({text})", status=status, code=body.code)
        if status == 404:
            return NotFound(text, status=status, code=body.code)
        if status == 409:
            return Conflict(text, status=status, code=body.code)
        if status == 429:
            return RateLimited(text, status=status, code=body.code)
        if status >= 500:
            return ServerError(text, status=status, code=body.code)
        return OrderRejected(text, status=status, code=body.code)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        kind: BucketKind,
        tokens: int,
        attempt: int,
    ) -> Any:
        """Send one request; return its decoded JSON (None when empty) or raise mapped errors."""
        await self.budget.acquire(kind, tokens)
        try:
            resp = await self._http.request(
                method,
                self._base + path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
                headers=self._headers(method, path),
            )
        except httpx.TimeoutException as exc:
            raise TransportError(f"{method} {path}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            err = self._error(resp, method, path)
            if isinstance(err, RateLimited):
                self.budget.drain(kind)
                _log.warning("rest.rate_limited", method=method, path=path,
                             status=resp.status_code, attempt=attempt)
            raise err
        if not resp.content:
            return None
        return wire.decode_json(resp.content, f"{method} {path}")

    def _delay(self, attempt: int) -> float:
        """Equal-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        top = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return top / 2 + self._rng.uniform(0, top / 2)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        items: int = 1,
        tokens: int | None = None,
        retry: bool = True,
        on_retry_not_found: Callable[[], Any] | None = None,
    ) -> Any:
        """Send a request, retrying retryable failures when ``retry`` (reads, idempotent writes).

        ``on_retry_not_found``: for idempotent removals, a 404 on a *retry* means an earlier
        attempt already succeeded; its result is returned instead of raising.
        """
        kind, cost = self.budget.cost(method, path, items=items)
        attempt = 1
        while True:
            try:
                return await self._send(method, path, params=params, body=body, kind=kind,
                                        tokens=tokens if tokens is not None else cost,
                                        attempt=attempt)
            except NotFound:
                if attempt > 1 and on_retry_not_found is not None:
                    return on_retry_not_found()
                raise
            except (TransportError, ServerError, RateLimited) as exc:
                if not retry or attempt >= self._max_attempts:
                    raise
                delay = self._delay(attempt)
                _log.info("rest.retry", method=method, path=path, status=exc.status,
                          attempt=attempt, error=type(exc).__name__, delay=round(delay, 3))
                await self._sleep(delay)
                attempt += 1

    async def _paged(
        self, path: str, params: Mapping[str, Any], decode: Callable[[Any], wire.Page]
    ) -> list[Any]:
        out: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = decode(await self._call(
                "GET", path, params={**params, "limit": self._page_limit, "cursor": cursor}))
            for error in page.bad:
                _log.warning("rest.bad_row", path=path, error=error)
            out.extend(page.items)
            if not page.cursor:
                return out
            if page.cursor in seen:
                raise ProtocolError(f"GET {path}: cursor {page.cursor!r} repeated")
            seen.add(page.cursor)
            cursor = page.cursor
