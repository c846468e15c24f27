"""Paper trading: the embedded emulator, a throwaway key, synthetic inputs and the run summary."""

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
from tsad.core.money import format_count, format_money
from tsad.core.orders import Fill
from tsad.core.pnl import market_pnl
from tsad.kalshi.signing import Signer
from tsad.runtime.config import Config
from tsad.runtime.journal import Journal


__all__ = [
    "FAIR_DRIFT",
    "TRADER_RATE",
    "PaperKey",
    "new_key",
    "stop_summary",
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


def _dollars(amount: int) -> str:
    return format_money(amount, 4) if amount % 100 == 0 else format_money(amount, 6)


def stop_summary(journal: Journal, *, since: datetime | None = None) -> str:
    """Return the paper run's summary: fills, positions and PnL (fees, mid, true value).

    Args:
        journal: the run's journal (marks, settlements and fills as the daemon recorded).
        since: count only fills from this instant on (this run's); positions and PnL are
            over the whole journal, as ``tsad report`` shows them.
    """
    fills = journal.fills()
    fair_at = journal.fill_true_values()
    settled = {st.ticker: st.value for st in journal.settlements()}
    marks = journal.marks()
    by_market: dict[str, list[Fill]] = {}
    for f in fills:
        by_market.setdefault(f.ticker, []).append(f)
    run = [f for f in fills if since is None or (f.ts is not None and f.ts >= since)]
    lines = [f"paper summary: {len(run)} fills this run "
             f"({format_count(sum(f.count for f in run))} contracts), {len(fills)} in the journal"]
    realized = fees = mid = fair = 0
    for ticker, fs in sorted(by_market.items()):
        mark = marks.get(ticker)
        p = market_pnl(ticker, fs, settlement=settled.get(ticker),
                       mid=None if mark is None else mark.mid,
                       fair=None if mark is None else mark.fair, fair_at_fill=fair_at)
        realized, fees = realized + p.realized, fees + p.fees
        mid += p.unrealized_mid or 0
        fair += p.unrealized_fair or 0
        if p.position:
            lines.append(f"  {ticker}: position {format_count(p.position)}, realized "
                         f"{_dollars(p.realized)}, edge {_dollars(p.edge)}")
    lines.append(f"  PnL: realized {_dollars(realized)} (fees {_dollars(fees)}), unrealized "
                 f"at mid {_dollars(mid)}, at true value {_dollars(fair)}")
    return "\n".join(lines)
