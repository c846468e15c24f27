"""The seeded chaos run: a real daemon against the emulator under faults, signals and restarts.

``python -m bench.chaos --seconds 200 --seed N`` starts an emulator in process (outside
traders on, its own rare random faults underneath unless ``--no-background``), a ``tsad run``
subprocess pointed at it, and then one seeded fault after another (each kind once first):
websocket drops, seq gaps, 5xx and 429 bursts, writes applied but answered 503, writes
answered after the client's timeout, exchange and trading pauses, outside fills (also two
partial fills of one order), re-prices, corrupt forecast files, valid, invalid and
restart-only SIGHUPs, SIGTERM (mid-write, in a pause, during startup, and while every REST
answer is a 503) and kill -9 (also during startup), each followed by a restart.

The invariants (`bench.invariants`) are checked continuously from the emulator's side, at
each stop and restart, and against the journal at the end; it prints the figures and a
verdict and exits 1 on any violation. ``--skip KIND`` leaves a fault kind out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.chaos_daemon import ChaosDaemon
from bench.chaos_report import ChaosReport
from bench.harness import config_text, new_key, quiet_logs
from bench.invariants import (
    Ledger,
    Monitor,
    RequestCounter,
    compare_fills,
    reused_client_order_ids,
)
from tsad.clock import SystemClock
from tsad.core.orders import Order
from tsad.runtime import paper
from tsad.sim import Emulator
from tsad.sim.faults import Chaos


__all__ = ["ChaosReport", "main", "run_chaos"]

USER = "chaos-key"
PREFIX = "tsad"
OTHER_PREFIX = "tsadx"
COUNT = 10
MAX_POSITION = 30  # contracts: three fills of a full quote reach it
REQUEST_TIMEOUT = 3.0
READY_TIMEOUT = 60.0
EXIT_TIMEOUT = 60.0
MAX_FAILED_STARTS = 3
STOP_TIMEOUT = 8.0  # the daemon's own bound on a stop (a 503-stop lasts this long)


# Fault kinds: every one is tried once (in a seeded order) before the weighted draws.
WEIGHTS: dict[str, int] = {
    "ws_drop": 6, "seq_gap": 6, "burst_5xx": 6, "burst_429": 4, "write_timeout": 3,
    "applied_503": 4, "trading_pause": 3, "exchange_pause": 2, "outside_fill": 10,
    "partial_fills": 4, "reprice": 8, "corrupt_forecast": 3, "sighup_valid": 3,
    "sighup_invalid": 2,
    "sighup_restart_key": 2, "sigterm_restart": 3, "kill9_restart": 3, "stop_503": 1,
    "sigterm_in_pause": 1, "signal_in_startup": 2,
}
# The emulator's own random faults under the scheduled ones (per request or message).
BACKGROUND = Chaos(fail=0.01, fail_status=503, applied_fail=0.01, burst_429=0.003, burst_len=2,
                   delay=0.005, delay_s=0.5, drop=0.002, seq_gap=0.003)
# Kinds that need a long run (a stop that cannot be confirmed lasts the sweep's deadline).
LONG_ONLY = {"stop_503"}


class ChaosRun:
    """The run's state: the emulator, the current daemon, the ledger and the fault schedule."""

    def __init__(self, sim: Emulator, workdir: Path, key_file: Path, *, seed: int,
                 seconds: float, skip: frozenset[str] = frozenset()) -> None:
        self.sim = sim
        self.skip = skip
        self.workdir = workdir
        self.seed = seed
        self.seconds = seconds
        self.rng = random.Random(f"chaos-{seed}")
        self.ledger = Ledger()
        self.report = ChaosReport(seed=seed, seconds=seconds)
        self.requests = RequestCounter(sim)
        self.monitor = Monitor(sim, USER, max_position=MAX_POSITION * 100, prefix=PREFIX,
                               ledger=self.ledger)
        self.monitor.extra.append(self._exited_by_itself)
        self.config = workdir / "config.toml"
        self.config_text = config_text(
            sim, key_id=USER, key_file=key_file, timeout=REQUEST_TIMEOUT, count=COUNT,
            max_position=MAX_POSITION, exchange_extra=f'client_order_prefix = "{PREFIX}"\n',
            daemon_extra=f"stop_timeout = {STOP_TIMEOUT}\n")
        self.config.write_text(self.config_text)
        self.prediction = workdir / "prediction.json"
        paper.write_paper_inputs(
            prediction_path=self.prediction, history_path=workdir / "history.csv",
            event_ticker=sim.event_ticker, center=float(sim.fair_center),
            now=SystemClock().now(), seed=seed,
        )
        self.good_prediction = json.loads(self.prediction.read_text())
        self.daemon: ChaosDaemon | None = None
        self.daemons: list[ChaosDaemon] = []
        self.failed_starts = 0

    # --- the daemon's lifecycle ---------------------------------------------------------

    def violation(self, kind: str, detail: str) -> None:
        """Record a one-off violation."""
        self.ledger.flag(kind, detail)

    def _exited_by_itself(self) -> dict[tuple[str, str], str]:
        d = self.daemon
        if d is not None and d.returncode is not None and not d.expected_exit:
            tail = d.stderr.strip().splitlines()[-3:] or [
                str(ln) for ln in d.lines[-3:]]
            return {("exited_by_itself", str(d.index)):
                    f"daemon {d.index} exited {d.returncode} unasked: {tail}"}
        return {}

    def _check_stderr(self, d: ChaosDaemon) -> None:
        if "Traceback (most recent call last)" in d.stderr:
            lines = d.stderr.strip().splitlines()
            self.violation("traceback", f"daemon {d.index}: {' | '.join(lines[-4:])}")

    async def start_daemon(self) -> ChaosDaemon | None:
        """Start a daemon and wait until it is ready (a violation if it never is)."""
        d = ChaosDaemon(self.config, len(self.daemons))
        self.daemons.append(d)
        self.daemon = d
        await d.start()
        self.report.lifecycle["starts"] += 1
        got = await d.wait_for("daemon.ready", timeout=READY_TIMEOUT)
        if got is None:
            if d.returncode is None:
                self.violation("not_ready", f"daemon {d.index} not ready in {READY_TIMEOUT}s")
            await d.kill()
            self._check_stderr(d)
            self.failed_starts += 1
            return None
        self.failed_starts = 0
        return d

    async def ensure_daemon(self) -> ChaosDaemon | None:
        """Return the running daemon, starting one if it died."""
        if self.daemon is not None and self.daemon.returncode is None:
            return self.daemon
        if self.daemon is not None:
            self._check_stderr(self.daemon)
        return await self.start_daemon()

    def ours(self) -> list[Order]:
        """Our resting orders on the emulator."""
        return self.sim.resting_orders(user=USER)

    async def sigterm(self, *, expect_ok: bool | None) -> None:
        """SIGTERM the daemon and check its exit.

        ``expect_ok``: True — code 0 and nothing of ours resting; False — non-zero (the
        stop cannot be confirmed); None — either, but exit 0 only with nothing resting.
        """
        d = self.daemon
        if d is None or d.returncode is not None:
            return
        d.signal(signal.SIGTERM)
        rc = await d.wait_exit(EXIT_TIMEOUT)
        if rc is None:
            self.violation("stop_hung", f"daemon {d.index} still running {EXIT_TIMEOUT}s "
                                        "after SIGTERM")
            await d.kill()
            return
        self._check_stderr(d)
        resting = self.ours()
        if expect_ok:
            if rc != 0:
                self.violation("stop_nonzero", f"daemon {d.index} exit {rc} after SIGTERM "
                                               "with the exchange answering")
            if resting:
                self.violation("stop_left_orders", f"daemon {d.index} exit {rc}, "
                                                   f"{len(resting)} of ours still resting")
        elif expect_ok is None:
            if rc == 0 and resting:
                self.violation("stop_left_orders", f"daemon {d.index} exit 0, "
                                                   f"{len(resting)} of ours still resting")
        elif rc == 0:
            self.violation("unconfirmed_stop_exit_0",
                           f"daemon {d.index} exit 0 though every REST answer was a 503 "
                           f"({len(resting)} of ours still resting)")

    async def restart_after_crash(self, before: list[Order]) -> None:
        """Restart after kill -9 (or an unconfirmed stop) and check the orders were adopted."""
        d = await self.start_daemon()
        if d is None:
            return
        started = d.events("engine.started")
        adopted = int(started[-1].get("adopted", 0)) if started else 0
        await self.settle()
        ids = {o.order_id for o in self.ours()}
        still = [o for o in before if o.order_id in ids]
        if len(still) > adopted:
            self.violation("not_adopted",
                           f"daemon {d.index}: {len(still)} orders from before the restart "
                           f"still rest, {adopted} adopted")

    async def settle(self, quiet: float = 1.0, timeout: float = 15.0) -> None:
        """Wait (bounded) until our resting orders stop changing for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        last: list[tuple[str, str, int, int]] | None = None
        since = loop.time()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    snap = sorted((o.ticker, o.side.value, o.price, o.remaining)
                                  for o in self.ours())
                    if snap != last:
                        last, since = snap, loop.time()
                    elif loop.time() - since >= quiet:
                        return
                    await asyncio.sleep(0.05)

    # --- the faults ----------------------------------------------------------------------

    async def do(self, kind: str) -> None:
        """Inject one fault of ``kind`` (and wait out what it needs)."""
        action: Callable[[], Awaitable[bool]] = getattr(self, f"_f_{kind}")
        if await action():
            self.report.faults[kind] += 1

    async def _f_ws_drop(self) -> bool:
        self.sim.faults.drop_connections()
        return True

    async def _f_seq_gap(self) -> bool:
        self.sim.faults.skip_seq(1)
        return True

    async def _f_burst_5xx(self) -> bool:
        status = self.rng.choice([500, 502, 503, 504])
        self.sim.faults.fail_next(self.rng.randint(1, 4), status=status)
        return True

    async def _f_burst_429(self) -> bool:
        self.sim.faults.fail_next(self.rng.randint(1, 3), status=429)
        return True

    async def _f_write_timeout(self) -> bool:
        # The write is applied but answered after the client's timeout: an unknown outcome.
        self.sim.faults.delay_next(REQUEST_TIMEOUT + 1.0)
        return True

    async def _f_applied_503(self) -> bool:
        # The write is applied but answered 503, as a lost answer looks.
        self.sim.faults.fail_after_apply(self.rng.randint(1, 2), status=503)
        return True

    def _check_paused_empty(self, what: str) -> None:
        # [risk] cancel_order_on_pause (default true) stamps every create, so a pause
        # cancels our orders on the exchange's side at once.
        left = [o for o in self.ours() if o.client_order_id.startswith(PREFIX + "-")]
        if left:
            self.violation("rested_through_pause",
                           f"{len(left)} of ours still rest right after the {what} pause "
                           f"(created without cancel_order_on_pause), e.g. "
                           f"{left[0].client_order_id}")

    async def _pause(self, setter: Callable[[bool], None]) -> bool:
        setter(False)
        self._check_paused_empty("trading" if setter == self.sim.set_trading_active
                                 else "exchange")
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        if self.rng.random() < 0.3:
            self.sim.faults.drop_connections()
        setter(True)
        return True

    async def _f_trading_pause(self) -> bool:
        return await self._pause(self.sim.set_trading_active)

    async def _f_exchange_pause(self) -> bool:
        return await self._pause(self.sim.set_exchange_active)

    async def _f_outside_fill(self) -> bool:
        mine = self.ours()
        if not mine or not self.sim.trading_active:
            return False
        for o in self.rng.sample(mine, min(len(mine), self.rng.randint(1, 3))):
            count = o.remaining if self.rng.random() < 0.5 else max(100, o.remaining // 2)
            self.sim.fill_outside(o.order_id, count)
        return True

    async def _f_partial_fills(self) -> bool:
        # Half of one order, then (after the daemon answered) half of what rests on that
        # market and side again: the second fill lands on an amended, part-filled order.
        mine = self.ours()
        if not mine or not self.sim.trading_active:
            return False
        o = self.rng.choice(mine)
        self.sim.fill_outside(o.order_id, max(100, o.remaining // 2))
        await asyncio.sleep(self.rng.uniform(0.3, 1.0))
        again = [x for x in self.ours() if (x.ticker, x.side) == (o.ticker, o.side)]
        if again and self.sim.trading_active:
            self.sim.fill_outside(again[0].order_id, max(100, again[0].remaining // 2))
        return True

    def _write_prediction(self, factor: float) -> None:
        data = json.loads(json.dumps(self.good_prediction))
        for entry in data.values():
            entry["prediction"] = round(entry["prediction"] * factor)
        tmp = self.prediction.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.prediction)

    async def _f_reprice(self) -> bool:
        self._write_prediction(1.0 + self.rng.uniform(-0.03, 0.03))
        return True

    async def _f_corrupt_forecast(self) -> bool:
        text = self.prediction.read_text()
        bad = self.rng.choice(["{not json", text[: len(text) // 2], "", '{"x": 1}'])
        self.prediction.write_text(bad)
        # While the forecast is unusable nothing of ours may rest (bounded wait).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10.0):
                while self.ours():
                    await asyncio.sleep(0.05)
        d = self.daemon
        if self.ours() and d is not None and d.returncode is None:
            self.violation("quoted_on_corrupt_forecast",
                           f"{len(self.ours())} of ours rest 10 s after the prediction file "
                           f"became {bad[:20]!r}")
        self._write_prediction(1.0 + self.rng.uniform(-0.02, 0.02))
        return True

    async def _sighup(self, text: str, *expected: str) -> str | None:
        d = self.daemon
        if d is None or d.returncode is not None:
            return None
        self.config.write_text(text)
        d.signal(signal.SIGHUP)
        names = ("config.reload_refused", "config.reloaded", "config.reload_rejected")
        got = await d.wait_for(*names, timeout=15.0)
        self.config.write_text(self.config_text)
        if got not in expected:
            self.violation("sighup", f"daemon {d.index}: expected {' or '.join(expected)} "
                                     f"after SIGHUP, got {got}")
        return got

    async def _f_sighup_valid(self) -> bool:
        count = self.rng.choice([7, 8, 12])
        self.config_text = _set_key(self.config_text, "count", str(count))
        await self._sighup(self.config_text, "config.reloaded")
        return True

    async def _f_sighup_invalid(self) -> bool:
        bad = self.rng.choice([
            _set_key(self.config_text, "count", '"lots"'),
            _set_key(self.config_text, "margin", "1.5"),
            self.config_text + "\n[quoting]\n",
        ])
        await self._sighup(bad, "config.reload_rejected")
        return True

    async def _f_sighup_restart_key(self) -> bool:
        changed = _set_key(self.config_text, "client_order_prefix", f'"{OTHER_PREFIX}"')
        await self._sighup(changed, "config.reload_refused")
        return True

    async def _f_sigterm_restart(self) -> bool:
        if self.rng.random() < 0.5:  # a stop while re-price writes are in flight
            self._write_prediction(1.0 + self.rng.uniform(-0.03, 0.03))
            await asyncio.sleep(self.rng.uniform(0.0, 0.4))
        await self.sigterm(expect_ok=True)
        self.report.lifecycle["sigterm"] += 1
        await asyncio.sleep(self.rng.uniform(0.0, 1.0))
        await self.start_daemon()
        return True

    async def _f_sigterm_in_pause(self) -> bool:
        # A stop while trading is paused (cancels allowed) must end clean; while the whole
        # exchange is paused (cancels refused) exit 0 must still mean nothing of ours rests.
        whole = self.rng.random() < 0.5
        setter = self.sim.set_exchange_active if whole else self.sim.set_trading_active
        setter(False)
        self._check_paused_empty("exchange" if whole else "trading")
        await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        await self.sigterm(expect_ok=None if whole else True)
        self.report.lifecycle["sigterm_exchange_paused" if whole else "sigterm_paused"] += 1
        if whole and self.ours():
            self.report.lifecycle["exchange_paused_stop_left_orders"] += 1
        before = self.ours()
        setter(True)
        await self.restart_after_crash(before)
        return True

    async def _f_kill9_restart(self) -> bool:
        d = self.daemon
        if d is None or d.returncode is not None:
            return False
        # A random moment: right away, or a little after a change that makes it write.
        if self.rng.random() < 0.5:
            self._write_prediction(1.0 + self.rng.uniform(-0.03, 0.03))
            await asyncio.sleep(self.rng.uniform(0.0, 0.4))
        d.signal(signal.SIGKILL)
        await d.wait_exit(EXIT_TIMEOUT)
        self.report.lifecycle["kill9"] += 1
        before = self.ours()
        await asyncio.sleep(self.rng.uniform(0.0, 1.5))
        await self.restart_after_crash(before)
        return True

    async def _f_signal_in_startup(self) -> bool:
        # kill -9 leaves our orders resting; the next daemon gets SIGTERM or SIGKILL while it
        # starts (reading, adopting, cancelling). SIGTERM must still leave nothing resting.
        d = self.daemon
        if d is None or d.returncode is not None:
            return False
        d.signal(signal.SIGKILL)
        await d.wait_exit(EXIT_TIMEOUT)
        nd = ChaosDaemon(self.config, len(self.daemons))
        self.daemons.append(nd)
        self.daemon = nd
        await nd.start()
        self.report.lifecycle["starts"] += 1
        await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        if self.rng.random() < 0.5:
            await self.sigterm(expect_ok=True)
            self.report.lifecycle["sigterm_in_startup"] += 1
            await self.start_daemon()
        else:
            nd.signal(signal.SIGKILL)
            await nd.wait_exit(EXIT_TIMEOUT)
            self.report.lifecycle["kill9_in_startup"] += 1
            await self.restart_after_crash(self.ours())
        return True

    async def _f_stop_503(self) -> bool:
        # Every REST answer fails during the stop: it cannot be confirmed, so exit non-zero.
        self.sim.faults.fail_next(100_000, status=503)
        await self.sigterm(expect_ok=False)
        self.report.lifecycle["stop_503"] += 1
        self.requests.disarm()
        before = self.ours()
        await self.restart_after_crash(before)
        return True

    # --- the run -------------------------------------------------------------------------

    def kinds(self) -> list[str]:
        """The fault kinds this run uses."""
        return [k for k in WEIGHTS if (self.seconds >= 60 or k not in LONG_ONLY)
                and k not in self.skip]

    async def run(self) -> ChaosReport:
        """Run the schedule for ``seconds``, then stop, catch up and compare."""
        t0 = time.monotonic()
        monitor = asyncio.create_task(self.monitor.run())
        try:
            if await self.start_daemon() is None:
                await self.start_daemon()
            await self.settle()
            first = self.kinds()
            self.rng.shuffle(first)
            end = t0 + self.seconds
            kinds = self.kinds()
            weights = [WEIGHTS[k] for k in kinds]
            while time.monotonic() < end:
                kind = first.pop(0) if first else self.rng.choices(kinds, weights)[0]
                if await self.ensure_daemon() is None:
                    if self.failed_starts >= MAX_FAILED_STARTS:
                        self.violation("cannot_start", f"{self.failed_starts} starts in a row "
                                                       "never became ready; run abandoned")
                        break
                    continue
                await self.do(kind)
                await asyncio.sleep(self.rng.uniform(0.1, 0.8))
            await self.finish()
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            for d in self.daemons:
                await d.kill()
        self.report.wall = time.monotonic() - t0
        return self.summarize()

    async def finish(self) -> None:
        """Calm the exchange, stop the daemon, then compare fills (after a catch-up start)."""
        self.sim.faults.stop_chaos()
        self.requests.disarm()
        self.sim.resume()
        self._write_prediction(1.0)
        self.config.write_text(self.config_text)
        if self.failed_starts >= MAX_FAILED_STARTS:
            return
        if await self.ensure_daemon() is not None:
            await self.settle()
            await self.sigterm(expect_ok=True)
            self.report.lifecycle["sigterm"] += 1
        journal = self.workdir / "state" / "journal.sqlite3"
        check = compare_fills(self.sim, USER, journal)
        self.report.fills_missing_before_catchup = len(check.missing)
        # A catch-up start with trading paused (nothing placed, nothing filled) journals
        # fills that landed while no daemon could see them, as any restart does.
        self.sim.set_trading_active(False)
        if await self.start_daemon() is not None:
            await self.sigterm(expect_ok=True)
        self.sim.set_trading_active(True)
        self.report.fills = compare_fills(self.sim, USER, journal)

    def summarize(self) -> ChaosReport:
        """Fold the ledger and the end-of-run checks into the report."""
        r = self.report
        f = r.fills
        if f is not None:
            for t in f.missing:
                self.violation("fill_not_journaled", t)
            for t in f.extra:
                self.violation("fill_journaled_not_on_exchange", t)
            for t in f.mismatched:
                self.violation("fill_mismatch", t)
        for coid, n in reused_client_order_ids(self.sim, USER).items():
            self.violation("client_order_id_reused", f"{coid} on {n} orders")
        r.statuses = dict(self.requests.statuses())
        r.injected = dict(self.requests.injected())
        r.real_429 = self.requests.real(429)
        r.emulator_faults = dict(self.sim.faults.injected)
        for status, n in self.requests.drained.items():  # drained unanswered, not injected
            r.emulator_faults[f"fail_{status}"] -= n
        if r.real_429:
            self.violation("real_429", f"{r.real_429} 429 answers beyond the injected ones")
        for d in self.daemons:
            if d.returncode is not None:
                self._check_stderr(d)
        r.samples = self.monitor.samples
        r.orders_created = len(self.sim.engine.orders(USER))
        seen: set[tuple[str, str]] = set()
        for e in self.ledger.episodes:
            if e.kind == "traceback" and (e.kind, e.detail) in seen:
                continue
            seen.add((e.kind, e.detail))
            r.by_kind[e.kind] += 1
            extra = f" ({e.samples} samples)" if e.samples > 1 else ""
            r.violations.append(f"[{e.at:7.2f}s] {e.kind}: {e.detail}{extra}")
        return r


def _set_key(text: str, key: str, value: str) -> str:
    """Return the config ``text`` with the first ``key = …`` line set to ``value``."""
    out = []
    done = False
    for line in text.splitlines():
        if not done and line.split("=", 1)[0].strip() == key:
            out.append(f"{key} = {value}")
            done = True
        else:
            out.append(line)
    return "\n".join(out) + "\n"


async def run_chaos(*, seconds: float, seed: int, workdir: Path,
                    skip: frozenset[str] = frozenset(), background: bool = False) -> ChaosReport:
    """Run the chaos schedule in ``workdir`` against a fresh emulator; return the report.

    ``background`` also turns on the emulator's own seeded chaos mode (rare random
    failures, applied-but-503 writes, 429 bursts, late answers, drops and seq gaps), so
    faults overlap the scheduled ones at moments no schedule picks.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    key_file, public = new_key(workdir)
    async with Emulator(now=None, seed=seed, outside_traders=True, trader_rate=3.0,
                        fair_drift=0.005) as sim:
        sim.register_key(USER, public)
        if background:
            sim.start_chaos(BACKGROUND, seed)
        return await ChaosRun(sim, workdir, key_file, seed=seed, seconds=seconds,
                              skip=skip).run()


def main(argv: list[str] | None = None) -> int:
    """Run from the command line; print the summary; exit 1 on any violation."""
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--seconds", type=float, default=200.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None,
                   help="where config, journal and daemon logs go (default: a temp dir)")
    p.add_argument("--no-background", action="store_true",
                   help="no random faults from the emulator's own chaos mode")
    p.add_argument("--skip", action="append", default=[], choices=sorted(WEIGHTS),
                   help="leave out a fault kind (repeatable), to isolate a finding")
    args = p.parse_args(argv)
    quiet_logs()
    if args.workdir is None:
        import tempfile

        args.workdir = Path(tempfile.mkdtemp(prefix="tsad-chaos-"))
    report = asyncio.run(run_chaos(seconds=args.seconds, seed=args.seed, workdir=args.workdir,
                                   skip=frozenset(args.skip),
                                   background=not args.no_background))
    print(report.render())
    print(f"logs and journal: {args.workdir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
