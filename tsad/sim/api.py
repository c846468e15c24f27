"""The emulator's REST plumbing shared by the route modules: errors, bodies, paging, the user."""

from __future__ import annotations

import contextvars
from typing import Any

from aiohttp import web

from tsad.errors import ExchangeError
from tsad.sim.wire import error_body


__all__ = [
    "JSON",
    "ApiError",
    "bad_field",
    "current_user",
    "error_response",
    "flag",
    "from_exchange_error",
    "json_body",
    "page",
    "set_user",
]

JSON = dict[str, Any]
_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("sim_user", default=None)


class ApiError(Exception):
    """An error answer: HTTP status and Kalshi's ``{"error": {code, message, details}}``."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        """Describe the answer (a 429 ignores code and message: it has its own body)."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def item(self) -> JSON:
        """Return the error as a batch item's ``error`` object."""
        return {"code": self.code, "message": self.message, "details": self.details}


def bad_field(field: str, why: str = "is required") -> ApiError:
    """Return the 400 of a malformed request field."""
    return ApiError(400, "invalid_order", "invalid order", f"{field} {why}")


def error_response(exc: ApiError) -> web.Response:
    """Return the HTTP response of an API error."""
    if exc.status == 429:
        return web.json_response({"error": "too many requests"}, status=429)
    return web.json_response(error_body(exc.code, exc.message, exc.details), status=exc.status)


def from_exchange_error(exc: ExchangeError) -> ApiError:
    """Translate a matching-engine rejection into its API error."""
    code = exc.code or "invalid_order"
    return ApiError(exc.status or 400, code, code, str(exc))


async def json_body(request: web.Request) -> JSON:
    """Return the request's JSON object body.

    Raises:
        ApiError: not JSON, or not an object.
    """
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "invalid_parameters", "request body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_parameters", "request body must be an object")
    return body


def page(request: web.Request, rows: list[Any], *, default: int, maximum: int,
         ) -> tuple[list[Any], str]:
    """Return one page of ``rows`` by the ``limit`` and ``cursor`` query, and the next cursor.

    Raises:
        ApiError: a malformed or out-of-range limit or cursor.
    """
    try:
        limit = int(request.query.get("limit", default))
        start = int(request.query.get("cursor") or 0)
    except ValueError:
        raise ApiError(400, "invalid_parameters", "invalid limit or cursor") from None
    if not 1 <= limit <= maximum or start < 0:
        raise ApiError(400, "invalid_parameters", "limit or cursor out of range")
    rows_page = rows[start:start + limit]
    cursor = str(start + limit) if start + limit < len(rows) else ""
    return rows_page, cursor


def flag(request: web.Request, name: str) -> bool:
    """Tell whether the boolean query parameter ``name`` is ``true``."""
    return request.query.get(name, "false").lower() == "true"


def set_user(user: str | None) -> None:
    """Remember the authenticated user of the request being served."""
    _USER.set(user)


def current_user(request: web.Request) -> str:
    """Return the authenticated user of the request.

    Raises:
        ApiError: 401, the request is not signed.
    """
    user = _USER.get()
    if user is None:
        raise ApiError(401, "authentication_error", "authentication_error")
    return user
