"""Kalshi error bodies: read an error response in any of its shapes, map batch item errors.

The HTTP status decides the exception class in the REST client; this module only reads the
``code`` / ``message`` / ``details`` text, and maps one batch item's ``error`` into the
exception tree of `tsad.errors`. Nothing here raises on a malformed body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tsad.errors import Conflict, ExchangeError, NotFound, OrderRejected, RateLimited


__all__ = ["ErrorBody", "decode_error_body", "item_error"]

Json = Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorBody:
    """A Kalshi error body, wrapped or not (``code``, ``message``, ``details``; may be empty)."""

    code: str | None
    message: str
    details: str = ""


def _error_fields(err: Mapping[str, Json]) -> ErrorBody:
    code = err.get("code")
    message = err.get("message")
    details = err.get("details")
    return ErrorBody(
        code=str(code) if code is not None else None,
        message=str(message) if message is not None else "",
        details=str(details) if details is not None else "",
    )


def decode_error_body(body: bytes | str) -> ErrorBody:
    """Read an error response in any of its observed shapes.

    Accepts ``{"error": {code, message, details}}``, ``{code, message, details}``, the 429
    form ``{"error": "too many requests"}``, and non-JSON text. Never raises.
    """
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping):
            return _error_fields(err)
        if isinstance(err, str):
            return ErrorBody(code=None, message=err)
        return _error_fields(data)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return ErrorBody(code=None, message=text[:200])


def item_error(err: Json, *, order_id: str | None = None) -> ExchangeError:
    """Map one batch item's ``error`` (an ``ErrorResponse``) into the exception tree."""
    e = _error_fields(err) if isinstance(err, Mapping) else ErrorBody(code=None, message=str(err))
    text = " ".join(x for x in (e.code or "", e.message, e.details) if x)
    lowered = text.lower()
    label = f"order {order_id}: " if order_id else ""
    if "not_found" in lowered or "not found" in lowered:
        return NotFound(f"{label}{text}", code=e.code)
    if "already exists" in lowered or "already_exists" in lowered:
        return Conflict(f"{label}{text}", code=e.code)
    if "too many requests" in lowered:
        return RateLimited(f"{label}{text}", code=e.code)
    return OrderRejected(f"{label}{text or 'rejected'}", code=e.code)

