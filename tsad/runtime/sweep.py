"""The cancel-all sweep: cancel every resting order of ours in a series and confirm by reading back.

Used by every path that must leave nothing of ours on the exchange: a stop, a fatal error,
`tsad cancel-all`, and the weekly roll. It works across every open event of the series (not
only the one being traded), batches its cancels, verifies with a fresh REST read, and stops
trying at a deadline so a stop never outlasts systemd's ``TimeoutStopSec``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from tsad.core.exchange import Exchange
from tsad.core.orders import Order
from tsad.core.reconcile import is_ours
from tsad.errors import ExchangeError, NotFound


__all__ = ["SweepResult", "cancel_ours", "ours_in_series"]

log = structlog.get_logger("tsad.runtime.sweep")

# Kalshi's batch cancel takes at most 20 orders per request.
_BATCH = 20


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What a sweep achieved: ``confirmed`` only when a read after the cancels shows none left."""

    confirmed: bool
    cancelled: int
    remaining: int
    error: str | None = None


def ours_in_series(orders: list[Order], *, prefix: str, series: str | None) -> list[Order]:
    """Return the orders that are ours (by client_order_id prefix) in ``series`` (any event)."""
    head = f"{series}-" if series else ""
    return [o for o in orders if is_ours(o.client_order_id, prefix) and o.ticker.startswith(head)]


async def cancel_ours(
    exchange: Exchange,
    *,
    prefix: str,
    series: str | None,
    deadline_s: float = 20.0,
    everything: bool = False,
) -> SweepResult:
    """Cancel our resting orders on every open event of ``series``, then confirm by reading back.

    Args:
        exchange: the exchange to sweep.
        prefix: our client_order_id prefix.
        series: the series whose events are swept (None: every series).
        deadline_s: give up (unconfirmed) after this many seconds.
        everything: cancel every resting order of the account, not only ours.

    Returns:
        The outcome; ``confirmed`` is False when the exchange could not be read or still
        shows orders of ours after the last attempt.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    cancelled = 0
    remaining = -1
    error: str | None = None
    delay = 0.2
    while True:
        try:
            resting = await asyncio.wait_for(
                exchange.list_orders(status="resting"), max(0.1, end - loop.time()))
            mine = resting if everything else ours_in_series(resting, prefix=prefix,
                                                            series=series)
            remaining = len(mine)
            if not mine:
                return SweepResult(True, cancelled, 0)
            ids = [o.order_id for o in mine]
            for i in range(0, len(ids), _BATCH):
                results = await asyncio.wait_for(
                    exchange.batch_cancel(ids[i:i + _BATCH]), max(0.1, end - loop.time()))
                cancelled += sum(1 for r in results
                                 if not isinstance(r, ExchangeError) or isinstance(r, NotFound))
        except (ExchangeError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("sweep.attempt_failed", error=error, remaining=remaining)
        if loop.time() + delay >= end:
            return SweepResult(False, cancelled, remaining, error)
        await asyncio.sleep(delay)
        delay = min(2.0, delay * 2)
