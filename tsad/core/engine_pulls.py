"""The engine state machine's global pulls and what sets and lifts them: the halt file, the
forecaster's inputs and their age, a valuation's outcome, and the per-market pulls a
decision makes (rules 5, 7 and 9 of `tsad.core.engine_state`, whose `handle` calls these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tsad.core.engine_messages import (
    Command,
    HaltChanged,
    InputsLoaded,
    Log,
    MarketsPulled,
    PredictionAged,
    Unvalued,
    ValuationFailed,
    Valued,
)


if TYPE_CHECKING:
    from tsad.core.engine_state import State


__all__ = [
    "halt",
    "inputs_loaded",
    "markets_pulled",
    "prediction_aged",
    "pull",
    "unpull",
    "valued",
]


def pull(state: State, key: str, reason: str, event: str, *, level: str = "error",
         **fields: Any) -> list[Command]:
    """Pull quotes everywhere for ``key``; log it once per new reason, not per re-check."""
    out: list[Command] = []
    if state.pull_reasons.get(key) != reason:
        out.append(Log(level, event, {"reason": reason, **fields}))
    state.pull_reasons[key] = reason
    return out


def unpull(state: State, key: str) -> list[Command]:
    """Lift the pull of ``key`` (logged when there was one)."""
    if state.pull_reasons.pop(key, None) is None:
        return []
    return [Log("info", "quotes.resumed", {"cleared": key})]


def markets_pulled(state: State, event: MarketsPulled) -> list[Command]:
    """Log each market a decision pulls on its own once per reason, and on resuming."""
    shown = state.shown_pulls
    out: list[Command] = [Log("warning", "market.pulled", {"ticker": t, "reason": why})
                          for t, why in event.pulled.items() if shown.get(t) != why]
    out += [Log("info", "market.resumed", {"ticker": t})
            for t in sorted(set(shown) - set(event.pulled))]
    state.shown_pulls = dict(event.pulled)
    return out


def halt(state: State, event: HaltChanged) -> list[Command]:
    """The halt file present (or unreadable) pulls "halt"; its absence lifts it."""
    if not (event.present or event.error is not None):
        return unpull(state, "halt")
    state.dirty = True
    out: list[Command] = []
    if event.error is not None:  # cannot tell: halt
        out.append(Log("warning", "halt_file.unreadable",
                       {"path": event.path, "error": event.error}))
    return [*out, *pull(state, "halt", f"halt file {event.path} exists", "engine.halted",
                        level="warning")]


def inputs_loaded(state: State, event: InputsLoaded) -> list[Command]:
    """Keep the forecaster's freshly loaded inputs and lift the "inputs" pull."""
    state.predictions = dict(event.predictions)
    state.history = event.history
    state.actuals = dict(event.actuals)
    state.prediction_version = event.version
    state.dirty = True
    return [*unpull(state, "inputs"),
            Log("info", "inputs.loaded", {"prediction_version": event.version,
                                          "history_rows": event.history.n,
                                          "actual_days": len(event.actuals)})]


# What each kind of valuation failure logs when it pulls quotes.
_VALUATION_EVENTS = {"prediction": "prediction.missing", "hook": "hook.failed",
                     "valuation": "valuation.failed"}


def valued(state: State, event: Valued | ValuationFailed | Unvalued) -> list[Command]:
    """Keep a valuation's values; set or lift the prediction, hook and valuation pulls."""
    values = dict(event.valuations) if isinstance(event, Valued) else {}
    if values != state.valuations:
        state.valuations = values
        state.dirty = True
    if isinstance(event, Unvalued):
        return []
    if isinstance(event, ValuationFailed) and event.kind == "prediction":
        return pull(state, "prediction", event.reason, _VALUATION_EVENTS["prediction"])
    out = unpull(state, "prediction")
    state.prediction = event.prediction
    if isinstance(event, ValuationFailed):
        return [*out, *pull(state, event.kind, event.reason,
                            _VALUATION_EVENTS.get(event.kind, "valuation.failed"))]
    return [*out, *unpull(state, "hook"), *unpull(state, "valuation")]


def prediction_aged(state: State, event: PredictionAged) -> list[Command]:
    """A prediction file missing or too old pulls "prediction_stale"; else lift it."""
    key = "prediction_stale"
    if event.age_s is None:
        return pull(state, key, f"prediction file {event.path} missing", "prediction.missing")
    if event.max_age_s and event.age_s > event.max_age_s:
        return pull(state, key, f"prediction file older than {event.max_age_s:.0f} s",
                    "prediction.stale", level="warning", age_s=round(event.age_s))
    return unpull(state, key)
