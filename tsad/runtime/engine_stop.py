"""The engine's stop sequence: wait for writes in flight, sweep the series' resting orders
of ours, cancel any create that lands after, and set ``stop_confirmed`` (rule 8 of the
runner, `tsad.runtime.engine`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog

from tsad.errors import NotFound
from tsad.runtime import sweep
from tsad.runtime.engine_events import StopRequested, Tick, WriteDone
from tsad.runtime.engine_writes import WRITE_KINDS


if TYPE_CHECKING:
    from tsad.runtime.engine import Engine


__all__ = ["finish_if_done", "on_stop"]

log = structlog.get_logger("tsad.runtime.engine")

# The stop's cancel-all sweep gives up (unconfirmed) after this many seconds.
STOP_SWEEP_SECONDS = 20.0

# How long the stop lets writes already sent land before it sweeps.
_WRITES_WAIT_SECONDS = 10.0

# The engine's own reads, cancelled once the sweep is done (writes are waited for).
_READ_TASKS = frozenset({"resync", "status", "roll", "group_reset"})


def on_stop(eng: Engine, ev: StopRequested) -> None:
    """Begin the stop (once): pull every quote and, with ``risk.cancel_on_exit``, sweep."""
    if eng.stopping:
        return
    log.info("engine.stopping", reason=ev.reason)
    eng.state.stopping = True
    eng._mark(force=True)
    if eng.config.risk.cancel_on_exit:
        eng._spawn(_cancel_everything(eng), "cancel_on_exit")
    else:
        eng.stop_confirmed = True  # nothing was to be cancelled
        eng._stop_cancels_done = True


def _writes_in_flight(eng: Engine) -> bool:
    return any(t.get_name().split(":", 1)[0] in WRITE_KINDS for t in eng._tasks)


async def _cancel_everything(eng: Engine) -> None:
    """Cancel every resting order of ours on every open event of the series, confirmed
    by reading back (`sweep.cancel_ours`); sets ``stop_confirmed``."""
    try:
        # Let writes already sent land first, so no create slips in after the sweep
        # (one that still does is cancelled when its ack comes back).
        deadline = eng.clock.monotonic() + _WRITES_WAIT_SECONDS
        while _writes_in_flight(eng) and eng.clock.monotonic() < deadline:  # noqa: ASYNC110 (bounded poll of engine state)
            await asyncio.sleep(0.02)
        result = await sweep.cancel_ours(
            eng.exchange, prefix=eng.config.exchange.client_order_prefix,
            series=eng._series(), deadline_s=STOP_SWEEP_SECONDS,
        )
        eng.stats.writes["cancels"] = eng.stats.writes.get("cancels", 0) + result.cancelled
        eng.stop_confirmed = result.confirmed
        if result.confirmed:  # the exchange shows nothing of ours resting
            for mo in eng.mirror.live():
                if mo.order_id is not None:
                    eng.mirror.on_cancelled(mo.order_id)
        else:
            log.error("shutdown.cancel_unconfirmed", remaining=result.remaining,
                      error=result.error)
    except Exception as exc:  # the stop must finish whatever happens
        eng.stop_confirmed = False
        log.error("shutdown.cancel_failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        eng._stop_cancels_done = True
        await eng.queue.put(Tick())


async def finish_if_done(eng: Engine) -> None:
    """Once the sweep is done: end the engine's reads, journal the writes that finished
    meanwhile, cancel a create that landed after the sweep, and set ``stopped``."""
    if not eng._stop_cancels_done:
        return
    for t in list(eng._tasks):
        if t.get_name() in _READ_TASKS:
            t.cancel()
    if eng._tasks:
        with contextlib.suppress(Exception):
            await asyncio.wait(eng._tasks, timeout=5.0)
    # Writes that finished meanwhile: journal them; a create that landed after the
    # sweep is cancelled now, so the stop leaves nothing of ours resting.
    late: list[str] = []
    while True:
        try:
            ev = eng.queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        if isinstance(ev, WriteDone):
            eng._handle(ev)
            if ev.intent.kind == "create" and ev.error is None and ev.ack is not None:
                late.append(ev.ack.order_id)
    if late and eng.config.risk.cancel_on_exit:
        for order_id in late:
            try:
                await eng.exchange.cancel_order(order_id)
                log.warning("shutdown.late_create_cancelled", order_id=order_id)
            except NotFound:
                pass
            except Exception as exc:
                eng.stop_confirmed = False
                log.error("shutdown.cancel_failed", order_id=order_id,
                          error=f"{type(exc).__name__}: {exc}")
    eng.stopped.set()
