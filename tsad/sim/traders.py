"""Outside traders: a background task that adds, cancels and takes liquidity near fair value."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from tsad.errors import ExchangeError
from tsad.money import PRICE_ONE
from tsad.orders import BookSide, OrderStatus


if TYPE_CHECKING:
    from tsad.sim.server import Emulator


__all__ = ["run_traders", "trade_once"]

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


async def run_traders(sim: Emulator, rng: random.Random) -> None:
    """Act every ~0.5–1.5 / ``sim.trader_rate`` seconds while trading is active, forever."""
    while True:
        await asyncio.sleep(rng.uniform(0.5, 1.5) / max(sim.trader_rate, 0.01))
        if sim.trading_active:
            trade_once(sim, rng)
