"""The engine's inputs: the forecaster's files and the valuation hooks loaded, the week's
markets valued from them (the outcome is posted to the core, rule 9 of
`tsad.core.engine_state`), and a config reload taken whole or refused whole (rule 8 of the
runner, `tsad.runtime.engine`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from tsad.core import engine as core, engine_messages, midweek, tickers
from tsad.errors import HookError, InputError
from tsad.runtime import engine_reads, inputs
from tsad.runtime.config import config_diff, restart_required
from tsad.runtime.engine_events import ReloadRequested


if TYPE_CHECKING:
    from tsad.runtime.engine import Engine


__all__ = ["load_hooks", "load_inputs", "on_reload", "valuation"]

log = structlog.get_logger("tsad.runtime.engine")


def load_hooks(eng: Engine) -> None:
    """Resolve the configured valuation hooks."""
    eng._hooks = midweek.resolve_hooks(eng.config.model.hooks)


def load_inputs(eng: Engine) -> None:
    """Read the forecaster's files and post what came of it to the core (rule 5 of
    `tsad.core.engine_state`): any problem pulls quotes with the reason."""
    # Signatures first: a rewrite during the read is then seen as a change next tick.
    eng._input_mtimes = engine_reads.signatures(eng.config.model)
    eng._core(engine_reads.read_inputs(eng.config.model))


def valuation(eng: Engine) -> engine_messages.Event:
    """Value every usable market of the event through the hooks: the core's event."""
    if eng.event is None or eng.state.history is None:
        return engine_messages.Unvalued()
    sunday = tickers.parse_event_ticker(eng.event.event_ticker).sunday
    try:
        p = inputs.prediction_for(
            eng.state.predictions, sunday,
            engine_reads.required(eng.config.model.prediction_path, "prediction_path"),
        )
    except InputError as exc:
        return engine_messages.ValuationFailed("prediction", str(exc))
    # A market whose strike is not a finite number cannot be valued: it is left out
    # (and pulled by the decision, rule 4 of tsad.core.engine); the others are valued.
    usable = [m for m in eng.markets.values() if core.market_problem(m) is None]
    try:
        vals = midweek.value_week(
            eng.event.event_ticker, usable, now=eng.clock.now(),
            prediction=p, history=eng.state.history, actuals=eng.state.actuals,
            hooks=eng._hooks,
        )
    except HookError as exc:
        return engine_messages.ValuationFailed("hook", str(exc), p)
    except (ArithmeticError, ValueError) as exc:
        return engine_messages.ValuationFailed("valuation", f"{type(exc).__name__}: {exc}", p)
    return engine_messages.Valued({v.ticker: v for v in vals}, p)


def on_reload(eng: Engine, ev: ReloadRequested) -> None:
    """SIGHUP: take a valid config whose changes apply live, whole; refuse it otherwise."""
    try:
        new = eng._load_config(eng.config_path)
        hooks = midweek.resolve_hooks(new.model.hooks)
    except Exception as exc:  # any failure at all keeps the old config running
        log.error("config.reload_rejected", reason=str(exc))
        if eng._reload_cb:
            eng._reload_cb(eng.config, False)
        return
    changed = config_diff(eng.config, new)
    # The market being traded is chosen at startup and at each weekly roll; keys that
    # cannot be applied live refuse the whole reload (never half-applied).
    restart = sorted(set(restart_required(changed))
                     | {k for k in changed if k.startswith("market.")})
    if restart:
        log.error("config.reload_refused", keys=restart,
                  reason="these keys need a restart; still running on the old config")
        if eng._reload_cb:
            eng._reload_cb(eng.config, False)
        return
    eng.config = new
    eng._hooks = hooks
    load_inputs(eng)
    eng._revalue()
    eng.state.dirty = True
    log.info("config.reloaded", changed=changed, version=new.version)
    if eng._reload_cb:
        eng._reload_cb(new, True)
