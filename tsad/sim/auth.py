"""The emulator's gate: registered API keys, request signatures and per-user rate-limit buckets.

Every registered key is a user (kalshi-api.md §2). A request is signed over
``timestamp + METHOD + path`` (RSA-PSS), with a timestamp within 30 s of the server clock.
Rate limits are token buckets per user and kind (read, write), refilled continuously (§4.1).
"""

from __future__ import annotations

import uuid
from typing import Final

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.clock import SystemClock
from tsad.kalshi.signing import verify_signature
from tsad.sim.api import ApiError


__all__ = ["MAX_SKEW_MS", "TIERS", "Bucket", "Gate"]

MAX_SKEW_MS: Final = 30_000
# tier → (read rate, write rate, read capacity seconds, write capacity seconds), §4.1
TIERS: Final[dict[str, tuple[int, int, int, int]]] = {
    "basic": (200, 100, 2, 1),
    "advanced": (300, 300, 2, 2),
    "expert": (600, 600, 1, 2),
    "premier": (1000, 1000, 1, 2),
    "paragon": (2000, 2000, 1, 2),
    "prime": (4000, 4000, 1, 2),
    "prestige": (10000, 8000, 1, 2),
}


class Bucket:
    """A token bucket refilled continuously."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        """Create a full bucket."""
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = now

    def take(self, cost: float, now: float) -> bool:
        """Take ``cost`` tokens if there are that many; tell whether it did."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if cost > self.tokens:
            return False
        self.tokens -= cost
        return True


def _unauthorized(details: str = "") -> ApiError:
    return ApiError(401, "authentication_error", "authentication_error", details or
                    "rpc error: code = Unauthenticated desc = INCORRECT_API_KEY_SIGNATURE")


class Gate:
    """Registered keys (users), signature checks and rate-limit buckets."""

    def __init__(self, clock: SystemClock, tier: str) -> None:
        """Create a gate with no keys.

        Raises:
            ValueError: an unknown tier.
        """
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; expected one of {sorted(TIERS)}")
        self._clock = clock
        self.tier = tier
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self.user_ids: dict[str, str] = {}
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def register(self, key_id: str, public_key_pem: bytes) -> str:
        """Register a key; return its user id (stable for a key id within this gate).

        Raises:
            ValueError: not a PEM RSA public key.
        """
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("only RSA public keys are supported")
        self._keys[key_id] = key
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-user:{len(self.user_ids)}"))
        return self.user_ids.setdefault(key_id, user_id)

    def authenticate(self, request: web.Request, path: str) -> str | None:
        """Return the user of a validly signed request, None if it is unsigned.

        Raises:
            ApiError: 401, a bad, stale or unknown signature.
        """
        key_id = request.headers.get("KALSHI-ACCESS-KEY")
        ts = request.headers.get("KALSHI-ACCESS-TIMESTAMP")
        sig = request.headers.get("KALSHI-ACCESS-SIGNATURE")
        if not key_id and not ts and not sig:
            return None
        if not key_id or not ts or not sig or key_id not in self._keys:
            raise _unauthorized()
        try:
            ts_val = int(ts)
        except ValueError:
            raise _unauthorized() from None
        if abs(ts_val - self._clock.time_ms()) > MAX_SKEW_MS:
            raise _unauthorized()
        if not verify_signature(self._keys[key_id], ts + request.method.upper() + path, sig):
            raise _unauthorized()
        return key_id

    def bucket(self, user: str, kind: str) -> Bucket:
        """Return the ``read`` or ``write`` bucket of a user."""
        b = self._buckets.get((user, kind))
        if b is None:
            read, write, rcap, wcap = TIERS[self.tier]
            rate, cap = (read, read * rcap) if kind == "read" else (write, write * wcap)
            b = self._buckets[(user, kind)] = Bucket(rate, cap, self._clock.monotonic())
        return b

    def charge(self, user: str, kind: str, cost: float) -> None:
        """Take ``cost`` tokens from a user's bucket.

        Raises:
            ApiError: 429, not enough tokens.
        """
        if not self.bucket(user, kind).take(cost, self._clock.monotonic()):
            raise ApiError(429, "", "")
