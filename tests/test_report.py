"""Tests for `tsad report`: FIFO PnL tables, JSON and table output from a populated journal."""

from __future__ import annotations

import argparse
import io
import json
import socket
from datetime import UTC, datetime, timedelta
from fractions import Fraction as F
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, strategies as st

from tsad.commands.report import build_report, cmd_report, dollars, register_report
from tsad.core.orders import BookSide, Fill, Order, OrderStatus
from tsad.core.pnl import market_pnl, settlement_value
from tsad.runtime.journal import Journal, Mark, Settlement


T = "KXTSAW-24SEP08-A2.45"
U = "KXTSAW-24SEP08-A2.50"
V = "KXTSAW-24SEP15-A2.45"
T0 = datetime(2024, 9, 4, 14, 0, tzinfo=UTC)
BID, ASK = BookSide.BID, BookSide.ASK


def _fills(ticker: str, *trades: tuple[BookSide, int, int, int]) -> list[Fill]:
    """Build fills from (side, price, count, fee) tuples, one minute apart."""
    return [
        Fill(trade_id=f"{ticker}-{i}", order_id=f"o-{i}", ticker=ticker, side=side, price=price,
             count=count, fee=fee, ts=T0 + timedelta(minutes=i))
        for i, (side, price, count, fee) in enumerate(trades)
    ]


@pytest.mark.parametrize(
    ("trades", "mid", "position", "gross", "unrealized", "fees"),
    [
        pytest.param([(BID, 4000, 1000, 0)], 5000, 1000, 0, 1_000_000, 0, id="long-marked-up"),
        pytest.param([(BID, 4000, 1000, 0), (ASK, 5500, 400, 0)], 5500, 600, 600_000, 900_000,
                     0, id="partial-close"),
        pytest.param([(ASK, 7000, 1000, 0), (BID, 6000, 1000, 0)], None, 0, 1_000_000, 0, 0,
                     id="short-yes-closed-at-profit"),
        pytest.param([(BID, 3000, 500, 0), (BID, 5000, 500, 0), (ASK, 4500, 700, 0)], 4500,
                     300, 650_000, -150_000, 0, id="fifo-two-lots"),
        pytest.param([(BID, 4000, 500, 0), (ASK, 6000, 800, 0)], 5000, -300, 1_000_000,
                     300_000, 0, id="flip-to-short"),
        pytest.param([(BID, 5600, 1000, 12_000), (BID, 5600, 1000, 12_100)], 5600, 2000, 0, 0,
                     24_100, id="fees-summed"),
    ],
)
def test_market_pnl_fifo(trades, mid, position, gross, unrealized, fees) -> None:
    """Positions, FIFO realized (after fees) and mid-marked PnL are exact integers."""
    s = market_pnl(T, _fills(T, *trades), mid=mid)
    assert (s.position, s.realized, s.unrealized_mid, s.fees) == (
        position, gross - fees, unrealized, fees)


@pytest.mark.parametrize(
    ("trades", "result", "realized"),
    [
        # Bought 10 YES at 0.20 (fee 0.1120): YES pays 10 × 1.00.
        pytest.param([(BID, 2000, 1000, 112_000)], "yes", 8_000_000 - 112_000, id="yes-long"),
        pytest.param([(BID, 2000, 1000, 112_000)], "no", -2_000_000 - 112_000, id="no-long"),
        # Sold 5 YES at 0.70 (bought NO at 0.30): NO pays 5 × 1.00.
        pytest.param([(ASK, 7000, 500, 0)], "no", 3_500_000, id="no-short"),
        pytest.param([(ASK, 7000, 500, 0)], "yes", -1_500_000, id="yes-short"),
    ],
)
def test_settlement_closes_the_position(trades, result, realized) -> None:
    """A settlement realizes the open lots at $1 or $0; the position is then flat."""
    s = market_pnl(T, _fills(T, *trades), settlement=settlement_value(result))
    assert (s.position, s.realized, s.settled) == (0, realized, True)
    assert s.unrealized_mid == s.unrealized_fair == 0
    assert s.realized == s.cash - s.fees  # the account's cash change


