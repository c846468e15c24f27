"""Outside traders: a background task that adds, cancels and takes liquidity near fair value."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, OrderStatus
from tsad.errors import ExchangeError
from tsad.sim.week import fair_values


if TYPE_CHECKING:
    from tsad.sim.server import Emulator


__all__ = ["drift_fair", "run_traders", "trade_once"]

OUTSIDE = "outside"


def trade_once(sim: Emulator, rng: random.Random) -> None:
    """Do one outside action: add (50 %), cancel (30 %) or take (20 %) liquidity.

    Deterministic given ``rng`` and the book. Actions that the exchange refuses are skipped.
    """
    live = [m for m in sim.event.markets
            if 300 <= sim.fair[int(m.floor_strike or 0)] * PRICE_ONE <= 9700]
    market = rng.choice(live or list(sim.event.markets))
    ticker = market.ticker
    fair = min(max(round(sim.fair[int(market.floor_strike or 0)] * 100), 1), 99)
    roll = rng.random()
    try:
        if roll < 0.5:
            side = BookSide.BID if rng.random() < 0.5 else BookSide.ASK
            offset = rng.randint(1, 4)
            cents = fair - offset if side is BookSide.BID else fair + offset
            if not 1 <= cents <= 99:
                return
            best = sim.engine.best(ticker, BookSide.ASK if side is BookSide.BID else BookSide.BID)
            crosses = best is not None and (
                cents * 100 >= best if side is BookSide.BID else cents * 100 <= best
            )
            if crosses:
                return
            sim.add_order(ticker, side, cents * 100, rng.randint(1, 50) * 100)
        elif roll < 0.8:
            mine = [o for o in sim.engine.orders(OUTSIDE)
                    if o.ticker == ticker and o.status is OrderStatus.RESTING]
            if len(mine) > 2:
                sim.cancel_order(rng.choice(mine).order_id)
        else:
            side = BookSide.BID if rng.random() < 0.5 else BookSide.ASK
            best = sim.engine.best(ticker, BookSide.ASK if side is BookSide.BID else BookSide.BID)
            if best is None:
                return
            sim.add_order(ticker, side, best, rng.randint(1, 20) * 100,
                          time_in_force="immediate_or_cancel")
    except ExchangeError:
        return


def drift_fair(sim: Emulator, rng: random.Random, sd: float) -> None:
    """Move the week's "true" average by a Gaussian step of relative size ``sd``.

    Outside traders then quote around the new fair values, so the market can walk through
    resting orders priced off a prediction that did not move: fills, as in real trading.
    """
    sim.fair_center *= 1 + rng.gauss(0.0, sd)
    sim.fair = fair_values(sim.fair_center)


async def run_traders(sim: Emulator, rng: random.Random) -> None:
    """Act every ~0.5–1.5 / ``sim.trader_rate`` seconds while trading is active, forever.

    With ``sim.fair_drift`` > 0 the fair centre also takes a random step of that relative
    size about every 10 seconds (`drift_fair`).
    """
    loop = asyncio.get_running_loop()
    next_drift = loop.time() + _DRIFT_EVERY
    while True:
        await asyncio.sleep(rng.uniform(0.5, 1.5) / max(sim.trader_rate, 0.01))
        if sim.trading_active:
            if sim.fair_drift > 0 and loop.time() >= next_drift:
                next_drift = loop.time() + _DRIFT_EVERY
                drift_fair(sim, rng, sim.fair_drift)
            trade_once(sim, rng)


_DRIFT_EVERY = 10.0
