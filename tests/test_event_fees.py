"""An event's own fee schedule (Kalshi's event-level fee override): read, announced, applied."""

from __future__ import annotations

import json
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest

from tests.daemon_process import DaemonProcess, quoting_daemon, write_config
from tsad.core.fees import FeeSchedule, FeeType, with_override
from tsad.core.orders import BookSide
from tsad.kalshi import wire


def test_an_override_takes_precedence_and_clears() -> None:
    series = FeeSchedule()
    assert with_override(series, None, None) is series
    maker = with_override(series, "quadratic_with_maker_fees", 0.5)
    assert maker.fee_type is FeeType.QUADRATIC_WITH_MAKER_FEES
    assert maker.multiplier == Fraction(1, 2)
    with pytest.raises(ValueError, match="nope"):
        with_override(series, "nope", 1)


@pytest.mark.parametrize(
    ("msg", "fee_type", "multiplier"),
    [
        pytest.param({"event_ticker": "KXBTCD-26MAY2018", "fee_type_override": "quadratic",
                      "fee_multiplier_override": 1}, "quadratic", 1.0, id="set"),
        pytest.param({"event_ticker": "KXBTCD-26MAY2018", "fee_type_override": None,
                      "fee_multiplier_override": None}, None, None, id="cleared"),
    ],
)
def test_the_specs_examples_decode(msg, fee_type, multiplier) -> None:
    """The AsyncAPI document's two examples of ``event_fee_update``."""
    decoded = wire.decode_ws(json.dumps({"type": "event_fee_update", "sid": 5, "msg": msg}))
    assert decoded == wire.EventFeeUpdate(sid=5, event_ticker="KXBTCD-26MAY2018",
                                          fee_type=fee_type, fee_multiplier=multiplier)


def test_an_event_read_carries_its_override() -> None:
    payload = {"event": {"event_ticker": "KXTSAW-26NOV29", "series_ticker": "KXTSAW",
                         "fee_type_override": "flat", "fee_multiplier_override": 0.02,
                         "markets": []}}
    event = wire.decode_event(payload)
    assert (event.fee_type_override, event.fee_multiplier_override) == ("flat", 0.02)
    del payload["event"]["fee_type_override"], payload["event"]["fee_multiplier_override"]
    assert wire.decode_event(payload).fee_type_override is None


async def test_the_daemon_takes_an_override_and_its_fills_pay_it(
    tmp_path: Path, sim, key_id, key_file
) -> None:
    """A running daemon: the exchange sets a maker-fee override on our event; the daemon
    logs the schedule it now prices with, a fill on our resting bid pays the maker fee the
    emulator charges, and the journal records it; clearing it goes back to the series'."""
    async with quoting_daemon(tmp_path, sim, key_id, key_file) as (_, daemon):
        sim.set_event_fee_override(sim.event_ticker, "quadratic_with_maker_fees", 1)
        await daemon.wait_for("fees.updated")
        update = daemon.events("fees.updated")[-1]
        assert update["fee_type"] == "quadratic_with_maker_fees" and update["override"] is True
        bid = next(o for o in sim.resting_orders(user=key_id) if o.side is BookSide.BID)
        sim.fill_outside(bid.order_id, 100)  # an outside seller takes one contract of it
        await daemon.wait_for("order.filled")
        fill = next(f for f in sim.engine.fills if f.order_id == bid.order_id)
        # quadratic_with_maker_fees: a maker pays 0.0175 × C × P × (1 − P), rounded up.
        assert fill.fee > 0
        sim.set_event_fee_override(sim.event_ticker, None)
        await daemon.wait_for("fees.updated", count=2)
        assert daemon.events("fees.updated")[-1]["override"] is False
        assert await daemon.stop() == 0
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite3") as db:
        journaled = db.execute("SELECT fee FROM fills WHERE order_id = ?",
                               (bid.order_id,)).fetchall()
    assert journaled == [(fill.fee,)]


async def test_a_start_reads_the_override_from_the_event(
    tmp_path: Path, sim, key_id, key_file
) -> None:
    """An override already set when the daemon starts comes with the event it reads."""
    sim.set_event_fee_override(sim.event_ticker, "quadratic_with_maker_fees", 0.5)
    config = write_config(tmp_path, sim, key_id, key_file)
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        await daemon.wait_for("engine.started")
        started = daemon.events("engine.started")[-1]
        assert (started["fee_type"], started["fee_multiplier"]) == (
            "quadratic_with_maker_fees", "1/2")
    finally:
        await daemon.kill()