def test_fair_mark_and_edge() -> None:
    """Unrealized at the true value and each fill's edge use tsad's value of YES."""
    fills = _fills(T, (BID, 4000, 1000, 0), (ASK, 6000, 400, 0))
    fair = {fills[0].trade_id: F(1, 2), fills[1].trade_id: F(11, 20)}
    s = market_pnl(T, fills, fair=F(3, 5), fair_at_fill=fair)
    # edge: 10 × (0.50 − 0.40) + 4 × (0.60 − 0.55) = 1.00 + 0.20
    assert s.edge == 1_200_000 and s.edge_fills == 2
    # 6 open at 0.40 valued at 0.60
    assert s.unrealized_fair == 1_200_000
    assert s.unrealized_mid is None  # no mid given and a position is open


@given(
    st.lists(
        st.tuples(st.sampled_from([BID, ASK]), st.integers(1, 99).map(lambda c: c * 100),
                  st.integers(1, 50).map(lambda n: n * 100), st.integers(0, 5000)),
        min_size=1, max_size=15,
    ),
    st.integers(0, 100).map(lambda c: c * 100),
)
def test_pnl_conserves_cash(trades, mark: int) -> None:
    """Realized + unrealized always equals cash flow less fees plus the position at the mark;
    settled at any value, realized equals the cash change."""
    fills = _fills(T, *trades)
    s = market_pnl(T, fills, mid=mark)
    cash = sum(-f.count * f.price if f.side is BID else f.count * f.price for f in fills)
    fees = sum(f.fee for f in fills)
    assert s.position == sum(f.count if f.side is BID else -f.count for f in fills)
    assert s.realized + s.unrealized_mid == cash - fees + s.position * mark
    settled = market_pnl(T, fills, settlement=mark)
    assert settled.realized == cash - fees + s.position * mark


def test_market_pnl_refuses_other_markets() -> None:
    """A fill of another market is an error, not silently mixed in."""
    with pytest.raises(ValueError, match=U):
        market_pnl(T, _fills(U, (BID, 4000, 100, 0)))


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        pytest.param(1_000_000, "1.0000", id="one-dollar"),
        pytest.param(-150_000, "-0.1500", id="negative"),
        pytest.param(12_345, "0.012345", id="sub-cent-needs-6"),
        pytest.param(0, "0.0000", id="zero"),
    ],
)
def test_dollars(amount: int, text: str) -> None:
    """Money formats exactly, with 6 decimals only when needed."""
    assert dollars(amount) == text


@pytest.fixture(name="journal_path")
def _journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "journal.db"
    with Journal.open(path) as j:
        for f in [*_fills(T, (BID, 4000, 1000, 7000), (ASK, 5500, 400, 3000)),
                  *_fills(U, (ASK, 3000, 500, 2000)), *_fills(V, (BID, 6100, 200, 1000))]:
            j.record_fill(f)
        j.record_orders([
            Order(order_id="o-r", client_order_id="tsad-r", ticker=U, side=BID, price=2500,
                  remaining=1000, filled=0, initial=1000, status=OrderStatus.RESTING),
            Order(order_id="o-x", client_order_id="tsad-x", ticker=T, side=BID, price=2600,
                  remaining=0, filled=0, initial=1000, status=OrderStatus.CANCELED),
        ])
    return path


