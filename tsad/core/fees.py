"""Kalshi's trading fees, exactly: the series fee schedule, per-fill trade fees and rounding.

The fee model (Kalshi fee schedule; a series' ``fee_type`` and ``fee_multiplier`` select it):

* ``quadratic``: takers pay ``0.07 × m × C × P × (1 − P)``; makers pay nothing;
* ``quadratic_with_maker_fees`` (and ``quadratic_with_combo_maker_fees``): takers as above,
  makers pay ``0.0175 × m × C × P × (1 − P)``;
* ``flat``: ``m × C`` dollars per contract, taker and maker alike (the flat schedule's exact
  terms are not in the vendored API notes: treat the figure as an estimate);

where ``C`` is the number of contracts, ``P`` the trade's YES price in dollars (``P(1 − P)`` is
symmetric, so the NO price gives the same fee) and ``m`` the series' ``fee_multiplier``.

Rounding (Kalshi's "Fee Rounding" page), per fill of one order:

1. the trade fee is rounded **up** to $0.0001;
2. ``balance_change = revenue − trade_fee`` (revenue is signed, negative for a buyer);
3. the balance moves by ``floor(balance_change)`` to the member's precision ($0.01 for
   non-direct members, the usual case; $0.0001 for direct members), and the difference is
   the **rounding fee**;
4. the order's **accumulator** adds each rounding fee; whenever it reaches $0.01 a whole
   cent is rebated and the accumulator drops by $0.01, so many small fills cost what one
   equivalent fill would.

``net fee = trade fee + rounding fee − rebate``. The fill on which a rebate lands can show a
negative net fee; an order's fees so far never are (they exceed its trade fees by exactly the
accumulator, which stays below a cent). Amounts are integers of
$0.000001 (`tsad.core.money`'s money units). Where the exchange reports a fill's fee
(``fee_cost``) that figure wins; this module is for estimates, paper fills and backtests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Final

from tsad.core.money import COUNT_SCALE, MONEY_SCALE, PRICE_ONE


__all__ = [
    "CENT",
    "CENTICENT",
    "MAKER_RATE",
    "TAKER_RATE",
    "FeeAccumulator",
    "FeeSchedule",
    "FeeType",
    "FillFee",
    "fee_schedule",
    "with_override",
]

TAKER_RATE: Final = Fraction(7, 100)
"""The quadratic taker coefficient: 0.07."""
MAKER_RATE: Final = Fraction(175, 10_000)
"""The quadratic maker coefficient where the series charges makers: 0.0175."""
CENTICENT: Final = MONEY_SCALE // 10_000
"""$0.0001 in money units: trade fees are rounded up to it."""
CENT: Final = MONEY_SCALE // 100
"""$0.01 in money units: a non-direct member's balance precision."""


class FeeType(StrEnum):
    """A series' ``fee_type``."""

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"


