"""Paper trading: the embedded emulator, a throwaway key, and synthetic forecaster files."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.core import tickers
from tsad.kalshi.signing import Signer
from tsad.runtime.config import Config


__all__ = [
    "FAIR_DRIFT",
    "TRADER_RATE",
    "PaperKey",
    "new_key",
    "with_paper_paths",
    "write_paper_inputs",
]

log = structlog.get_logger("tsad.runtime.paper")

# Spread of the synthetic forecast errors (relative): about what a baseline forecaster
# achieves at Monday open (tsa-markets.md §5: ~2% MAPE).
_PAPER_ERROR_SD = 0.025
_PAPER_HISTORY_ROWS = 520
FAIR_DRIFT = 0.005
TRADER_RATE = 8.0
"""Outside trader actions per second in paper mode: a lively book for all 23 markets."""
"""Relative step of the paper market's fair centre about every 10 s: the market moves while
the prediction does not, so paper orders get filled now and then, as real ones do."""


@dataclass(frozen=True, slots=True)
class PaperKey:
    """A throwaway key pair for talking to the embedded emulator."""

    key_id: str
    signer: Signer
    public_pem: bytes


def with_paper_paths(config: Config) -> Config:
    """Give a paper config its forecaster files: next to the journal when not configured."""
    if config.exchange.environment != "paper":
        return config
    base = Path(config.journal.path).parent / "paper"
    mc = config.model
    return replace(config, model=replace(
        mc,
        prediction_path=mc.prediction_path or base / "prediction.json",
        history_path=mc.history_path or base / "history.csv",
    ))


def new_key(seed: int = 0) -> PaperKey:
    """Generate an RSA key for paper mode (never written to disk)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_id = f"paper-{seed}"
    return PaperKey(key_id=key_id, signer=Signer(key_id, key), public_pem=pem)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_paper_inputs(
    *, prediction_path: Path, history_path: Path, event_ticker: str, center: float,
    now: datetime, seed: int = 0,
) -> None:
    """Write a prediction for the paper week and a synthetic error history, if absent.

    The prediction is the emulator's own centre for the week, so paper quotes are sane; the
    history is a seeded Gaussian sample of relative errors in the seed's CSV format. Existing
    files are left alone, so a user can edit them and watch the daemon re-price.
    """
    sunday = tickers.parse_event_ticker(event_ticker).sunday
    if not prediction_path.exists():
        _atomic_write(prediction_path, json.dumps(
            {sunday.isoformat(): {"prediction": round(center)}}, indent=2) + "\n")
        log.info("paper.prediction_written", path=str(prediction_path), prediction=round(center))
    else:
        # Keep an existing file, but make sure this week has a prediction.
        try:
            data = json.loads(prediction_path.read_text())
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and sunday.isoformat() not in data:
            data[sunday.isoformat()] = {"prediction": round(center)}
            _atomic_write(prediction_path, json.dumps(data, indent=2) + "\n")
    if not history_path.exists():
        rng = random.Random(seed)
        lines = ["date,passengers_7_day_moving_average,prediction"]
        start = date.fromordinal(now.date().toordinal() - _PAPER_HISTORY_ROWS)
        for i in range(_PAPER_HISTORY_ROWS):
            pred = round(center * (1 + rng.uniform(-0.08, 0.08)))
            actual = round(pred * (1 + rng.gauss(0.0, _PAPER_ERROR_SD)), 3)
            lines.append(f"{date.fromordinal(start.toordinal() + i).isoformat()},{actual},{pred}")
        _atomic_write(history_path, "\n".join(lines) + "\n")
        log.info("paper.history_written", path=str(history_path), rows=_PAPER_HISTORY_ROWS)