def _run(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="tsad")
    register_report(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", *argv])
    out = io.StringIO()
    return cmd_report(args, stdout=out), out.getvalue()


def test_json_report_from_journal(journal_path: Path) -> None:
    """--json prints resting orders, per-market, per-week and total PnL as exact strings."""
    rc, text = _run("--journal", str(journal_path), "--json", "--mark", f"{U}=0.20")
    assert rc == 0
    data = json.loads(text)
    assert [o["order_id"] for o in data["resting"]] == ["o-r"]
    assert data["resting"][0]["price"] == "0.2500"
    pos = {p["ticker"]: p for p in data["markets"]}
    # T: bought 10 at 0.40, sold 4 at 0.55 → 0.60 realized − 0.0100 fees; 6 left at 0.55.
    # U: 0.0020 fees, V: 0.0010 fees.
    assert pos[T]["position"] == "6.00" and pos[T]["realized_dollars"] == "0.5900"
    assert pos[T]["unrealized_mid_dollars"] == "0.9000" and pos[T]["mid_source"] == "last_fill"
    assert pos[U]["position"] == "-5.00" and pos[U]["unrealized_mid_dollars"] == "0.5000"
    assert pos[U]["mid"] == "0.2000" and pos[U]["mid_source"] == "given"
    assert pos[V]["settled"] is False
    weeks = {w["event_ticker"]: w for w in data["weeks"]}
    assert weeks["KXTSAW-24SEP08"]["realized_dollars"] == "0.5880"
    assert weeks["KXTSAW-24SEP08"]["unrealized_mid_dollars"] == "1.4000"
    assert weeks["KXTSAW-24SEP08"]["fees_dollars"] == "0.0120"
    assert weeks["KXTSAW-24SEP15"]["cumulative_realized_dollars"] == "0.5870"
    assert data["pnl"]["fees_dollars"] == "0.0130"
    assert data["pnl"]["realized_dollars"] == "0.5870"
    assert data["pnl"]["unrealized_mid_dollars"] == "1.4000"
    assert data["pnl"]["unrealized_fair_dollars"] == "0.0000"
    assert len(data["fills"]) == 4 and data["exchange"] is None


def test_settlements_marks_and_csv(tmp_path: Path) -> None:
    """Settlements realize positions once; journaled marks value the rest; --csv exports both."""
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        fills = [*_fills(T, (BID, 4000, 1000, 7000)), *_fills(U, (ASK, 3000, 500, 2000)),
                 *_fills(V, (BID, 6100, 200, 1000))]
        for f, fair in zip(fills, [F(1, 2), F(3, 5), None], strict=True):
            j.record_fill(f, true_value=fair)
        assert j.record_settlement(Settlement(ticker=T, result="yes", value=10_000,
                                              source="lifecycle"))
        assert not j.record_settlement(Settlement(ticker=T, result="yes", value=10_000,
                                                  source="exchange", revenue=10_000_000))
        assert j.record_settlement(Settlement(ticker=U, result="no", value=0, source="exchange",
                                              revenue=5_000_000))
        j.record_marks([Mark(ticker=V, mid=6500, fair=F(7, 10))])
    rc, text = _run("--journal", str(path), "--json", "--csv", str(tmp_path / "out.csv"))
    assert rc == 0
    data = json.loads(text)
    pnl = data["pnl"]
    # T: 10 YES at 0.40 → +6.00 − 0.0070; U: sold 5 YES at 0.30, NO → +1.50 − 0.0020;
    # V open: only its fee 0.0010 is realized.
    assert pnl["realized_dollars"] == "7.4900"
    assert pnl["fees_dollars"] == "0.0100"
    assert pnl["unrealized_mid_dollars"] == "0.0800"  # 2 × (0.65 − 0.61)
    assert pnl["unrealized_fair_dollars"] == "0.1800"  # 2 × (0.70 − 0.61)
    assert pnl["edge_dollars"] == "-0.5000"  # 10 × (0.50 − 0.40) + 5 × (0.30 − 0.60)
    markets = {m["ticker"]: m for m in data["markets"]}
    assert markets[T]["result"] == "yes" and markets[T]["position"] == "0.00"
    assert markets[V]["mid_source"] == "book"
    assert [s["source"] for s in data["settlements"]] == ["exchange", "exchange"]
    csv = (tmp_path / "out.csv").read_text().splitlines()
    assert csv[0].startswith("kind,ts,ticker,side,price,count,fee_dollars")
    assert [r.split(",")[0] for r in csv[1:]] == ["fill"] * 3 + ["settlement"] * 2


def test_event_filter(journal_path: Path) -> None:
    """--event restricts fills, markets and resting orders to one event."""
    rc, text = _run("--journal", str(journal_path), "--json", "--event", "KXTSAW-24SEP15")
    data = json.loads(text)
    assert rc == 0
    assert [p["ticker"] for p in data["markets"]] == [V]
    assert data["resting"] == [] and [e["event_ticker"] for e in data["weeks"]] == [
        "KXTSAW-24SEP15"]


def test_table_report_is_aligned(journal_path: Path) -> None:
    """Without --json the report is aligned tables with every section."""
    rc, text = _run("--journal", str(journal_path), "--fills", "2")
    assert rc == 0
    assert text.splitlines()[2].startswith("PnL  realized 0.5870")
    for title in ("Resting orders", "Markets (3)", "Weeks (2)", "Fills (last 2 of 4)"):
        assert title in text
    lines = text.splitlines()
    start = lines.index("Markets (3)")
    header, rule = lines[start + 1], lines[start + 2]
    assert header.split() == ["ticker", "position", "mid", "mid_from", "realized", "fees",
                              "unreal_mid", "unreal_fair", "edge"]
    assert set(rule.replace(" ", "")) == {"-"}
    rows = lines[start + 3:start + 6]
    assert [r.split()[0] for r in rows] == [T, U, V]


def test_build_report_matches_journal(journal_path: Path) -> None:
    """build_report reads the same journal the daemon writes."""
    with Journal.open(journal_path) as j:
        report = build_report(j)
    assert [m.ticker for m in report.markets] == [T, U, V]
    assert sum(w.totals.fees for w in report.weeks) == 13_000


@pytest.mark.parametrize(
    ("argv", "rc", "message"),
    [
        pytest.param([], 78, "give --config or --journal", id="no-source"),
        pytest.param(["--journal", "{tmp}/missing.db"], 78, "does not exist", id="missing"),
        pytest.param(["--config", "{tmp}/nope.toml"], 78, "cannot read config", id="no-config"),
        pytest.param(["--journal", "{tmp}/garbage.db"], 1, "corrupt", id="corrupt"),
    ],
)
def test_errors_are_clear(tmp_path: Path, capsys, argv: list[str], rc: int, message: str) -> None:
    """Bad arguments and unreadable journals give an exit code and a message naming the file."""
    (tmp_path / "garbage.db").write_bytes(b"not sqlite" * 200)
    got, _ = _run(*[a.format(tmp=tmp_path) for a in argv])
    assert got == rc
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("mark", ["T-1", "=0.5", "T-1=abc", "T-1=1.5"])
def test_bad_mark_is_refused(mark: str, capsys) -> None:
    """A malformed --mark is an argparse error naming it."""
    with pytest.raises(SystemExit):
        _run("--journal", "x", "--mark", mark)
    assert "--mark" in capsys.readouterr().err


def test_config_gives_journal_path_in_paper_mode(tmp_path: Path, journal_path: Path) -> None:
    """With a paper config the journal path comes from it and the exchange is not asked."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[journal]\npath = "{journal_path}"\n')
    rc, text = _run("--config", str(cfg), "--json")
    assert rc == 0
    data = json.loads(text)
    assert data["journal"] == str(journal_path) and data["exchange"] is None


def test_unreachable_exchange_is_skipped(tmp_path: Path, journal_path: Path) -> None:
    """When the configured exchange cannot be reached the journal view is still printed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pem.chmod(0o600)
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("prediction.json", "history.csv"):
        (tmp_path / name).write_text("")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[exchange]\nenvironment = "demo"\n'
        f'rest_url = "http://127.0.0.1:{port}/trade-api/v2"\n'
        f'ws_url = "ws://127.0.0.1:{port}/trade-api/ws/v2"\n'
        f'key_id = "kid-123"\nprivate_key_path = "{pem}"\n'
        '[model]\nprediction_path = "prediction.json"\nhistory_path = "history.csv"\n'
        f'[journal]\npath = "{journal_path}"\n'
    )
    rc, text = _run("--config", str(cfg), "--timeout", "1")
    assert rc == 0
    assert "Exchange: not reachable" in text and "Markets (3)" in text
    assert "kid-123" not in text


