"""The engine state machine's messages: the events `tsad.core.engine_state.handle` takes
and the commands it returns to the runner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tsad.core.book import BookResynced, BookStale, BookUpdated
from tsad.core.market import Event as MarketEvent, Valuation
from tsad.core.model import ErrorHistory
from tsad.core.orders import BookSide, Position
from tsad.errors import ExchangeError


__all__ = [
    "Command",
    "Event",
    "EventChanged",
    "EventFetched",
    "FeedDown",
    "FeedUp",
    "FetchEvent",
    "FillApplied",
    "GroupResetDone",
    "GroupTriggered",
    "HaltChanged",
    "InputsInvalid",
    "InputsLoaded",
    "Log",
    "MarketsPulled",
    "PollStatus",
    "PredictionAged",
    "ResetGroup",
    "Resync",
    "ResyncFailed",
    "ResyncRead",
    "ResyncWanted",
    "Revalue",
    "StatusPolled",
    "Tick",
    "Unvalued",
    "ValuationFailed",
    "Valued",
    "WriteAcked",
    "WriteFailed",
]


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedUp:
    """The websocket (re)connected with every channel subscribed."""


@dataclass(frozen=True, slots=True)
class FeedDown:
    """The websocket dropped: every book is stale until its next snapshot."""

    reason: str


@dataclass(frozen=True, slots=True)
class GroupTriggered:
    """Our order group was triggered (``source``: the message, or the refused write)."""

    source: str


@dataclass(frozen=True, slots=True)
class GroupResetDone:
    """A `ResetGroup` finished (``error`` set when it failed)."""

    error: str | None = None


@dataclass(frozen=True, slots=True)
class HaltChanged:
    """The runner looked at the halt file: ``present`` (or unreadable: ``error``, halts)."""

    present: bool
    path: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InputsLoaded:
    """The forecaster's files were read and parsed."""

    predictions: Mapping[date, float]
    history: ErrorHistory
    actuals: Mapping[date, int]
    version: str


@dataclass(frozen=True, slots=True)
class InputsInvalid:
    """The forecaster's files could not be read or parsed (``reason``: why)."""

    reason: str


@dataclass(frozen=True, slots=True)
class PredictionAged:
    """The prediction file's age in seconds (None: missing); ``max_age_s`` 0 is no limit."""

    path: str
    age_s: float | None
    max_age_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StatusPolled:
    """A `PollStatus` finished: trading (exchange and trading both active) and exchange
    activity, None when the poll failed."""

    trading_active: bool | None
    exchange_active: bool | None = None


@dataclass(frozen=True, slots=True)
class WriteAcked:
    """A write on (``ticker``, ``side``) was accepted."""

    ticker: str
    side: BookSide


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFailed:
    """A write failed; the runner has journaled it and told the mirror already.

    ``at`` is the wall-clock time of the outcome (a refusal past the market's close_time
    is not a pause).
    """

    kind: str
    ticker: str
    side: BookSide
    order_id: str | None
    error: ExchangeError
    at: datetime


@dataclass(frozen=True, slots=True)
class MarketsPulled:
    """A decision pulled these markets on their own (stale, closed, unusable), with why."""

    pulled: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class EventFetched:
    """A `FetchEvent` finished: the next week's event, or None and why not."""

    event: MarketEvent | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer tick; ``at`` is the wall-clock time (None: no roll check)."""

    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Valued:
    """The runner valued the week's markets (`tsad.core.midweek`) with this prediction."""

    valuations: Mapping[str, Valuation]
    prediction: float


@dataclass(frozen=True, slots=True)
class ValuationFailed:
    """The markets could not be valued: ``kind`` is "prediction" (none for this week),
    "hook" (a hook raised) or "valuation" (the arithmetic failed); ``prediction`` is
    this week's when it was found."""

    kind: str
    reason: str
    prediction: float | None = None


@dataclass(frozen=True, slots=True)
class Unvalued:
    """Nothing to value yet (no event, or no error history loaded)."""


@dataclass(frozen=True, slots=True)
class ResyncWanted:
    """Something asks for a read back (a timer, a changed market, a write that settled,
    an unexpected error); ``refresh``: read the event's markets again too."""

    refresh: bool = False


@dataclass(frozen=True, slots=True)
class ResyncRead:
    """A `Resync` came back and the runner applied its orders and fills to the mirror and
    the journal; ``started_at`` is the mirror's mark when the read began, ``positions``
    the exchange's positions on this event's markets."""

    started_at: int
    positions: tuple[Position, ...] | None = None


@dataclass(frozen=True, slots=True)
class ResyncFailed:
    """A `Resync` failed (``error``: why); nothing it read is applied."""

    error: str


@dataclass(frozen=True, slots=True)
class FillApplied:
    """A websocket fill changed a position after the outstanding read began (that read's
    positions are older than it, so they are not taken)."""


Event = BookUpdated | BookResynced | BookStale | FeedUp | FeedDown | GroupTriggered \
    | GroupResetDone | HaltChanged | InputsLoaded | InputsInvalid | PredictionAged \
    | StatusPolled | WriteAcked | WriteFailed | EventFetched \
    | MarketsPulled | Tick | Valued | ValuationFailed | Unvalued | ResyncWanted \
    | ResyncRead | ResyncFailed | FillApplied


# --- commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resync:
    """Read our orders, positions and fills back over REST now (`ResyncRead` or
    `ResyncFailed` comes back); ``refresh``: read the event's markets again too. Inside
    `handle` a rule returns it to ask for a read; what `handle` returns is at most one,
    and only while none is outstanding."""

    refresh: bool = False


@dataclass(frozen=True, slots=True)
class PollStatus:
    """Read the exchange status (`StatusPolled` comes back)."""


@dataclass(frozen=True, slots=True)
class FetchEvent:
    """Read the event ``event_ticker`` (`EventFetched` comes back)."""

    event_ticker: str


@dataclass(frozen=True, slots=True)
class Revalue:
    """Value every market of the event again (its markets or the inputs changed)."""


@dataclass(frozen=True, slots=True)
class EventChanged:
    """We trade other markets now: tell the feed (``tickers``: the event's markets)."""

    tickers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResetGroup:
    """Reset our triggered order group (`GroupResetDone` comes back)."""


@dataclass(frozen=True, slots=True)
class Log:
    """Write one log line."""

    level: str
    event: str
    fields: dict[str, Any] = field(default_factory=dict)


Command = Resync | PollStatus | ResetGroup | FetchEvent | Revalue | EventChanged | Log
