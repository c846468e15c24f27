"""The week's contracts as tsad sees them: markets, their event, and what each is worth."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from tsad.core.money import CENT_GRID, PriceGrid


__all__ = ["Event", "Market", "Outcome", "StrikeType", "Valuation"]


class StrikeType(StrEnum):
    """How a market's strikes decide YES (Kalshi's ``strike_type``)."""

    GREATER = "greater"
    GREATER_OR_EQUAL = "greater_or_equal"
    LESS = "less"
    LESS_OR_EQUAL = "less_or_equal"
    BETWEEN = "between"


class Outcome(StrEnum):
    """The contract leg we want to own: YES or NO."""

    YES = "yes"
    NO = "no"


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """One binary market of the week (only the fields tsad uses).

    ``floor_strike`` / ``cap_strike`` are in the underlying's units (persons for KXTSAW).
    ``status`` is Kalshi's market status string (``active``, ``closed``, ``finalized`` …).
    """

    ticker: str
    event_ticker: str
    strike_type: StrikeType
    floor_strike: float | None = None
    cap_strike: float | None = None
    grid: PriceGrid = CENT_GRID
    status: str = "active"
    open_time: datetime | None = None
    close_time: datetime | None = None
    exchange_index: int = 0
    title: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One weekly event and its markets, sorted by strike.

    ``fee_type_override``/``fee_multiplier_override``: the event's own fee schedule, which
    takes precedence over the series' while its type is set (`fees.with_override`).
    """

    event_ticker: str
    series_ticker: str
    title: str = ""
    markets: tuple[Market, ...] = field(default_factory=tuple)
    fee_type_override: str | None = None
    fee_multiplier_override: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Valuation:
    """What one market is worth to us.

    ``outcome`` is the leg we would buy (None when there is nothing to quote, with the
    ``reason``); ``true_value`` is the exact probability of that leg paying out.
    """

    ticker: str
    outcome: Outcome | None
    true_value: Fraction | None
    reason: str | None = None