def test_paper_stop_summary(tmp_path: Path) -> None:
    """The paper run's stop summary counts this run's fills and shows positions and PnL."""
    from tsad.runtime.paper import stop_summary

    with Journal.open(tmp_path / "j.db") as j:
        for f in [*_fills(T, (BID, 4000, 1000, 7000), (ASK, 5500, 400, 3000))]:
            j.record_fill(f, true_value=F(1, 2))
        j.record_marks([Mark(ticker=T, mid=5000, fair=F(3, 5))])
        text = stop_summary(j, since=T0 + timedelta(seconds=30))
    lines = text.splitlines()
    assert lines[0] == "paper summary: 1 fills this run (4.00 contracts), 2 in the journal"
    assert lines[1].startswith(f"  {T}: position 6.00, realized 0.5900")
    assert lines[2] == ("  PnL: realized 0.5900 (fees 0.0100), unrealized at mid 0.6000, "
                        "at true value 1.2000")


async def test_realized_equals_exchange_cash_through_settlement(sim, rsa_key, key_id,
                                                                tmp_path: Path) -> None:
    """Outside traders fill our orders on two markets (maker fills, and one taker fill that
    pays a fee), then one market settles YES and the other NO: the report's realized PnL,
    from the exchange's own fills and results, equals the account's cash change exactly."""
    from tsad.clock import SystemClock
    from tsad.core.orders import OrderRequest
    from tsad.kalshi.budget import Budget
    from tsad.kalshi.history import HistoryReader
    from tsad.kalshi.rest import KalshiClient
    from tsad.kalshi.signing import Signer

    picks = []
    for m in sim.event.markets:
        levels = sim.book_levels(m.ticker)
        bid = max((p for p, c in levels.yes if c > 0), default=None)
        best_no = max((p for p, c in levels.no if c > 0), default=None)
        if bid is not None and best_no is not None and 10_000 - best_no - bid >= 200:
            picks.append((m.ticker, bid, 10_000 - best_no))
    (yes_t, yes_bid, yes_ask), (no_t, _, no_ask) = picks[0], picks[1]
    before = sim.balance(key_id)
    client = KalshiClient(rest_url=sim.rest_url, signer=Signer(key_id, rsa_key),
                          clock=SystemClock())
    try:
        await client.create_order(OrderRequest(ticker=yes_t, side=BID, price=yes_bid + 100,
                                               count=1000, client_order_id="tsad-t-1"))
        await client.create_order(OrderRequest(ticker=no_t, side=ASK, price=no_ask - 100,
                                               count=700, client_order_id="tsad-t-2"))
        sim.add_order(yes_t, ASK, yes_bid + 100, 1000)  # outside sells into our bid
        sim.add_order(no_t, BID, no_ask - 100, 300)     # outside buys part of our ask
        # We take the outside ask ourselves (a taker fill pays the fee).
        await client.create_order(OrderRequest(
            ticker=yes_t, side=BID, price=yes_ask, count=300, client_order_id="tsad-t-3",
            post_only=False, time_in_force="immediate_or_cancel"))
        fills = await client.list_fills()
    finally:
        await client.aclose()
    assert any(f.fee > 0 for f in fills) and {f.ticker for f in fills} == {yes_t, no_t}
    sim.settle(yes_t, 1)
    sim.settle(no_t, 0)
    reader = HistoryReader(sim.rest_url, budget=Budget("basic"))
    try:
        results = {t: (await reader.get(f"/markets/{t}"))["market"] for t in (yes_t, no_t)}
    finally:
        await reader.aclose()
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        for f in fills:
            j.record_fill(f)
        for t, m in results.items():
            j.record_settlement(Settlement(ticker=t, result=m["result"],
                                           value=settlement_value(m["result"]),
                                           source="exchange"))
        report = build_report(j)
    cash = sim.balance(key_id) - before
    assert report.totals.realized == cash
    assert {m.ticker: m.result for m in report.markets} == {yes_t: "yes", no_t: "no"}
    assert all(m.pnl.position == 0 for m in report.markets)
