"""The one exception tree of tsad, and the retry classifier that goes with it.

::

    TsadError
     ├─ ConfigError              bad config.toml (exit 78 at startup; old config kept on reload)
     ├─ InputError               a forecaster file is missing or malformed (names file and row)
     ├─ HookError                a mid-week hook failed; quotes are pulled, the daemon lives
     ├─ ExchangeError
     │   ├─ TransportError       network / timeout / closed socket: retryable
     │   │   └─ AmbiguousOutcome a write whose outcome is unknown (resolve by reading back)
     │   ├─ RateLimited          429: retry after a delay
     │   ├─ ServerError          5xx: retryable for reads and for idempotent writes
     │   ├─ AuthError            401/403: fatal
     │   ├─ NotFound             404 (an order already gone, an unknown market)
     │   ├─ Conflict             409 (duplicate client_order_id: already placed)
     │   ├─ OrderRejected        business rejection (post-only cross, market closed, balance…)
     │   └─ ProtocolError        unexpected payload, schema, or sequence gap
     ├─ RiskViolation            a pre-trade control refused an action
     ├─ InvariantError           our own state disagrees with itself: the market is resynced,
     │                           the daemon lives
     └─ FatalError               the daemon cannot go on (journal unwritable…): cancel all of
                                 ours, exit non-zero
"""

from __future__ import annotations


__all__ = [
    "AmbiguousOutcome",
    "AuthError",
    "ConfigError",
    "Conflict",
    "ExchangeError",
    "FatalError",
    "HookError",
    "InputError",
    "InvariantError",
    "NotFound",
    "OrderRejected",
    "ProtocolError",
    "RateLimited",
    "RiskViolation",
    "ServerError",
    "TransportError",
    "TsadError",
    "is_retryable",
]


class TsadError(Exception):
    """Base of every error tsad raises on purpose."""


class ConfigError(TsadError):
    """The configuration file is invalid; the message names the key (and line)."""


class InputError(TsadError):
    """A forecaster input file is missing or malformed; the message names file and row."""


class HookError(TsadError):
    """A mid-week hook raised or returned something unusable."""


class ExchangeError(TsadError):
    """Anything that went wrong talking to the exchange.

    Attributes:
        status: the HTTP status, when there was one.
        code: the exchange's error code string, when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TransportError(ExchangeError):
    """The network failed: connection refused or reset, timeout, closed socket."""


class AmbiguousOutcome(TransportError):
    """A write was sent but its outcome is unknown; read our orders back to resolve it."""


class RateLimited(ExchangeError):
    """The exchange answered 429."""


class ServerError(ExchangeError):
    """The exchange answered 5xx."""


class AuthError(ExchangeError):
    """The exchange refused our credentials (401/403): a signature, key or clock problem."""


class NotFound(ExchangeError):
    """404: the order or market does not exist (an order already filled or cancelled)."""


class Conflict(ExchangeError):
    """409: a client_order_id that was already used, so the order was already placed."""


class OrderRejected(ExchangeError):
    """The exchange refused an order for a business reason (post-only cross, closed…)."""


class ProtocolError(ExchangeError):
    """The exchange sent something we cannot parse, or a websocket sequence gap."""


class RiskViolation(TsadError):
    """A pre-trade control refused an action."""


class InvariantError(TsadError):
    """One of our own invariants broke: the engine resyncs the market instead of crashing."""


class FatalError(TsadError):
    """The daemon cannot continue: it cancels every order of ours and exits non-zero."""


def is_retryable(exc: BaseException) -> bool:
    """Tell whether repeating the same request may succeed.

    Args:
        exc: the exception raised by a request.

    Returns:
        True for transport failures, 429 and 5xx; False for everything else.
    """
    return isinstance(exc, TransportError | RateLimited | ServerError)
