"""A signed REST client for contract tests: every answer is validated against Kalshi's spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.kalshi_schema import OpenApi
from tsad.clock import SystemClock
from tsad.kalshi.signing import Signer


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
