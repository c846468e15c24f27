"""The engine's startup: the picture it needs before anything is placed (exchange status,
the event, our resting orders on every open event of the series, positions, fills,
settlements, the journal's unresolved intents; rule 3 of the runner, `tsad.runtime.engine`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from tsad.core import engine_state, tickers
from tsad.runtime import engine_feed, engine_fees, engine_inputs, engine_tasks


if TYPE_CHECKING:
    from tsad.runtime.engine import Engine


__all__ = ["STARTUP_BOOK_WAIT", "start"]

log = structlog.get_logger("tsad.runtime.engine")

# How long startup waits for every book's first snapshot before quoting the fresh ones.
STARTUP_BOOK_WAIT = 10.0


async def start(eng: Engine) -> None:
    """Build the startup picture: status, event, our orders, positions, recent fills.

    Raises:
        ExchangeError: the exchange could not be read (the daemon exits; systemd retries).
    """
    cfg = eng.config
    engine_inputs.load_hooks(eng)
    engine_inputs.load_inputs(eng)
    status = await eng.exchange.get_exchange_status()
    eng.state.exchange_active = status.exchange_active
    eng.state.trading_active = status.exchange_active and status.trading_active
    now = eng.clock.now()
    event_ticker = cfg.market.event or tickers.current_event_ticker(now, cfg.market.series)
    event = await eng.exchange.get_event(event_ticker)
    engine_state.set_event(eng.state, event, eng.clock.monotonic())
    engine_fees.take_series(eng, await engine_tasks.fee_schedule(eng.exchange,
                                                                  cfg.market.series))
    engine_fees.take_event(eng, event)
    # Every open event of the series: a previous instance's orders on last week's markets
    # are ours to manage (cancel) too.
    orders = await eng.exchange.list_orders(status="resting")
    engine_feed.adopt(eng, orders)
    positions = await eng.exchange.list_positions(event_ticker=event.event_ticker)
    # This week's fills (from a day before it opened): any we missed get journaled once,
    # and the mirror learns their trade ids (a late duplicate never counts twice).
    sunday = tickers.parse_event_ticker(event.event_ticker).sunday
    since = int(tickers.event_open_time(sunday).timestamp()) - 86_400
    fills = [f for f in await eng.exchange.list_fills(min_ts=since)
             if eng._in_series(f.ticker)]
    new = sum(1 for f in fills if eng._record_fill(f))
    for f in fills:
        eng.mirror.on_fill(f)
    eng.ledger.settlements(s for s in await eng.exchange.list_settlements()
                            if eng._in_series(s.ticker))
    # Then REST's positions, with their cost, are the truth for this week's markets.
    rest = {p.ticker: p for p in positions}
    for t in eng.markets:
        p = rest.get(t)
        eng.mirror.set_position(t, p.position if p else 0, p.exposure if p else 0)
    eng._last_fill_read = int(now.timestamp())
    unresolved = eng.journal.unresolved_intents()
    for row in unresolved:
        # The read-back above is the truth: adopted if it rests, otherwise it is not there.
        adopted = row.client_order_id is not None and (
            eng.mirror.get(row.client_order_id) is not None)
        eng.journal.record_result(
            row.id, "ok" if adopted else "error", order_id=row.order_id,
            detail="resolved at startup by reading orders back"
            + (" (resting)" if adopted else " (not resting)"),
        )
    eng._revalue()
    eng._ready_deadline = eng.clock.monotonic() + STARTUP_BOOK_WAIT
    log.info(
        "engine.started",
        event_ticker=event.event_ticker,
        markets=len(eng.markets),
        adopted=len(eng.mirror.live()),
        positions=len(eng.mirror.positions()),
        fills_new=new,
        unresolved_intents=len(unresolved),
        trading_active=eng.trading_active,
        fee_type=None if eng.fees is None else eng.fees.fee_type.value,
        fee_multiplier=None if eng.fees is None else str(eng.fees.multiplier),
    )
