"""Paper trading: the embedded emulator and its lively market, synthetic inputs, the summary.

Paper state lives in its own folder (``state/paper/`` by default: the journal, the synthetic
prediction, error history and this week's daily actuals), so a demo or production journal
never holds paper fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.core import tickers
from tsad.core.clock import Clock
from tsad.core.midweek import published_through
from tsad.core.money import format_count, format_money
from tsad.core.orders import Fill
from tsad.core.pnl import market_pnl
from tsad.kalshi.signing import Signer
from tsad.runtime.config import Config
from tsad.runtime.journal import Journal


if TYPE_CHECKING:
    from tsad.sim import Emulator


__all__ = [
    "PAPER_FOLDER",
    "SWING_SD",
    "SWING_SECONDS",
    "TRADER_RATE",
    "PaperKey",
    "PaperVenue",
    "new_key",
    "paper_folder",
    "start",
    "stop_summary",
    "with_paper_paths",
    "write_paper_actuals",
    "write_paper_inputs",
]

log = structlog.get_logger("tsad.runtime.paper")

PAPER_FOLDER = "paper"
"""The folder (under the state directory) holding everything paper mode writes."""
# Spread of the synthetic forecast errors (relative): about what a baseline forecaster
# achieves at Monday open (tsa-markets.md §5: ~2% MAPE).
_PAPER_ERROR_SD = 0.025
_PAPER_HISTORY_ROWS = 520
TRADER_RATE = 15.0
"""Outside trader actions per second in paper mode: a lively book for all 23 markets."""
SWING_SD = 0.025
"""Relative spread of the paper market's centre around where it started. The market swings
(mean-reverting) while the prediction does not, so paper orders priced at a margin below the
true value are reached within a minute or so, as a nervous real market now and then does."""
SWING_SECONDS = 15.0
"""Time constant of the swing's pull back to the start: a new swing about every half minute."""
_SWING_STEP = 1.0
# The shape of a week (Monday … Sunday) around its average: midweek days are quiet.
_WEEKDAY_SHAPE = (1.02, 0.91, 0.93, 1.04, 1.06, 0.95, 1.09)
_DAILY_NOISE_SD = 0.01
_PUBLISH_CHECK_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class PaperKey:
    """A throwaway key pair for talking to the embedded emulator."""

    key_id: str
    signer: Signer
    public_pem: bytes


def paper_folder(config: Config) -> Path:
    """Return the folder of paper mode's files: the journal's, when it is already a paper
    folder (the default ``state/paper/journal.sqlite3``), else ``paper/`` beside the journal."""
    parent = Path(config.journal.path).parent
    return parent if parent.name == PAPER_FOLDER else parent / PAPER_FOLDER


