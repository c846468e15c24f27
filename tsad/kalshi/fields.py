"""Reading exchange JSON: field access whose errors name the field, and the one decode boundary.

Every decoder of the Kalshi codec (`tsad.kalshi.payloads`, `tsad.kalshi.messages`) reads
through `JsonObject` and is wrapped by `decoder`: whatever goes wrong while decoding exchange
data (a missing key, a bad number, an out-of-range timestamp, a too-deep document…) leaves the
codec as a `ProtocolError`, never as a bare ``KeyError`` or ``OverflowError``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeAlias, TypeVar

from tsad.core.money import PRICE_ONE, contracts, parse_count, parse_money, parse_price
from tsad.core.orders import BookSide
from tsad.errors import ProtocolError


__all__ = [
    "Json",
    "JsonObject",
    "Levels",
    "book_side",
    "cursor",
    "decode_json",
    "decoder",
    "levels",
    "timestamp_ms",
]

Json: TypeAlias = Any
Levels: TypeAlias = tuple[tuple[int, int], ...]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def decoder(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Make ``fn`` a codec boundary: any exception it lets out becomes a `ProtocolError`.

    A `ProtocolError` passes unchanged; anything else (``KeyError``, ``ValueError``,
    ``OverflowError``, ``TypeError``, ``RecursionError``…) is wrapped, naming the decoder and
    the original error, with the original as ``__cause__``.
    """

    @functools.wraps(fn)
    def boundary(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except ProtocolError:
            raise
        except Exception as exc:
            raise ProtocolError(
                f"{fn.__name__}: {type(exc).__name__}: {str(exc)[:200]}") from exc

    return boundary


class JsonObject:
    """A JSON object being decoded; ``where`` prefixes every error message."""

    __slots__ = ("d", "where")

    def __init__(self, data: Json, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ProtocolError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.d: Mapping[str, Json] = data
        self.where = where

    def bad(self, key: str, why: str) -> ProtocolError:
        return ProtocolError(f"{self.where}.{key}: {why}")

    def has(self, key: str) -> bool:
        return self.d.get(key) is not None

    def raw(self, key: str) -> Json:
        return self.d.get(key)

    def obj(self, key: str) -> JsonObject:
        if key not in self.d or self.d[key] is None:
            raise self.bad(key, "missing")
        return JsonObject(self.d[key], f"{self.where}.{key}")

    def items(self, key: str, *, required: bool = True) -> list[Json]:
        v = self.d.get(key)
        if v is None:
            if required:
                raise self.bad(key, "missing")
            return []
        if not isinstance(v, list):
            raise self.bad(key, f"expected a list, got {type(v).__name__}")
        return v

    def req_str(self, key: str) -> str:
        v = self.d.get(key)
        if v is None:
            raise self.bad(key, "missing")
        if not isinstance(v, str):
            raise self.bad(key, f"expected a string, got {v!r}")
        return v

    def opt_str(self, key: str) -> str | None:
        v = self.d.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.bad(key, f"expected a string, got {v!r}")
        return v

    def req_int(self, key: str) -> int:
        v = self.d.get(key)
        if v is None:
            raise self.bad(key, "missing")
        return self._as_int(key, v)

    def opt_int(self, key: str) -> int | None:
        v = self.d.get(key)
        return None if v is None else self._as_int(key, v)

    def _as_int(self, key: str, v: Json) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.bad(key, f"expected an integer, got {v!r}")
        return v

    def opt_bool(self, key: str) -> bool | None:
        v = self.d.get(key)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise self.bad(key, f"expected a boolean, got {v!r}")
        return v

    def opt_float(self, key: str) -> float | None:
        v = self.d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise self.bad(key, f"expected a number, got {v!r}")
        try:
            out = float(v)
        except ValueError:
            raise self.bad(key, f"expected a number, got {v!r}") from None
        if not math.isfinite(out):
            raise self.bad(key, f"expected a finite number, got {v!r}")
        return out

    def opt_ts_ms(self, key: str) -> datetime | None:
        """A Unix time in milliseconds as an aware datetime (None when absent)."""
        v = self.opt_int(key)
        return None if v is None else timestamp_ms(v, f"{self.where}.{key}")

    def opt_ts_s(self, key: str) -> datetime | None:
        """A Unix time in seconds as an aware datetime (None when absent)."""
        v = self.opt_int(key)
        return None if v is None else timestamp_ms(v * 1000, f"{self.where}.{key}")

    def _fixed(self, key: str, parse: Any, what: str) -> int:
        v = self.d.get(key)
        if v is None:
            raise self.bad(key, "missing")
        if not isinstance(v, str):
            raise self.bad(key, f"expected a {what} string, got {v!r}")
        try:
            out: int = parse(v)
        except ValueError as exc:
            raise self.bad(key, str(exc)) from None
        return out

    def price(self, key: str, *, cents: str | None = None) -> int:
        """A FixedPointDollars price; ``cents`` names a legacy integer-cent fallback field."""
        if cents is not None and not self.has(key) and self.has(cents):
            return self.req_int(cents) * (PRICE_ONE // 100)
        return self._fixed(key, parse_price, "dollar")

    def opt_price(self, key: str) -> int | None:
        return self.price(key) if self.has(key) else None

    def count(self, key: str, *, legacy: str | None = None) -> int:
        """A FixedPointCount; ``legacy`` names a whole-contract fallback field."""
        if legacy is not None and not self.has(key) and self.has(legacy):
            v = self.d[legacy]
            if isinstance(v, str):
                return self._fixed(legacy, parse_count, "count")
            return contracts(self.req_int(legacy))
        return self._fixed(key, parse_count, "count")

    def opt_count(self, key: str) -> int | None:
        return self.count(key) if self.has(key) else None

    def money(self, key: str, default: int | None = None) -> int:
        if default is not None and not self.has(key):
            return default
        return self._fixed(key, parse_money, "dollar")

    def time(self, key: str) -> datetime | None:
        v = self.opt_str(key)
        if not v:
            return None
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            raise self.bad(key, f"not an RFC3339 time: {v!r}") from None
        return t if t.tzinfo is not None else t.replace(tzinfo=UTC)

    def enum_str(self, key: str, allowed: Iterable[str]) -> str:
        v = self.req_str(key)
        if v not in allowed:
            raise self.bad(key, f"unexpected value {v!r}")
        return v


def decode_json(body: str | bytes, where: str = "response") -> Json:
    """Parse a JSON document.

    Raises:
        ProtocolError: the body is not JSON.
    """
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"{where}: not valid JSON ({type(exc).__name__}: {exc})") from None


# Kalshi timestamps are Unix times; anything outside these years is not a real one.
_MIN_MS = 0
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def timestamp_ms(value: int, where: str) -> datetime:
    """Return the aware UTC datetime of a Unix time in milliseconds.

    Raises:
        ProtocolError: the value is out of the range a real timestamp can take.
    """
    if not _MIN_MS <= value <= _MAX_MS:
        raise ProtocolError(f"{where}: timestamp {value} out of range")
    return datetime.fromtimestamp(value / 1000, UTC)


def levels(items: list[Json], where: str) -> Levels:
    out: list[tuple[int, int]] = []
    for i, lvl in enumerate(items):
        if (
            not isinstance(lvl, list | tuple)
            or len(lvl) != 2
            or not all(isinstance(x, str) for x in lvl)
        ):
            raise ProtocolError(f"{where}[{i}]: expected [price_dollars, count_fp], got {lvl!r}")
        try:
            out.append((parse_price(lvl[0]), parse_count(lvl[1])))
        except ValueError as exc:
            raise ProtocolError(f"{where}[{i}]: {exc}") from None
    return tuple(out)


def cursor(o: JsonObject) -> str | None:
    c = o.opt_str("cursor")
    return c or None


def book_side(o: JsonObject) -> BookSide:
    """V2 ``book_side``; else ``outcome_side``; else the deprecated ``side``/``action`` pair."""
    bs = o.opt_str("book_side")
    if bs is not None:
        try:
            return BookSide(bs)
        except ValueError:
            raise o.bad("book_side", f"unexpected value {bs!r}") from None
    outcome = o.opt_str("outcome_side")
    if outcome is not None:
        if outcome not in ("yes", "no"):
            raise o.bad("outcome_side", f"unexpected value {outcome!r}")
        return BookSide.BID if outcome == "yes" else BookSide.ASK
    side = o.opt_str("side")
    if side is None:
        raise o.bad("book_side", "missing (and no outcome_side or side/action)")
    if side in ("bid", "ask"):
        return BookSide(side)
    if side not in ("yes", "no"):
        raise o.bad("side", f"unexpected value {side!r}")
    action = o.opt_str("action") or "buy"
    if action not in ("buy", "sell"):
        raise o.bad("action", f"unexpected value {action!r}")
    # buy YES and sell NO rest on the bid; buy NO and sell YES on the ask.
    return BookSide.BID if (side == "yes") == (action == "buy") else BookSide.ASK

