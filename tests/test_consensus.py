"""Pooling the model's true value with the market's: the mid of others, exact, never worse
in Brier than the mix of the two, and blind to our own resting orders."""

from __future__ import annotations

import asyncio
import json
import signal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from tests.test_cli import _event_payload
from tests.test_engine_core import A, B, inputs, resting
from tsad.commands.cli import main
from tsad.core import consensus, engine as core
from tsad.core.market import Outcome, Valuation
from tsad.core.orders import BookSide


def val(outcome: Outcome | None, v: Fraction | None, ticker: str = A) -> Valuation:
    return Valuation(ticker=ticker, outcome=outcome, true_value=v)


@pytest.mark.parametrize(
    ("bid", "ask", "spread", "expected"),
    [
        (4000, 4200, 1000, Fraction(41, 100)),
        (4000, 5000, 1000, Fraction(45, 100)),   # exactly the widest spread allowed
        (4000, 5100, 1000, None),                # wider
        (None, 200, 1000, Fraction(1, 100)),      # a lone ask of 2¢: the bid counts as 0
        (9700, None, 1000, Fraction(985, 1000)),  # a lone bid of 97¢: the ask counts as $1
        (None, 4200, 1000, None),                # a lone ask of 42¢ says too little
        (4000, None, 1000, None),
        (None, None, 9999, None),                # an empty book says nothing
        (4200, 4200, 1000, None),                # locked
        (4300, 4200, 1000, None),                # crossed
        (-1, 100, 1000, None),                   # not a price
        (9900, 10_001, 1000, None),
    ],
)
def test_market_probability_is_the_mid_of_a_tight_book(bid, ask, spread, expected):
    assert consensus.market_yes(bid, ask, spread) == expected


def test_our_orders_are_taken_out_of_the_book():
    """Our bid alone at the top: the best of others is the next level; a level we share
    keeps its price; a book lagging behind our mirror skips the level."""
    bids = ((4500, 1000), (4400, 300), (4300, 200))
    asks = ((4700, 500),)
    assert consensus.others_top(bids, asks, {4500: 1000}, {}) == (4400, 4700)
    assert consensus.others_top(bids, asks, {4500: 400}, {}) == (4500, 4700)
    assert consensus.others_top(bids, asks, {4500: 1500}, {4700: 500}) == (4400, None)
    assert consensus.others_top((), (), {}, {}) == (None, None)


def test_pool_moves_the_leg_value_toward_the_market_exactly():
    """A YES leg at 0.60 with the market at 0.40 pools to 0.50 at w = 1/2; a NO leg worth
    0.70 (YES 0.30) with the market's YES at 0.50 pools to NO 0.60; no market, no leg or
    w = 0 leave the model's value."""
    half = Fraction(1, 2)
    assert consensus.pool(val(Outcome.YES, Fraction(3, 5)), Fraction(2, 5), half).true_value \
        == Fraction(1, 2)
    assert consensus.pool(val(Outcome.NO, Fraction(7, 10)), Fraction(1, 2), half).true_value \
        == Fraction(3, 5)
    v = val(Outcome.YES, Fraction(3, 5))
    assert consensus.pool(v, None, half) is v
    assert consensus.pool(v, Fraction(1, 10), Fraction(0)) is v
    none = val(None, None)
    assert consensus.pool(none, Fraction(1, 2), half) is none


probabilities = st.fractions(min_value=0, max_value=1, max_denominator=10_000)


@given(st.lists(st.tuples(probabilities, probabilities, st.booleans(), st.booleans()),
                min_size=1, max_size=30),
       st.fractions(min_value=0, max_value=1, max_denominator=100))
def test_pooled_brier_never_exceeds_the_mix_of_the_two(rows, w):
    """On any contracts and outcomes: pooled Brier ≤ (1 − w)·model's + w·market's, and each
    pooled YES probability lies between the two."""
    pooled = model = market = Fraction(0)
    for model_yes, market_yes, leg_yes, outcome in rows:
        leg = Outcome.YES if leg_yes else Outcome.NO
        v = consensus.pool(val(leg, model_yes if leg_yes else 1 - model_yes), market_yes, w)
        assert v.true_value is not None
        p = v.true_value if leg_yes else 1 - v.true_value
        assert min(model_yes, market_yes) <= p <= max(model_yes, market_yes)
        o = Fraction(int(outcome))
        pooled += (p - o) ** 2
        model += (model_yes - o) ** 2
        market += (market_yes - o) ** 2
    assert pooled <= (1 - w) * model + w * market


def test_decide_prices_from_others_and_ignores_our_own_quote():
    """Model YES 0.60. On A others bid 0.30 and ask 0.50 (mid 0.40) and our own bid rests
    inside at 0.45: at w = 1/2 A is worth 0.50 whatever our order does, and its quote bids
    floor(0.50 × 0.75) = 0.37. On B the same book is someone else's: mid 0.475, worth
    0.5375. At w = 0 both are the model's 0.60 (bid 0.45)."""
    levels = {"bids": ((4500, 1000), (3000, 500)), "asks": ((5000, 500),)}
    books = {t: core.BookView(best_bid=4500, best_ask=5000, fresh=True, **levels)
             for t in (A, B)}
    kw = {"books": books, "orders": [resting(A, price=4500, remaining=1000)],
          "market_max_spread": 2000}
    pooled_inputs = inputs(market_weight=Fraction(1, 2), **kw)
    values = core.pooled_valuations(pooled_inputs)
    assert values[A].true_value == Fraction(1, 2)
    assert values[B].true_value == Fraction(5375, 10_000)
    assert {q.ticker: q.price for q in core.decide(pooled_inputs).quotes}[A] == 3700
    alone_inputs = inputs(market_weight=Fraction(0), **kw)
    assert core.pooled_valuations(alone_inputs)[A].true_value == Fraction(3, 5)
    assert {q.ticker: q.price for q in core.decide(alone_inputs).quotes}[A] == 4500