def with_paper_paths(config: Config) -> Config:
    """Give a paper config its forecaster files in the paper folder, where not configured.

    With the synthetic prediction (no ``prediction_path``), the actuals default to the paper
    week's synthetic daily numbers (`write_paper_actuals`), so the ``realized_days`` hook
    narrows the quotes as days get published; a forecaster's own prediction gets no
    synthetic actuals.
    """
    if config.exchange.environment != "paper":
        return config
    base = paper_folder(config)
    mc = config.model
    synthetic = mc.prediction_path is None
    return replace(config, model=replace(
        mc,
        prediction_path=mc.prediction_path or base / "prediction.json",
        history_path=mc.history_path or base / "history.csv",
        actuals_path=mc.actuals_path or (base / "actuals.csv" if synthetic else None),
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


def _daily_actuals(event_ticker: str, center: float, seed: int) -> dict[date, int]:
    """The paper week's daily numbers (and the Sunday before it): ``center`` on average,
    shaped like a real week, with a little seeded noise."""
    dates = tickers.event_dates(event_ticker)
    rng = random.Random(f"paper-actuals-{seed}-{event_ticker}")
    mean_shape = sum(_WEEKDAY_SHAPE) / len(_WEEKDAY_SHAPE)
    days = [dates[0] - timedelta(days=1), *dates]
    shapes = [_WEEKDAY_SHAPE[-1], *_WEEKDAY_SHAPE]
    return {d: round(center * k / mean_shape * (1 + rng.gauss(0.0, _DAILY_NOISE_SD)))
            for d, k in zip(days, shapes, strict=True)}


def write_paper_actuals(
    path: Path, *, event_ticker: str, center: float, now: datetime, seed: int = 0,
) -> list[date]:
    """Write the paper week's daily actuals that TSA's rule has published at ``now``.

    The days are those of the week (and the Sunday before it) up to `published_through`
    ``now``; their average is about ``center`` (the emulator's week). The file is rewritten
    only when its content changes, so the daemon re-reads it once per new release.

    Returns:
        The dates written, oldest first.
    """
    last = published_through(now)
    rows = {d: v for d, v in _daily_actuals(event_ticker, center, seed).items() if d <= last}
    text = "date,passengers\n" + "".join(f"{d.isoformat()},{v}\n" for d, v in rows.items())
    try:
        unchanged = path.read_text() == text
    except OSError:
        unchanged = False
    if not unchanged:
        _atomic_write(path, text)
        log.info("paper.actuals_written", path=str(path), days=len(rows),
                 published_through=last.isoformat())
    return list(rows)


@dataclass(frozen=True, slots=True)
class PaperVenue:
    """The running embedded emulator and the key to sign for it."""

    sim: Emulator
    signer: Signer


async def start(config: Config, stack: contextlib.AsyncExitStack, clock: Clock) -> PaperVenue:
    """Start paper mode: the emulator, its key, the synthetic inputs and the market's swing.

    Everything started is closed by ``stack``. While it runs, paper mode's TSA publishes each
    day's number as the real one would (`write_paper_actuals`, checked every minute).
    """
    from tsad.sim import Emulator

    key = new_key(config.paper.seed)
    sim = Emulator(seed=config.paper.seed, outside_traders=config.paper.outside_traders,
                   trader_rate=TRADER_RATE)
    await stack.enter_async_context(sim)
    sim.register_key(key.key_id, key.public_pem)
    center = float(config.paper.prediction or sim.fair_center)
    mc = config.model
    assert mc.prediction_path is not None and mc.history_path is not None
    write_paper_inputs(prediction_path=mc.prediction_path, history_path=mc.history_path,
                       event_ticker=sim.event_ticker, center=center, now=clock.now(),
                       seed=config.paper.seed)
    tasks: list[asyncio.Task[None]] = []
    if mc.actuals_path == paper_folder(config) / "actuals.csv":  # ours, not the user's
        actuals = mc.actuals_path
        week_center = sim.fair_center
        write_paper_actuals(actuals, event_ticker=sim.event_ticker, center=week_center,
                            now=clock.now(), seed=config.paper.seed)
        tasks.append(asyncio.create_task(_publish(
            actuals, sim.event_ticker, week_center, clock, config.paper.seed),
            name="paper-tsa"))
    if config.paper.outside_traders:
        tasks.append(asyncio.create_task(_swing(sim, config.paper.seed), name="paper-swing"))

    async def stop() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(stop)
    log.info("paper.emulator_started", rest_url=sim.rest_url, ws_url=sim.ws_url,
             event_ticker=sim.event_ticker)
    return PaperVenue(sim=sim, signer=key.signer)


async def _publish(path: Path, event_ticker: str, center: float, clock: Clock,
                   seed: int) -> None:
    while True:
        await asyncio.sleep(_PUBLISH_CHECK_SECONDS)
        try:
            write_paper_actuals(path, event_ticker=event_ticker, center=center,
                                now=clock.now(), seed=seed)
        except OSError as exc:
            log.warning("paper.actuals_unwritable", path=str(path), reason=str(exc))


async def _swing(sim: Emulator, seed: int) -> None:
    """Swing the emulator's fair centre around its start (Ornstein-Uhlenbeck, `SWING_SD`)."""
    from tsad.sim.week import fair_values

    rng = random.Random(f"paper-swing-{seed}")
    base, x = sim.fair_center, 0.0
    keep = math.exp(-_SWING_STEP / SWING_SECONDS)
    shock = SWING_SD * math.sqrt(1 - keep * keep)
    while True:
        await asyncio.sleep(_SWING_STEP)
        x = keep * x + shock * rng.gauss(0.0, 1.0)
        sim.fair_center = base * (1 + x)
        sim.fair = fair_values(sim.fair_center)


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
