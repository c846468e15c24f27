"""Exact money: Kalshi's fixed-point price, count and dollar strings as integers, and tick grids.

Units (never floats):

* a **price** is an int in units of $0.0001 (``"0.5600"`` is 5600; $1 is ``PRICE_ONE``);
* a **count** is an int in units of 0.01 contract (``"10.00"`` is 1000);
* a **money** amount (balances, costs, fees, PnL) is an int in units of $0.000001, which is
  exactly ``count × price``: ``notional(count, price)`` needs no conversion.

Rounding to a market's tick grid happens here and nowhere else: ``PriceGrid.floor`` for
bids (never pay more than intended), ``PriceGrid.ceil`` for asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final


__all__ = [
    "CENT_GRID",
    "COUNT_SCALE",
    "MONEY_SCALE",
    "PRICE_ONE",
    "PRICE_SCALE",
    "PriceGrid",
    "PriceRange",
    "contracts",
    "format_count",
    "format_money",
    "format_price",
    "notional",
    "parse_count",
    "parse_money",
    "parse_price",
]

PRICE_SCALE: Final = 10_000
PRICE_ONE: Final = PRICE_SCALE
COUNT_SCALE: Final = 100
MONEY_SCALE: Final = PRICE_SCALE * COUNT_SCALE

_DECIMAL = re.compile(r"^(-?)(\d+)(?:\.(\d*))?$")


def _parse_fixed(text: str, places: int, what: str) -> int:
    """Parse a decimal string into an integer of 10**-places units, refusing lost digits."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a decimal string, got {type(text).__name__} {text!r}")
    m = _DECIMAL.match(text.strip())
    if m is None:
        raise ValueError(f"{what} {text!r} is not a decimal number")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    extra = frac[places:]
    if extra.strip("0"):
        raise ValueError(f"{what} {text!r} has more than {places} decimals")
    frac = frac[:places].ljust(places, "0")
    value: int = int(whole) * 10**places + (int(frac) if frac else 0)
    return -value if sign else value


def _format_fixed(value: int, places: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def parse_price(text: str) -> int:
    """Parse a FixedPointDollars price (``"0.56"``, ``"0.5600"``) into $0.0001 units.

    Raises:
        ValueError: not a decimal, or more than 4 significant decimals.
    """
    return _parse_fixed(text, 4, "price")


def format_price(price: int) -> str:
    """Format $0.0001 units as Kalshi's 4-decimal string: 5600 → ``"0.5600"``."""
    return _format_fixed(price, 4)


def parse_count(text: str) -> int:
    """Parse a FixedPointCount (``"10"``, ``"10.00"``) into 0.01-contract units."""
    return _parse_fixed(text, 2, "count")


def format_count(count: int) -> str:
    """Format 0.01-contract units as Kalshi's 2-decimal string: 1000 → ``"10.00"``."""
    return _format_fixed(count, 2)


def parse_money(text: str) -> int:
    """Parse a dollar amount with up to 6 decimals into $0.000001 units."""
    return _parse_fixed(text, 6, "dollars")


def format_money(amount: int, places: int = 4) -> str:
    """Format $0.000001 units with ``places`` decimals (exact; refuses to drop digits).

    Raises:
        ValueError: the amount is not representable with ``places`` decimals.
    """
    step = 10 ** (6 - places)
    if amount % step:
        raise ValueError(f"{amount} micro-dollars do not fit {places} decimals")
    return _format_fixed(amount // step, places)


def contracts(n: int) -> int:
    """Return ``n`` whole contracts in count units."""
    return n * COUNT_SCALE


def notional(count: int, price: int) -> int:
    """Return the cost of ``count`` contracts at ``price``, in money units (exact)."""
    return count * price


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceRange:
    """One ``{start, end, step}`` entry of a market's ``price_ranges`` (all in price units)."""

    start: int
    end: int
    step: int


@dataclass(frozen=True, slots=True)
class PriceGrid:
    """The set of valid prices of a market, from its ``price_ranges``.

    Prices 0 and $1 themselves are never orderable (Kalshi accepts 1–99 cents on a cent grid).
    """

    ranges: tuple[PriceRange, ...]

    @classmethod
    def from_wire(cls, ranges: Iterable[Mapping[str, str]] | None) -> PriceGrid:
        """Build a grid from ``[{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]``.

        An empty or missing list means the classic cent grid.

        Raises:
            ValueError: a malformed entry.
        """
        out = []
        for r in ranges or ():
            pr = PriceRange(
                start=parse_price(r["start"]),
                end=parse_price(r["end"]),
                step=parse_price(r["step"]),
            )
            if pr.step <= 0 or pr.end < pr.start:
                raise ValueError(f"bad price range {dict(r)!r}")
            out.append(pr)
        if not out:
            return CENT_GRID
        return cls(tuple(sorted(out, key=lambda r: r.start)))

    def to_wire(self) -> list[dict[str, str]]:
        """Return the grid as Kalshi's ``price_ranges`` list."""
        return [
            {
                "start": format_price(r.start),
                "end": format_price(r.end),
                "step": format_price(r.step),
            }
            for r in self.ranges
        ]

    def contains(self, price: int) -> bool:
        """Tell whether ``price`` is an orderable price on this grid."""
        if price <= 0 or price >= PRICE_ONE:
            return False
        return any(
            r.start <= price <= r.end and (price - r.start) % r.step == 0 for r in self.ranges
        )

    def floor(self, value: int | Fraction) -> int | None:
        """Return the highest orderable price ≤ ``value`` (price units), or None if none.

        ``value`` may be a Fraction of price units, so ``true_value × margin`` is rounded
        exactly once, here.
        """
        best: int | None = None
        for r in self.ranges:
            lo, hi = max(r.start, 1), min(r.end, PRICE_ONE - 1)
            if value < lo or hi < lo:
                continue
            k = (min(Fraction(value), Fraction(hi)) - r.start) // r.step
            p = r.start + int(k) * r.step
            if p < lo:
                p += r.step
            if lo <= p <= hi and p <= value and (best is None or p > best):
                best = p
        return best

    def ceil(self, value: int | Fraction) -> int | None:
        """Return the lowest orderable price ≥ ``value`` (price units), or None if none."""
        best: int | None = None
        for r in self.ranges:
            lo, hi = max(r.start, 1), min(r.end, PRICE_ONE - 1)
            if value > hi or hi < lo:
                continue
            k = -((r.start - max(Fraction(value), Fraction(lo))) // r.step)
            p = r.start + int(k) * r.step
            if lo <= p <= hi and p >= value and (best is None or p < best):
                best = p
        return best

    def below(self, price: int) -> int | None:
        """Return the orderable price one tick below ``price``, or None."""
        return self.floor(price - 1)

    def above(self, price: int) -> int | None:
        """Return the orderable price one tick above ``price``, or None."""
        return self.ceil(price + 1)


CENT_GRID: Final = PriceGrid((PriceRange(start=0, end=PRICE_ONE, step=100),))
