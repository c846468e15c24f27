"""What the engine's tick reads from disk, as events for the core state machine: the halt
file, and the forecaster's files (their signatures, contents and age)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tsad.core.engine_messages import HaltChanged, InputsInvalid, InputsLoaded, PredictionAged
from tsad.errors import ConfigError, InputError
from tsad.runtime import inputs
from tsad.runtime.settings import ModelConfig


__all__ = ["halt", "prediction_age", "read_inputs", "required", "signatures"]


def required(path: Path | None, key: str) -> Path:
    """Return a configured forecaster path; its absence is a config error."""
    if path is None:
        raise ConfigError(f"model.{key} is not set")
    return path


def halt(path: Path | None) -> HaltChanged:
    """Look at the halt file; one that cannot be looked at halts (we cannot tell)."""
    try:
        return HaltChanged(path is not None and Path(path).exists(), str(path))
    except OSError as exc:  # an OSError here is not the journal's
        return HaltChanged(True, str(path), str(exc))


def signatures(mc: ModelConfig) -> dict[str, int]:
    """Return (mtime_ns + size) of each forecaster file; -1 when it is missing."""
    out: dict[str, int] = {}
    for p in (mc.prediction_path, mc.history_path, mc.actuals_path):
        if p is None:
            continue
        try:
            st = Path(p).stat()
            out[str(p)] = st.st_mtime_ns + st.st_size
        except OSError:
            out[str(p)] = -1
    return out


def read_inputs(mc: ModelConfig) -> InputsLoaded | InputsInvalid:
    """Read and parse the forecaster's files; whatever a broken file makes the parsers
    raise becomes `InputsInvalid` with the reason (it pulls quotes; never fatal)."""
    try:
        return InputsLoaded(
            predictions=inputs.load_predictions(required(mc.prediction_path, "prediction_path")),
            history=inputs.load_history(required(mc.history_path, "history_path")),
            actuals=inputs.load_actuals(mc.actuals_path) if mc.actuals_path else {},
            version=inputs.file_version(required(mc.prediction_path, "prediction_path")),
        )
    except (InputError, ConfigError, OSError, ValueError, ArithmeticError, RecursionError,
            TypeError, KeyError, MemoryError) as exc:
        return InputsInvalid(
            str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}")


def prediction_age(mc: ModelConfig, now: datetime) -> PredictionAged:
    """The prediction file's age at ``now`` (None when it is missing).

    Raises:
        ConfigError: no prediction file is configured.
    """
    path = required(mc.prediction_path, "prediction_path")
    try:
        age: float | None = now.timestamp() - path.stat().st_mtime
    except OSError:
        age = None
    return PredictionAged(str(path), age, mc.max_prediction_age or 0.0)
