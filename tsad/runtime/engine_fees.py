"""The fee schedule quotes are priced with: the series' fees or the event's own override."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from tsad.core.fees import FeeSchedule, with_override
from tsad.core.market import Event
from tsad.kalshi.wire import EventFeeUpdate


if TYPE_CHECKING:
    from tsad.runtime.engine import Engine


__all__ = ["on_event_fee", "take_event", "take_series"]

log = structlog.get_logger("tsad.runtime.engine")


def _apply(eng: Engine) -> None:
    """Set ``eng.fees`` from the series' schedule and the event's override, if any."""
    fee_type, multiplier = eng.fee_override
    if fee_type is None:
        eng.fees = eng.series_fees
        return
    try:
        eng.fees = with_override(eng.series_fees or FeeSchedule(), fee_type, multiplier)
    except ValueError as exc:  # an override we cannot read: keep the series' fees, say so
        log.warning("fees.override_unread", fee_type=fee_type, multiplier=multiplier,
                    error=str(exc))
        eng.fees = eng.series_fees


def take_series(eng: Engine, fees: FeeSchedule | None) -> None:
    """The series' schedule was read (None: it could not be; keep what we have)."""
    if fees is not None:
        eng.series_fees = fees
        _apply(eng)


def take_event(eng: Engine, event: Event) -> None:
    """The event was read (startup or roll): its override, if any, applies from now."""
    eng.fee_override = (event.fee_type_override, event.fee_multiplier_override)
    _apply(eng)


def on_event_fee(eng: Engine, ev: EventFeeUpdate) -> None:
    """``event_fee_update``: our event's override was set or cleared; re-price with it.

    Another event's update is left for its own read (the roll reads the override anew).
    """
    if eng.event is None or ev.event_ticker != eng.event.event_ticker:
        return
    eng.fee_override = (ev.fee_type, ev.fee_multiplier)
    _apply(eng)
    fees = eng.fees
    log.info("fees.updated", event_ticker=ev.event_ticker, override=ev.fee_type is not None,
             fee_type=None if fees is None else fees.fee_type.value,
             multiplier=None if fees is None else str(fees.multiplier))
    eng.state.dirty = True
