"""A signed REST client for contract tests: every answer is validated against Kalshi's spec."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import public_pem
from tests.kalshi_schema import OpenApi, openapi
from tsad.clock import SystemClock
from tsad.kalshi.signing import Signer
from tsad.sim import Emulator


@dataclass
class SpecClient:
    """Calls the emulator and keeps every schema violation (method, path, status, message)."""

    http: httpx.AsyncClient
    signer: Signer
    rest_url: str
    spec: OpenApi
    violations: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    async def call(self, method: str, path: str, *, expect: int | None = None,
                   **kw: Any) -> Any:
        """Send a signed request; validate the answer; return its JSON body (None if empty).

        ``expect`` asserts the HTTP status.
        """
        url = self.rest_url + path
        headers = self.signer.headers(method, urlsplit(url).path, SystemClock().time_ms())
        r = await self.http.request(method, url, headers=headers, **kw)
        bare = path.split("?", 1)[0]
        self.calls.append((method, bare, r.status_code))
        if expect is not None:
            assert r.status_code == expect, (method, path, r.status_code, r.text)
        body = r.json() if r.content else None
        if r.status_code >= 400 and isinstance(body, dict) and "error" in body:
            # Kalshi wraps the documented ErrorResponse in {"error": …} (kalshi-api.md §3.0).
            checked = body["error"]
        else:
            checked = body
        if r.status_code == 204:
            assert not r.content, f"{method} {path}: 204 with a body"
            return None
        try:
            errors = self.spec.errors(method, bare, r.status_code, checked)
        except LookupError as exc:
            errors = [str(exc)]
        self.violations.extend(errors)
        return body

    async def get(self, path: str, **kw: Any) -> Any:
        """GET and expect 200."""
        return await self.call("GET", path, expect=200, **kw)


# The contract tests' shared fixtures; a test module takes them with
# ``from tests.spec_client import contract_api, contract_sim``.


@pytest.fixture(name="sim")
async def contract_sim(rsa_key, key_id) -> AsyncIterator[Emulator]:
    """An emulator on the premier tier, so a whole session fits in the write bucket."""
    async with Emulator(seed=0, tier="premier") as emulator:
        emulator.register_key(key_id, public_pem(rsa_key))
        yield emulator


@pytest.fixture(name="api")
async def contract_api(sim: Emulator, rsa_key, key_id) -> AsyncIterator[SpecClient]:
    """A `SpecClient` signed with the test key, validating against the vendored spec."""
    async with httpx.AsyncClient(timeout=10) as http:
        yield SpecClient(http, Signer(key_id, rsa_key), sim.rest_url, openapi())
