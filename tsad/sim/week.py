"""The emulator's synthetic KXTSAW week: the event containing a given instant and its markets.

The week is Monday–Sunday in America/New_York; the event ticker is keyed on the Sunday
(``KXTSAW-26NOV29``); 23 markets ``A1.80`` … ``A2.90`` (step 0.05 M, ``strike_type``
``greater``), opening Monday 10:00 ET and closing Sunday 23:59 ET (tsa-markets.md §3).

Paper mode must always have something to trade, so the emulator keeps the current week's
markets ``active`` even when ``now`` is outside the real trading window (before Monday 10:00
ET); `open_time` and `close_time` still carry the real schedule.

Computed locally (not via the daemon's ticker module) so the emulator stays independent.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from tsad.core.market import Event, Market, StrikeType
from tsad.core.money import CENT_GRID, PRICE_ONE


__all__ = [
    "SERIES",
    "STRIKES",
    "SeedOrder",
    "build_event",
    "build_week",
    "event_ticker_for",
    "fair_values",
    "pick_fair_center",
    "rules_primary",
    "rules_secondary",
    "seed_book",
    "week_sunday",
]

SERIES = "KXTSAW"
ET = ZoneInfo("America/New_York")
STRIKES: tuple[int, ...] = tuple(1_800_000 + 50_000 * i for i in range(23))
SPREAD_SD = 60_000  # persons: how uncertain the synthetic market is about the weekly average
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def week_sunday(now: datetime) -> date:
    """Return the Sunday (ET) ending the Monday–Sunday week that contains ``now``.

    Raises:
        ValueError: ``now`` is naive.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    d = now.astimezone(ET).date()
    return d + timedelta(days=6 - d.weekday())


def event_ticker_for(sunday: date) -> str:
    """Return ``KXTSAW-YYMONDD`` for the week ending ``sunday``."""
    return f"{SERIES}-{sunday:%y}{_MONTHS[sunday.month - 1]}{sunday:%d}"


def _strike_label(strike: int) -> str:
    return f"{strike / 1_000_000:.2f}"


def _millions(strike: int) -> str:
    text = f"{strike / 1_000_000:.2f}".rstrip("0").rstrip(".")
    return text


def rules_primary(strike: int, sunday: date) -> str:
    """Return the market's ``rules_primary`` text (tsa-markets.md §3.2)."""
    return (
        f"If weekly average TSA airport screenings are above {_millions(strike)} million for "
        f"the week ending {sunday:%B %d, %Y}, according to the TSA, then the market resolves "
        "to Yes."
    )


def rules_secondary(sunday: date) -> str:
    """Return the market's ``rules_secondary`` text (tsa-markets.md §3.2)."""
    d = f"{sunday:%B %d, %Y}"
    return (
        f"The Contract will expire at the sooner of the first 9:00 AM following the release "
        f"of the data for {d}, or one week after {d}. The Last Trading Date and Time will "
        f"always be 11:59 PM on {d}."
    )


def build_event(now: datetime) -> Event:
    """Return the synthetic event (with its 23 markets) for the week containing ``now``."""
    sunday = week_sunday(now)
    monday = sunday - timedelta(days=6)
    ticker = event_ticker_for(sunday)
    open_time = datetime.combine(monday, time(10, 0), ET).astimezone(UTC)
    close_time = datetime.combine(sunday, time(23, 59), ET).astimezone(UTC)
    markets = tuple(
        Market(
            ticker=f"{ticker}-A{_strike_label(k)}",
            event_ticker=ticker,
            strike_type=StrikeType.GREATER,
            floor_strike=float(k),
            grid=CENT_GRID,
            status="active",
            open_time=open_time,
            close_time=close_time,
            exchange_index=0,
            title=f"Will more than {k} people be **screened by the TSA** on average this week?",
        )
        for k in STRIKES
    )
    return Event(
        event_ticker=ticker,
        series_ticker=SERIES,
        title=f"TSA check-ins this week ({monday:%b %d} - {sunday:%b %d})",
        markets=markets,
    )


def build_week(sunday: date) -> Event:
    """Return the synthetic event of the week ending ``sunday`` (a Sunday).

    Raises:
        ValueError: ``sunday`` is not a Sunday.
    """
    if sunday.weekday() != 6:
        raise ValueError(f"{sunday.isoformat()} is a {sunday:%A}, not a Sunday")
    return build_event(datetime.combine(sunday, time(12, 0), ET))


def pick_fair_center(seed: int) -> float:
    """Return a plausible weekly average (persons) chosen deterministically from ``seed``."""
    rng = random.Random(f"fair-center-{seed}")
    return float(round(rng.uniform(2_150_000, 2_650_000)))


def fair_values(center: float, strikes: tuple[int, ...] = STRIKES) -> dict[int, Fraction]:
    """Return P(weekly average > strike) under a normal with mean ``center``, per strike."""
    out = {}
    for k in strikes:
        z = (k - center) / SPREAD_SD
        p = 0.5 * math.erfc(z / math.sqrt(2))
        out[k] = Fraction(round(p * PRICE_ONE), PRICE_ONE)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedOrder:
    """One outside resting order of the initial book (YES price, count units)."""

    is_bid: bool
    price: int
    count: int


def seed_book(fair: Fraction, rng: random.Random) -> list[SeedOrder]:
    """Return outside bids and asks a few cents around ``fair`` on the cent grid."""
    cents = min(max(round(fair * 100), 1), 99)
    out: list[SeedOrder] = []
    for i in range(1, 4):
        bid, ask = cents - i, cents + i
        if bid >= 1:
            out.append(SeedOrder(is_bid=True, price=bid * 100, count=rng.randint(5, 200) * 100))
        if ask <= 99:
            out.append(SeedOrder(is_bid=False, price=ask * 100, count=rng.randint(5, 200) * 100))
    return out
