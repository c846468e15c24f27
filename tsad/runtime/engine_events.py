"""The engine's queue events (what the shell and the engine's own tasks post) and its records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tsad.core.exchange import MarketSettlement
from tsad.core.fees import FeeSchedule
from tsad.core.market import Event
from tsad.core.orders import BookSide, Fill, Order, Position, WriteAck
from tsad.errors import ExchangeError


__all__ = [
    "EngineStats",
    "GroupReset",
    "Intent",
    "OrderGroupControl",
    "ReloadRequested",
    "ResyncDone",
    "RolledOver",
    "StatusChecked",
    "StopRequested",
    "Tick",
    "WriteDone",
]


# --- events the shell puts on the queue ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer tick: check staleness, halt file, weekly roll."""


@dataclass(frozen=True, slots=True)
class ReloadRequested:
    """SIGHUP: validate the config file again and swap it in if valid."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """SIGTERM/SIGINT or ``--duration`` elapsed."""

    reason: str


@dataclass(frozen=True, slots=True)
class WriteDone:
    """A write request finished (``error`` set when it failed)."""

    intent: Intent
    ack: WriteAck | None
    error: ExchangeError | None
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ResyncDone:
    """A REST resync finished: our resting orders and positions as the exchange sees them."""

    started_at: int
    orders: tuple[Order, ...] | None
    positions: tuple[Position, ...] | None
    error: Exception | None = None
    fills: tuple[Fill, ...] = ()
    event: Event | None = None
    settlements: tuple[MarketSettlement, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusChecked:
    """An exchange status poll finished (None: the poll failed)."""

    trading_active: bool | None
    error: Exception | None = None
    exchange_active: bool | None = None


@dataclass(frozen=True, slots=True)
class RolledOver:
    """The next week's event was fetched after the current one closed."""

    event: Event | None
    error: Exception | None = None
    fees: FeeSchedule | None = None  # the series' fees, read again at each roll


@dataclass(frozen=True, slots=True)
class GroupReset:
    """A reset of our triggered order group finished (``error`` set when it failed)."""

    error: Exception | None = None


@runtime_checkable
class OrderGroupControl(Protocol):
    """What the engine needs of the client's order group (kalshi-api.md §3.11)."""

    order_group_id: str | None

    async def reset_order_group(self, order_group_id: str | None = None) -> None:
        """Clear our triggered group so its creates are accepted again."""


# --- engine state ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    """One write we decided to make (journaled before it is sent)."""

    intent_id: int
    kind: str  # create | amend | decrease | cancel
    ticker: str
    side: BookSide
    client_order_id: str | None = None
    order_id: str | None = None
    price: int | None = None
    count: int | None = None
    filled: int = 0


@dataclass(slots=True)
class EngineStats:
    """Counters for the cycle summary line and the final summary at shutdown."""

    cycles: int = 0
    writes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    events: int = 0
    last_progress: float = 0.0
