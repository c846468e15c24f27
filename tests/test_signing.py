"""Request signing: RSA-PSS signatures verified with the public key, key loading, redaction."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest
from aiohttp import web

from tsad.errors import AuthError, ConfigError
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer, load_private_key, sign_message, verify_signature


class FixedClock:
    """A clock frozen at one instant."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return 0.0


@pytest.mark.parametrize(
    ("method", "path", "signed_path"),
    [
        ("GET", "/trade-api/v2/portfolio/balance", "/trade-api/v2/portfolio/balance"),
        ("get", "/trade-api/v2/portfolio/orders?limit=5", "/trade-api/v2/portfolio/orders"),
        ("DELETE", "/trade-api/v2/portfolio/events/orders/abc",
         "/trade-api/v2/portfolio/events/orders/abc"),
        ("GET", "/trade-api/ws/v2", "/trade-api/ws/v2"),
    ],
    ids=["plain", "query-stripped-lowercase-method", "delete", "websocket"],
)
def test_signature_verifies_with_public_key(rsa_key, key_id, method, path, signed_path):
    """Headers carry the key id, the ms timestamp and a PSS signature of ts+METHOD+path."""
    h = Signer(key_id, rsa_key).headers(method, path, 1703123456789)
    assert h["KALSHI-ACCESS-KEY"] == key_id
    assert h["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    message = "1703123456789" + method.upper() + signed_path
    assert verify_signature(rsa_key.public_key(), message, h["KALSHI-ACCESS-SIGNATURE"])
    assert not verify_signature(rsa_key.public_key(), message + "x",
                                h["KALSHI-ACCESS-SIGNATURE"])


def test_signatures_are_randomized_but_all_valid(rsa_key):
    """PSS signatures differ on every call, so tests verify instead of comparing bytes."""
    a, b = sign_message(rsa_key, "m"), sign_message(rsa_key, "m")
    assert a != b
    assert verify_signature(rsa_key.public_key(), "m", a)
    assert verify_signature(rsa_key.public_key(), "m", b)


def test_signer_repr_hides_secrets(rsa_key, key_id):
    """Neither the key id nor the key appears in the signer's repr."""
    assert key_id not in repr(Signer(key_id, rsa_key))
    assert "redacted" in repr(Signer(key_id, rsa_key))


def test_signer_requires_key_id(rsa_key):
    """An empty key id is refused up front."""
    with pytest.raises(AuthError):
        Signer("", rsa_key)


def test_load_private_key(key_file, rsa_key):
    """A 0600 PEM file loads into the same key."""
    key = load_private_key(key_file)
    assert key.private_numbers() == rsa_key.private_numbers()


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: os.chmod(p, 0o644), "readable by group or others"),
        (lambda p: p.write_bytes(b"not a key"), "not a readable unencrypted PEM"),
        (lambda p: p.unlink(), "kalshi-key.pem"),
    ],
    ids=["insecure-mode", "garbage", "missing"],
)
def test_load_private_key_errors_name_file(key_file, setup, match):
    """Bad key files raise ConfigError naming the file, never showing key bytes."""
    setup(key_file)
    with pytest.raises(ConfigError, match=match) as info:
        load_private_key(key_file)
    assert str(key_file.name) in str(info.value)
    assert "BEGIN" not in str(info.value)


async def test_client_signs_full_path_without_query(rsa_key, key_id):
    """The client signs /trade-api/v2/<path> without the query; the public key verifies it."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, dict(request.headers)))
        if request.path.endswith("/orders"):
            return web.json_response({"orders": [], "cursor": ""})
        return web.json_response({"balance": 100, "portfolio_value": 0})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    now = datetime(2026, 8, 25, 14, 0, 0, 123000, tzinfo=UTC)
    client = KalshiClient(f"http://127.0.0.1:{port}/trade-api/v2", Signer(key_id, rsa_key),
                          clock=FixedClock(now))
    try:
        async with asyncio.timeout(5):
            await client.get_balance()
            await client.list_orders(ticker="KXTSAW-26AUG30-A2.30")
    finally:
        await client.aclose()
        await runner.cleanup()
    (m1, p1, h1), (m2, p2, h2) = seen
    assert p1 == "/trade-api/v2/portfolio/balance"
    assert p2.startswith("/trade-api/v2/portfolio/orders?")
    ts = str(int(now.timestamp() * 1000))
    for method, path_qs, headers in ((m1, p1, h1), (m2, p2, h2)):
        assert headers["KALSHI-ACCESS-TIMESTAMP"] == ts
        message = ts + method + path_qs.split("?")[0]
        assert verify_signature(rsa_key.public_key(), message, headers["KALSHI-ACCESS-SIGNATURE"])


def test_client_repr_hides_secrets(rsa_key, key_id):
    """The client's repr shows the URL only."""
    client = KalshiClient("http://127.0.0.1:1/trade-api/v2", Signer(key_id, rsa_key))
    assert key_id not in repr(client)
    asyncio.run(client.aclose())
