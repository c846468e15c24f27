"""The engine's write path: a decision's plan sent as journaled writes, and each write's
outcome journaled and told to the mirror and the core state machine (rules 4-6 of the
runner, `tsad.runtime.engine`)."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from tsad.core import engine_messages, quoting, reconcile
from tsad.core.orders import BookSide, MirrorState, OrderStatus, WriteAck
from tsad.errors import AmbiguousOutcome, NotFound
from tsad.runtime import engine_tasks
from tsad.runtime.engine_events import Intent, WriteDone
from tsad.runtime.journal import Decision


if TYPE_CHECKING:
    from tsad.runtime.engine import Engine


__all__ = ["WRITE_KINDS", "dispatch", "on_write_done"]

log = structlog.get_logger("tsad.runtime.engine")

# The task names of writes in flight (`send` names each task "<kind>:<ticker>").
WRITE_KINDS = frozenset({"create", "amend", "decrease", "cancel"})


def dispatch(eng: Engine, plan: reconcile.Plan, desired: list[quoting.Quote]) -> dict[str, int]:
    """Journal the decision and send its plan's writes (each journaled as an intent first).

    Returns:
        How many cancels, amends, decreases and creates were sent.
    """
    counts = {"cancels": 0, "amends": 0, "decreases": 0, "creates": 0}
    if not (plan.cancels or plan.amends or plan.decreases or plan.creates):
        return counts
    cfg = eng.config
    mirror = eng.mirror
    decisions = [
        Decision(ticker=q.ticker, side=q.side, true_value=q.true_value, price=q.price,
                 count=q.count)
        for q in desired
    ]
    cycle = eng.stats.cycles
    eng.journal.record_decisions(
        cycle, decisions, config_version=cfg.version,
        prediction_version=eng.state.prediction_version,
    )
    now_ms = eng._now_ms()
    for c in plan.cancels:
        mo = mirror.get(c.order_id)
        if mo is None or mo.state is not MirrorState.RESTING:
            continue
        it = _intent(eng, "cancel", mo.ticker, mo.side, order_id=c.order_id,
                     client_order_id=mo.client_order_id)
        mirror.on_cancel_sent(c.order_id)
        _send(eng, it, eng.exchange.cancel_order(c.order_id))
        counts["cancels"] += 1
    for a in plan.amends:
        mo = mirror.get(a.order_id)
        if mo is None or mo.state is not MirrorState.RESTING:
            continue
        total = mo.filled + a.remaining  # V2 amend's count: filled + new remaining
        it = _intent(eng, "amend", mo.ticker, mo.side, order_id=a.order_id,
                     client_order_id=mo.client_order_id, price=a.price, count=total,
                     filled=mo.filled)
        mirror.on_amend_sent(a.order_id, total=total)
        _send(eng, it, eng.exchange.amend_order(
            a.order_id, ticker=mo.ticker, side=mo.side.value, price=a.price, count=total,
            client_order_id=mo.client_order_id))
        counts["amends"] += 1
    for d in plan.decreases:
        mo = mirror.get(d.order_id)
        if mo is None or mo.state is not MirrorState.RESTING:
            continue
        it = _intent(eng, "decrease", mo.ticker, mo.side, order_id=d.order_id,
                     client_order_id=mo.client_order_id, price=mo.price,
                     count=d.reduce_to, filled=mo.filled)
        mirror.on_amend_sent(d.order_id)
        _send(eng, it, eng.exchange.decrease_order(d.order_id, reduce_to=d.reduce_to))
        counts["decreases"] += 1
    busy = mirror.in_flight_keys()
    for req in plan.creates:
        if (req.ticker, req.side) in busy:
            continue
        gen = eng.journal.next_generation(req.ticker, req.side.value)
        coid = reconcile.client_order_id(
            cfg.exchange.client_order_prefix, eng.event.event_ticker if eng.event else "",
            req.ticker, req.side, gen,
        )
        request = replace(
            req, client_order_id=coid, post_only=cfg.quoting.post_only,
            self_trade_prevention_type=cfg.quoting.self_trade_prevention,
        )
        it = _intent(eng, "create", req.ticker, req.side, client_order_id=coid,
                     price=req.price, count=req.count)
        mirror.on_create_sent(request, now_ms)
        _send(eng, it, eng.exchange.create_order(request))
        counts["creates"] += 1
    for k, n in counts.items():
        if n:
            eng.stats.writes[k] = eng.stats.writes.get(k, 0) + n
    return counts


def _intent(eng: Engine, kind: str, ticker: str, side: BookSide, **kw: Any) -> Intent:
    """Journal one write's intent (before it is sent: rule 5 of the runner)."""
    intent_id = eng.journal.record_intent(
        kind, ticker=ticker, side=side, client_order_id=kw.get("client_order_id"),
        order_id=kw.get("order_id"), price=kw.get("price"), count=kw.get("count"),
        config_version=eng.config.version,
        prediction_version=eng.state.prediction_version, cycle=eng.stats.cycles,
    )
    return Intent(intent_id=intent_id, kind=kind, ticker=ticker, side=side, **kw)


