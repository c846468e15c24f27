"""The chaos run's invariant checks, read from the emulator's state (the truth) and the journal."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsad.core.orders import BookSide
from tsad.sim import Emulator


__all__ = [
    "Episode",
    "FillCheck",
    "Ledger",
    "Monitor",
    "RequestCounter",
    "compare_fills",
    "reused_client_order_ids",
]


@dataclass(slots=True)
class Episode:
    """One violation: a kind, what was seen first, when, and how many samples showed it."""

    kind: str
    key: str
    detail: str
    at: float
    samples: int = 1


@dataclass(slots=True)
class Ledger:
    """Every violation of the run, as episodes (a condition seen on consecutive samples is one)."""

    started: float = field(default_factory=time.monotonic)
    episodes: list[Episode] = field(default_factory=list)
    _open: dict[tuple[str, str], Episode] = field(default_factory=dict)

    def now(self) -> float:
        """Return the seconds since the run started."""
        return time.monotonic() - self.started

    def flag(self, kind: str, detail: str, *, key: str = "") -> None:
        """Record a one-off violation (``key`` groups continuous sightings, see `observe`)."""
        self.episodes.append(Episode(kind, key, detail, round(self.now(), 2)))

    def observe(self, seen: dict[tuple[str, str], str]) -> None:
        """Record one sample of continuous conditions: ``(kind, key) → detail`` seen now.

        A condition still present from the previous sample extends its episode; one that
        disappeared closes it.
        """
        for k in list(self._open):
            if k not in seen:
                del self._open[k]
        for k, detail in seen.items():
            ep = self._open.get(k)
            if ep is None:
                ep = Episode(k[0], k[1], detail, round(self.now(), 2))
                self._open[k] = ep
                self.episodes.append(ep)
            else:
                ep.samples += 1

    def by_kind(self) -> Counter[str]:
        """Return the number of episodes of each kind."""
        return Counter(e.kind for e in self.episodes)


class Monitor:
    """Samples the emulator continuously and flags what must never be seen there.

    - two live orders of ours on one market and side;
    - position + resting on a leg above ``max_position`` (YES leg: position + resting bids;
      NO leg: −position + resting asks);
    - a resting order of ours whose client_order_id does not carry the configured prefix
      (a refused restart-only reload must never change it).
    """

    def __init__(self, sim: Emulator, user: str, *, max_position: int, prefix: str,
                 ledger: Ledger, interval: float = 0.02) -> None:
        self.sim = sim
        self.user = user
        self.max_position = max_position
        self.prefix = prefix
        self.ledger = ledger
        self.interval = interval
        self.samples = 0
        self.extra: list[Callable[[], dict[tuple[str, str], str]]] = []

    def sample(self) -> None:
        """Check the emulator's state once."""
        seen: dict[tuple[str, str], str] = {}
        orders = self.sim.resting_orders(user=self.user)
        per_side: defaultdict[tuple[str, BookSide], list[Any]] = defaultdict(list)
        for o in orders:
            per_side[(o.ticker, o.side)].append(o)
            if not o.client_order_id.startswith(self.prefix + "-"):
                seen[("foreign_prefix", o.order_id)] = (
                    f"{o.ticker} {o.side.value} client_order_id={o.client_order_id!r}")
        for (ticker, side), group in per_side.items():
            if len(group) > 1:
                seen[("two_live_orders", f"{ticker}/{side.value}")] = ", ".join(
                    f"{o.client_order_id}@{o.price}x{o.remaining}" for o in group)
        for ticker in self.sim.markets:
            pos = self.sim.position(self.user, ticker)
            bids = sum(o.remaining for o in per_side.get((ticker, BookSide.BID), []))
            asks = sum(o.remaining for o in per_side.get((ticker, BookSide.ASK), []))
            if pos + bids > self.max_position:
                seen[("position_plus_resting", f"{ticker}/yes")] = (
                    f"{ticker}: position {pos} + resting bids {bids} > {self.max_position}")
            if -pos + asks > self.max_position:
                seen[("position_plus_resting", f"{ticker}/no")] = (
                    f"{ticker}: -position {-pos} + resting asks {asks} > {self.max_position}")
        for check in self.extra:
            seen.update(check())
        self.ledger.observe(seen)
        self.samples += 1

    async def run(self) -> None:
        """Sample forever (cancel to stop)."""
        while True:
            self.sample()
            await asyncio.sleep(self.interval)


class RequestCounter:
    """Counts the emulator's REST answers, telling injected failures from real ones.

    The emulator counts every fault it hands out (``faults.injected``: ``fail_<status>``
    before applying, ``applied_fail`` answered 503 after applying); a 429 in the request log
    beyond the injected ones is one the client drew for real.
    """

    def __init__(self, sim: Emulator) -> None:
        self.sim = sim
        self.drained: Counter[int] = Counter()

    def statuses(self) -> Counter[int]:
        """Return every REST answer's status, counted."""
        return Counter(r.status for r in self.sim.request_log)

    def injected(self) -> Counter[int]:
        """Return the injected failures that were answered, by status."""
        out: Counter[int] = Counter()
        for kind, n in self.sim.faults.injected.items():
            if kind.startswith("fail_") and kind[5:].isdigit():
                out[int(kind[5:])] += n
            elif kind == "applied_fail":
                out[503] += n
        out.subtract(self.drained)
        return +out

    def real(self, status: int) -> int:
        """Return how many answers had ``status`` beyond the injected ones."""
        return max(0, self.statuses()[status] - self.injected()[status])

    def disarm(self) -> int:
        """Drop every failure still queued (not counted as injected); return how many."""
        n = 0
        while (status := self.sim.faults.take_failure()) is not None:
            self.drained[status] += 1
            n += 1
        return n


@dataclass(frozen=True, slots=True)
class FillCheck:
    """Our fills on the emulator against the journal's, by trade id."""

    emulator: int
    journal: int
    missing: list[str]
    extra: list[str]
    mismatched: list[str]

    @property
    def ok(self) -> bool:
        """True when every fill is journaled once with its order and count."""
        return not (self.missing or self.extra or self.mismatched)


def compare_fills(sim: Emulator, user: str, journal_path: Path) -> FillCheck:
    """Compare the emulator's fills for ``user`` with the journal's ``fills`` table."""
    ours = {f.trade_id: f for f in sim.engine.fills if f.user == user}
    rows: dict[str, tuple[str, int]] = {}
    total = 0
    if journal_path.exists():
        db = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
        try:
            for trade_id, order_id, count in db.execute(
                    "SELECT trade_id, order_id, count FROM fills"):
                rows[trade_id] = (order_id, count)
                total += 1
        finally:
            db.close()
    missing = sorted(set(ours) - set(rows))
    extra = sorted(set(rows) - set(ours))
    mismatched = [
        f"{t}: emulator {ours[t].order_id} x{ours[t].count}, journal {rows[t][0]} x{rows[t][1]}"
        for t in sorted(set(ours) & set(rows))
        if (ours[t].order_id, ours[t].count) != rows[t]
    ]
    if total != len(rows):
        mismatched.append(f"journal holds {total} fill rows for {len(rows)} trade ids")
    return FillCheck(len(ours), total, missing, extra, mismatched)


def reused_client_order_ids(sim: Emulator, user: str) -> dict[str, int]:
    """Return every client_order_id that more than one of ``user``'s orders carried."""
    ids = Counter(o.client_order_id for o in sim.engine.orders(user) if o.client_order_id)
    return {k: n for k, n in ids.items() if n > 1}
