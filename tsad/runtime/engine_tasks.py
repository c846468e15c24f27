"""The engine's spawned I/O tasks: each awaits the exchange and returns its outcome as the
queue event the runner posts back, for ANY exception (rule 2 of `tsad.runtime.engine`)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import structlog

from tsad.core.clock import Clock
from tsad.core.exchange import Exchange
from tsad.core.fees import FeeSchedule
from tsad.core.orders import WriteAck
from tsad.errors import AmbiguousOutcome, ExchangeError
from tsad.runtime.engine_events import (
    GroupReset,
    Intent,
    OrderGroupControl,
    ResyncDone,
    RolledOver,
    StatusChecked,
    WriteDone,
)


__all__ = ["fee_schedule", "fetch_event", "poll_status", "read_back", "reset_group", "write"]

log = structlog.get_logger("tsad.runtime.engine")


async def write(clock: Clock, it: Intent, call: Coroutine[Any, Any, WriteAck]) -> WriteDone:
    """Send one write; an unexpected failure is an unknown outcome (read it back)."""
    t0 = clock.monotonic()
    try:
        ack = await call
        err: ExchangeError | None = None
    except ExchangeError as exc:
        ack, err = None, exc
    except Exception as exc:  # any failure: the outcome is unknown, read it back
        ack = None
        err = AmbiguousOutcome(f"{type(exc).__name__}: {exc}")
    return WriteDone(it, ack, err, (clock.monotonic() - t0) * 1000)


async def read_back(exchange: Exchange, *, started: int, event_ticker: str, since: int,
                    refresh: bool) -> ResyncDone:
    """Read our resting orders on every open event of the series (last week's are ours to
    manage too), this event's positions, fills since ``since``, settlements, and the event
    itself when ``refresh``."""
    try:
        orders = await exchange.list_orders(status="resting")
        positions = await exchange.list_positions(event_ticker=event_ticker)
        fills = await exchange.list_fills(min_ts=since)
        event = await exchange.get_event(event_ticker) if refresh else None
        settled = await exchange.list_settlements()
        return ResyncDone(started, tuple(orders), tuple(positions), fills=tuple(fills),
                          event=event, settlements=tuple(settled))
    except Exception as exc:  # any failure is reported, so the pending flag clears
        return ResyncDone(started, None, None, exc)


async def poll_status(exchange: Exchange) -> StatusChecked:
    """Read the exchange status (trading counts as active only while the exchange is)."""
    try:
        st = await exchange.get_exchange_status()
        return StatusChecked(st.exchange_active and st.trading_active,
                             exchange_active=st.exchange_active)
    except Exception as exc:  # any failure is reported, so the pending flag clears
        return StatusChecked(None, exc)


async def fetch_event(exchange: Exchange, event_ticker: str, series: str) -> RolledOver:
    """Read the next week's event, and the series' fees again (they change between weeks)."""
    try:
        event = await exchange.get_event(event_ticker)
    except Exception as exc:  # any failure is reported, so the pending flag clears
        return RolledOver(None, exc)
    return RolledOver(event, fees=await fee_schedule(exchange, series))


async def fee_schedule(exchange: Exchange, series: str) -> FeeSchedule | None:
    """Read the series' fee schedule; None (keep what we have) when it cannot be read."""
    try:
        return await exchange.get_fee_schedule(series)
    except Exception as exc:  # fees only tune the edge policy: never fatal
        log.warning("fees.unread", series=series, error=f"{type(exc).__name__}: {exc}")
        return None


async def reset_group(group: OrderGroupControl | None) -> GroupReset:
    """Reset our triggered order group."""
    try:
        if group is not None:
            await group.reset_order_group()
        return GroupReset()
    except Exception as exc:  # any failure is reported, so the pending flag clears
        return GroupReset(exc)