def _send(eng: Engine, it: Intent, call: Coroutine[Any, Any, WriteAck]) -> None:
    """Run one write concurrently; its outcome comes back on the queue as `WriteDone`."""
    eng._post(lambda: engine_tasks.write(eng.clock, it, call), f"{it.kind}:{it.ticker}")


def on_write_done(eng: Engine, ev: WriteDone) -> None:
    """Apply one write's outcome; an order that ended with fills we have not heard of is
    read back."""
    _apply_write_done(eng, ev)
    if eng.mirror.settling():
        eng.request_resync()


def _apply_write_done(eng: Engine, ev: WriteDone) -> None:
    """Journal the outcome and tell the mirror; the rules on failures (cooldown, which
    refusals pause or pull a market) are the core's (rule 6 of `tsad.core.engine_state`)."""
    it = ev.intent
    mirror = eng.mirror
    if ev.error is None and ev.ack is not None:
        eng._core(engine_messages.WriteAcked(it.ticker, it.side))
        eng.journal.record_result(it.intent_id, "ok", order_id=ev.ack.order_id)
        _apply_ack(eng, it, ev.ack)
        return
    err = ev.error
    assert err is not None
    kind = type(err).__name__
    eng.stats.errors[kind] = eng.stats.errors.get(kind, 0) + 1
    outcome = "ambiguous" if isinstance(err, AmbiguousOutcome) else "error"
    eng.journal.record_result(it.intent_id, outcome, order_id=it.order_id,
                              detail=f"{kind}: {err}")
    # The mirror forgets a refused create, keeps an ambiguous one pending until a read
    # resolves it, and forgets an order a 404 says is gone.
    before = mirror.get(it.order_id) if it.order_id else None
    if it.kind == "create":
        mirror.on_error(err, client_order_id=it.client_order_id)
    else:
        mirror.on_error(err, order_id=it.order_id)
    if isinstance(err, NotFound) and it.order_id:
        eng._journal_order(before, it.order_id, OrderStatus.CANCELED)
    eng._core(engine_messages.WriteFailed(kind=it.kind, ticker=it.ticker, side=it.side,
                                       order_id=it.order_id, error=err,
                                       at=eng.clock.now()))


def _apply_ack(eng: Engine, it: Intent, ack: WriteAck) -> None:
    mirror = eng.mirror
    now_ms = eng._now_ms()
    if it.kind == "create":
        mirror.on_ack(ack, now_ms)
        eng._journal_order(None, ack.order_id, OrderStatus.EXECUTED)
        log.info("order.created", ticker=it.ticker, side=it.side.value, price=it.price,
                 count=it.count, client_order_id=it.client_order_id)
        return
    assert it.order_id is not None
    before = mirror.get(it.order_id)
    if it.kind == "cancel":
        mirror.on_cancelled(it.order_id, reduced_by=ack.reduced_by)
        eng._journal_order(before, it.order_id, OrderStatus.CANCELED)
        log.info("order.cancelled", ticker=it.ticker, side=it.side.value)
        return
    # Amend: the request's count is the new total (the ack's fill_count is only what
    # the amend itself filled). Decrease: the ack's remaining_count is what rests now.
    price = it.price if it.price is not None else (before.price if before else 0)
    total = it.count if it.kind == "amend" else None
    mirror.on_amended(it.order_id, price=price, ack=ack, total=total)
    after = mirror.get(ack.order_id)
    remaining = after.remaining if after is not None else 0
    eng._journal_order(before, ack.order_id, OrderStatus.EXECUTED)
    log.info("order.amended" if it.kind == "amend" else "order.decreased",
             ticker=it.ticker, side=it.side.value, price=price, count=remaining)