def _ceil_div(a: int | Fraction, b: int) -> int:
    """Return ``ceil(a / b)`` for a non-negative ``a``, exactly."""
    return -((-a) // b) if isinstance(a, int) else int(-((-a) // b))


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeSchedule:
    """One series' fees: its ``fee_type`` and ``fee_multiplier`` (exact).

    The default is KXTSAW's believed schedule: ``quadratic`` with multiplier 1 (takers pay
    0.07·C·P·(1−P), makers nothing). Read the real one from ``GET /series/{ticker}``.
    """

    fee_type: FeeType = FeeType.QUADRATIC
    multiplier: Fraction = Fraction(1)

    @property
    def charges_makers(self) -> bool:
        """Tell whether resting (maker) fills pay a fee under this schedule."""
        return self.fee_type is not FeeType.QUADRATIC and self.multiplier > 0

    def rate(self, *, is_taker: bool) -> Fraction:
        """Return the quadratic coefficient for a taker or maker fill (0 if none is charged)."""
        if self.fee_type is FeeType.FLAT:
            return Fraction(0)
        if is_taker:
            return TAKER_RATE * self.multiplier
        return MAKER_RATE * self.multiplier if self.charges_makers else Fraction(0)

    def raw_fee(self, count: int, price: int, *, is_taker: bool) -> Fraction:
        """Return the unrounded fee of a fill in money units (an exact fraction).

        Args:
            count: contracts, in 0.01-contract units.
            price: the YES trade price in $0.0001 units.
            is_taker: whether the fill took liquidity.
        """
        if count < 0 or not 0 <= price <= PRICE_ONE:
            raise ValueError(f"fee of count {count} at price {price}: out of range")
        if self.fee_type is FeeType.FLAT:
            # m dollars per contract: count/100 contracts × m × MONEY_SCALE.
            return self.multiplier * count * MONEY_SCALE / COUNT_SCALE
        # rate × (count/100) × (price/1e4) × ((1e4 − price)/1e4) dollars × 1e6 money/dollar
        return self.rate(is_taker=is_taker) * count * price * (PRICE_ONE - price) / PRICE_ONE

    def trade_fee(self, count: int, price: int, *, is_taker: bool) -> int:
        """Return a fill's trade fee in money units, rounded **up** to $0.0001."""
        return _ceil_div(self.raw_fee(count, price, is_taker=is_taker), CENTICENT) * CENTICENT

    def fee_per_contract(self, price: int, *, is_taker: bool) -> Fraction:
        """Return the unrounded fee of one contract at ``price``, as a fraction of $1.

        This is what quoting compares an edge against (``true value − price − fee``).
        """
        return self.raw_fee(COUNT_SCALE, price, is_taker=is_taker) / MONEY_SCALE


def fee_schedule(fee_type: str | None, multiplier: float | str | Fraction | None) -> FeeSchedule:
    """Build a schedule from a series' wire fields (``fee_type``, ``fee_multiplier``).

    An absent type means ``quadratic``; an absent multiplier means 1. The float multiplier is
    read through its shortest decimal form (``0.5`` is exactly 1/2).

    Raises:
        ValueError: an unknown fee type or a negative multiplier.
    """
    kind = FeeType(fee_type) if fee_type else FeeType.QUADRATIC
    if multiplier is None:
        m = Fraction(1)
    elif isinstance(multiplier, Fraction):
        m = multiplier
    else:
        m = Fraction(str(multiplier))
    if m < 0:
        raise ValueError(f"fee_multiplier {multiplier!r} is negative")
    return FeeSchedule(fee_type=kind, multiplier=m)


def with_override(
    series: FeeSchedule, fee_type: str | None, multiplier: float | str | Fraction | None
) -> FeeSchedule:
    """Return the schedule an event's markets pay: its override when one is set, else the
    series' (Kalshi: the event-level override "takes precedence over the series-level fee";
    a cleared override sends both fields null).

    Raises:
        ValueError: an unknown override type or a negative multiplier.
    """
    if fee_type is None:
        return series
    return fee_schedule(fee_type, multiplier)


@dataclass(frozen=True, slots=True, kw_only=True)
class FillFee:
    """The fee components of one fill, in money units.

    ``balance_change`` is what the account's cash moves by (revenue minus the net fee).
    """

    trade_fee: int
    rounding_fee: int
    rebate: int
    balance_change: int

    @property
    def net(self) -> int:
        """Trade fee + rounding fee − rebate: what the fill cost in fees."""
        return self.trade_fee + self.rounding_fee - self.rebate


@dataclass(slots=True)
class FeeAccumulator:
    """One order's rounding accumulator (Kalshi keeps one per order, taker and maker fills).

    Args:
        precision: the balance precision in money units (`CENT`, or `CENTICENT` for a
            direct member).
    """

    precision: int = CENT
    accumulated: int = field(default=0)

    def fill(self, revenue: int, trade_fee: int) -> FillFee:
        """Apply one fill of the order.

        Args:
            revenue: the fill's signed cash before fees (negative for the buyer:
                ``−count × leg price``), in money units.
            trade_fee: the trade fee already rounded up to $0.0001.

        Returns:
            The fill's fee components and balance change.
        """
        change = revenue - trade_fee
        floored = (change // self.precision) * self.precision
        rounding = change - floored
        self.accumulated += rounding
        rebate = 0
        while self.accumulated >= CENT:
            self.accumulated -= CENT
            rebate += CENT
        return FillFee(trade_fee=trade_fee, rounding_fee=rounding, rebate=rebate,
                       balance_change=floored + rebate)