def test_a_stale_or_wide_book_leaves_the_model_alone():
    books = {A: core.BookView(bids=((3000, 100),), asks=((3400, 100),), fresh=False),
             B: core.BookView(bids=((1000, 100),), asks=((9000, 100),), fresh=True)}
    values = core.pooled_valuations(
        inputs(books=books, market_weight=Fraction(1, 2), market_max_spread=1000))
    assert values[A].true_value == values[B].true_value == Fraction(3, 5)


def _leg(ticker: str) -> str:
    """The model's leg: YES iff the prediction (2,461,234) is above the strike."""
    return "yes" if float(ticker.rsplit("-A", 1)[1]) * 1e6 < 2_461_234 else "no"


@pytest.fixture(name="quote_env")
def _quote_env(tmp_path: Path) -> Path:
    """A seed config (a history of 100 errors), a prediction, and a saved book 0.40/0.44
    on every strike."""
    rows = ["date,passengers_7_day_moving_average,prediction"]
    for i in range(100):
        rows.append(f"2025-01-{1 + i % 28:02d},{2_000_000 + 1000 * (i - 50)},2000000")
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "prediction.json").write_text(json.dumps({"2026-11-29": {"prediction": 2461234}}))
    payload = _event_payload()
    for m in payload["markets"]:
        m["yes_bid_dollars"], m["yes_ask_dollars"] = "0.4000", "0.4400"
    (tmp_path / "event.json").write_text(json.dumps(payload))
    (tmp_path / "config.toml").write_text(
        '[exchange]\nenvironment = "paper"\n\n[model]\nprediction_path = "prediction.json"\n'
        'history_path = "history.csv"\nhooks = ["seed"]\n')
    return tmp_path


def _quote(d: Path, capsys, *extra: str) -> dict[str, dict[str, object]]:
    rc = main(["quote", "--config", str(d / "config.toml"), "--markets", str(d / "event.json"),
               "--json", "--now", "2026-11-23T15:00:00+00:00", *extra])
    assert rc == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {str(r["ticker"]): r for r in rows}


def test_quote_pools_with_the_saved_book_by_default(quote_env: Path, capsys) -> None:
    """`tsad quote` prices from the model pooled half and half with the saved book's mid
    (YES 0.42), shows both, and `--ignore-book` gives the model's value alone."""
    pooled = _quote(quote_env, capsys)
    alone = _quote(quote_env, capsys, "--ignore-book")
    for t, row in pooled.items():
        model = alone[t]["true_value"]
        assert isinstance(model, float)
        leg_market = 0.42 if _leg(t) == "yes" else 0.58
        assert row["model_value"] == model
        assert row["market_value"] == pytest.approx(leg_market)
        assert row["true_value"] == pytest.approx((model + leg_market) / 2)
        assert alone[t]["market_value"] is None
    assert len(pooled) == 23


async def test_the_daemon_prices_from_others_and_not_from_its_own_quote(
    tmp_path: Path, sim, key_id, key_file
) -> None:
    """A running daemon against the emulator, started with ``market_weight = 0``: the value
    is the model's. Others are then left bidding 20¢ below our YES bid and asking 8¢ above
    it, and a reload sets ``market_weight = 0.5``: `tsad status` shows the model's value
    pooled with *their* mid (6¢ below our price), and it stays there as our bid moves.
    (Counting our own bid, the mid would be 4¢ above it, then follow our bid around.)"""
    from tests.daemon_process import quoting_daemon
    from tests.test_status import tsad
    from tsad.core.money import parse_price

    async def markets(config: Path) -> list[dict[str, Any]]:
        rc, out, err = await tsad("status", "--config", str(config), "--json")
        assert rc == 0, err
        rows: list[dict[str, Any]] = json.loads(out)["markets"]
        return rows

    async with quoting_daemon(tmp_path, sim, key_id, key_file,
                              model_extra="market_weight = 0\n") as (config, daemon):
        quoted = next(m for m in await markets(config)
                      if m["order"] is not None and m["order"]["book_side"] == "bid")
        ticker = str(quoted["ticker"])
        model = Fraction(parse_price(str(quoted["true_value"])), 10_000)
        price = parse_price(str(quoted["order"]["price"]))
        for o in sim.resting_orders(user="outside"):
            if o.ticker == ticker:
                sim.cancel_order(o.order_id)
        assert 2000 < price < 9200
        sim.add_order(ticker, BookSide.BID, price - 2000, 500)
        sim.add_order(ticker, BookSide.ASK, price + 800, 500)
        config.write_text(config.read_text().replace(
            "market_weight = 0\n", "market_weight = 0.5\nmarket_max_spread = 0.50\n"))
        daemon.signal(signal.SIGHUP)
        await daemon.wait_for("config.reloaded")
        expected = (model + Fraction(price - 600, 10_000)) / 2

        async def value() -> Fraction:
            row = next(m for m in await markets(config) if m["ticker"] == ticker)
            return Fraction(parse_price(str(row["true_value"])), 10_000)

        async with asyncio.timeout(15):
            while (seen := await value()) == model:
                await asyncio.sleep(0.2)
        # The status rounds down to $0.0001, and so was the model's value read.
        assert abs(seen - expected) <= Fraction(1, 10_000), (seen, expected)
        await asyncio.sleep(1.0)  # our bid has moved since; the value stays
        assert abs(await value() - expected) <= Fraction(1, 10_000)
