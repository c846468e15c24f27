"""The benchmark harness: result rows, statistics, machine facts and a daemon subprocess rig."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tsad.core.money import PRICE_ONE
from tsad.core.orders import BookSide, Order
from tsad.sim import Emulator


__all__ = [
    "KEY_ID",
    "MODEL_ONLY",
    "DaemonProcess",
    "Figure",
    "Repricer",
    "Row",
    "Summary",
    "config_text",
    "figure_main",
    "first_write_after",
    "machine",
    "new_key",
    "quiet_logs",
    "render",
    "running_daemon",
    "settle",
    "summarize",
    "write_workdir",
]

KEY_ID = "bench-key"

CONFIG = """\
[exchange]
environment = "demo"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
key_id = "{key_id}"
private_key_path = "{key_file}"
tier = "{tier}"
request_timeout = {timeout}
{exchange_extra}
[market]
series = "KXTSAW"

[model]
prediction_path = "prediction.json"
history_path = "history.csv"
hooks = ["realized_days"]
{model_extra}
[quoting]
margin = {margin}
min_true_value = 0.05
max_true_value = 0.95
count = {count}

[risk]
max_position = {max_position}
max_order_size = 50
max_event_loss = 1000000.0
halt_file = "halt"
cancel_on_exit = true
# On (every create joins the group), above the fill bursts the benches deal out on purpose.
order_group_contracts_limit = 1000

[journal]
path = "state/journal.sqlite3"

[daemon]
resync_interval = {resync_interval}
stale_market_seconds = 30.0
log_level = "info"
{daemon_extra}"""


#: ``[model]`` line for the rigs that predict each new price from the book's step-back alone:
#: the model's values, or the market's share (`tsad.core.consensus`) would move them too.
MODEL_ONLY = "market_weight = 0\n"


def config_text(
    sim: Any, *, key_id: str, key_file: Path, count: int, max_position: int,
    tier: str = "basic", timeout: float = 5.0, margin: float = 0.75,
    resync_interval: float = 2.0, exchange_extra: str = "", daemon_extra: str = "",
    model_extra: str = "",
) -> str:
    """Return a demo ``config.toml`` pointing at ``sim``.

    ``exchange_extra``, ``model_extra`` and ``daemon_extra`` are whole ``key = value`` lines
    (newline-ended) added to ``[exchange]``, ``[model]`` and ``[daemon]``.
    """
    return CONFIG.format(
        rest_url=sim.rest_url, ws_url=sim.ws_url, key_id=key_id, key_file=key_file,
        tier=tier, timeout=timeout, margin=margin, count=count, max_position=max_position,
        resync_interval=resync_interval, exchange_extra=exchange_extra,
        daemon_extra=daemon_extra, model_extra=model_extra)


# --- statistics and result rows ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Median and spread (10th/90th percentile) of a sample."""

    n: int
    median: float
    p10: float
    p90: float
    p99: float
    maximum: float


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile by linear interpolation (``sorted_values`` non-empty)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples: Sequence[float]) -> Summary:
    """Summarize a non-empty sample.

    Args:
        samples: the measured values.

    Returns:
        Count, median, p10, p90, p99 and maximum.

    Raises:
        ValueError: the sample is empty.
    """
    if not samples:
        raise ValueError("no samples")
    s = sorted(samples)
    return Summary(n=len(s), median=statistics.median(s), p10=_quantile(s, 0.10),
                   p90=_quantile(s, 0.90), p99=_quantile(s, 0.99), maximum=s[-1])


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One measured figure, with its baseline from the same run and its target."""

    metric: str
    unit: str
    value: Summary
    baseline_name: str = ""
    baseline: Summary | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        """Return baseline median ÷ value median (how many times better than the baseline)."""
        if self.baseline is None or self.value.median == 0:
            return None
        return self.baseline.median / self.value.median


@dataclass(slots=True, kw_only=True)
class Figure:
    """The rows and notes one benchmark script produces."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fmt(x: float) -> str:
    """Format a number compactly for tables."""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.3f}"
    return f"{x:.3g}"


def render(fig: Figure) -> str:
    """Render a figure as a markdown table plus its notes."""
    lines = [
        f"### {fig.name}",
        "",
        "| metric | unit | n | median | p10 | p90 | p99 | baseline | baseline median "
        "| ratio | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in fig.rows:
        v = r.value
        ratio = "" if r.ratio is None else f"{r.ratio:,.1f}×"
        base = "" if r.baseline is None else fmt(r.baseline.median)
        met = "" if r.met is None else ("yes" if r.met else "**NO**")
        lines.append(
            f"| {r.metric} | {r.unit} | {v.n} | {fmt(v.median)} | {fmt(v.p10)} | {fmt(v.p90)} "
            f"| {fmt(v.p99)} | {r.baseline_name} | {base} | {ratio} | {r.target} | {met} |"
        )
    lines.append("")
    lines += [n if n.startswith("|") or not n else f"- {n}" for n in fig.notes]
    if fig.notes and fig.notes[-1].startswith("|"):
        lines.append("")
    lines.append(f"- wall time of this figure: {fig.seconds:.1f} s")
    lines.append("")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """Describe the machine: CPU model, cores, memory, Python and OS."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "os": platform.platform(),
    }


def quiet_logs() -> None:
    """Keep the in-process emulator's info logs out of the benchmark's output."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def figure_main(name: str, measure: Callable[[bool], Coroutine[Any, Any, Figure]]) -> None:
    """Run one figure from the command line (``--quick``) and print its table."""
    quiet_logs()
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}")
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    args = parser.parse_args()
    t0 = time.perf_counter()
    fig = asyncio.run(measure(args.quick))
    fig.seconds = time.perf_counter() - t0
    print(render(fig))


# --- keys, work directories and the daemon subprocess -----------------------------------


def new_key(directory: Path) -> tuple[Path, bytes]:
    """Write a fresh RSA private key (PKCS#8, mode 0600) and return its path and public PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "kalshi-key.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public


def write_workdir(directory: Path, sim: Emulator, key_file: Path, *, count: int = 10,
                  max_position: int = 100, resync_interval: float = 2.0,
                  tier: str = "basic", margin: float = 0.75, model_extra: str = "") -> Path:
    """Write prediction, history and a demo config pointing at ``sim``; return the config."""
    from tsad.clock import SystemClock
    from tsad.runtime import paper

    paper.write_paper_inputs(
        prediction_path=directory / "prediction.json", history_path=directory / "history.csv",
        event_ticker=sim.event_ticker, center=float(sim.fair_center), now=SystemClock().now(),
        seed=1,
    )
    path = directory / "config.toml"
    path.write_text(config_text(
        sim, key_id=KEY_ID, key_file=key_file, count=count, max_position=max_position,
        resync_interval=resync_interval, tier=tier, margin=margin, model_extra=model_extra,
    ))
    return path


class DaemonProcess:
    """A daemon subprocess (``tsad run`` or the probe) whose JSON log lines are collected.

    Every output line is kept (``raw``) and appended to ``daemon.log`` beside the config for
    a post-mortem. ``env`` adds variables; ``$STATE_DIRECTORY`` is never inherited. The
    tests drive their daemons with this class too.
    """

    def __init__(self, config: Path, *, probe: bool = False,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], Any] | None = None) -> None:
        self.config = config
        self.probe = probe
        self.env = env or {}
        self.preexec_fn = preexec_fn
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self._reader: asyncio.Task[None] | None = None

    @property
    def tail(self) -> list[str]:
        """The last 40 output lines."""
        return self.raw[-40:]

    async def start(self) -> None:
        """Spawn the process (``started_at`` is perf_counter right before the spawn)."""
        env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
        env.update(PYTHONUNBUFFERED="1", **self.env)
        module = ["-m", "bench.probe"] if self.probe else ["-m", "tsad"]
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.started_at = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *module, "run", "--config", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            cwd=self.config.parent, limit=2**20, preexec_fn=self.preexec_fn,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with (self.config.parent / "daemon.log").open("a") as log_file:
            async for line in self.proc.stdout:
                text = line.decode(errors="replace").rstrip()
                self.raw.append(text)
                log_file.write(text + "\n")
                log_file.flush()
                try:
                    obj = json.loads(text)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    self.lines.append(obj)

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def events(self, name: str) -> list[dict[str, Any]]:
        """Return the log lines whose ``event`` is ``name``."""
        return [ln for ln in self.lines if ln.get("event") == name]

    async def wait_for(self, name: str, timeout: float = 30.0, count: int = 1) -> None:
        """Wait until ``count`` lines named ``name`` were logged."""
        async with asyncio.timeout(timeout):
            while len(self.events(name)) < count:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"daemon exited: {self.tail[-20:]}")
                await asyncio.sleep(0.02)

    def proc_status(self) -> dict[str, int]:
        """Read RSS (kB), threads and open file descriptors from /proc."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
        return out

    def cpu_seconds(self) -> float:
        """Return the process's user+system CPU time so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the exit code (TimeoutError if it overstays) and the last output."""
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            rc = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return rc

    async def stop(self, timeout: float = 40.0) -> int:
        """Send SIGTERM and wait for the exit code (killed if it overstays)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                rc = await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            rc = await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        return rc

    async def kill(self) -> None:
        """Kill the process if it still runs."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


async def settle(sim: Emulator, user: str, *, quiet: float = 0.5,
                 timeout: float = 20.0) -> list[Order]:
    """Wait until ``user``'s resting orders stop changing for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    last: list[tuple[str, str, int, int]] | None = None
    since = loop.time()
    async with asyncio.timeout(timeout):
        while True:
            orders = sim.resting_orders(user=user)
            snap = sorted((o.ticker, o.side.value, o.price, o.remaining) for o in orders)
            if snap != last:
                last, since = snap, loop.time()
            elif snap and loop.time() - since >= quiet:
                return orders
            await asyncio.sleep(0.02)


# --- forcing a reprice from the book -----------------------------------------------------


class Repricer:
    """Book changes that each force the daemon to write, alternating two kinds.

    Our YES bid rests at its model price ``q`` (the best ask is above it). ``fill`` places an
    outside ask at ``q`` for every bid at or above ``q`` plus one contract: it takes our bid and
    leaves one contract resting at ``q``, so the post-only step-back makes the daemon place
    a new bid one tick below. ``unfill`` cancels that outside ask: the best ask is back above
    ``q``, so the daemon amends its bid back up to ``q``. Each step is one book change that
    requires exactly one write; markets are used round-robin.
    """

    def __init__(self, sim: Emulator, user: str) -> None:
        self.sim = sim
        self.user = user
        self.state: dict[str, tuple[int, str | None]] = {}
        bids = [o for o in sim.resting_orders(user=user) if o.side is BookSide.BID]
        tickers = []
        for o in sorted(bids, key=lambda o: o.ticker):
            best_ask = sim.engine.best(o.ticker, BookSide.ASK)
            tick = sim.markets[o.ticker].grid.below(o.price)
            if tick is not None and (best_ask is None or best_ask > o.price) \
                    and o.price < PRICE_ONE:
                tickers.append(o.ticker)
                self.state[o.ticker] = (o.price, None)
        if not tickers:
            raise RuntimeError("no resting YES bid of ours to reprice")
        self.tickers = tickers
        self._next = 0

    def _ours(self, ticker: str) -> Order | None:
        for o in self.sim.resting_orders(user=self.user):
            if o.ticker == ticker and o.side is BookSide.BID:
                return o
        return None

    def step(self) -> tuple[str, str, float]:
        """Make one book change; return (ticker, kind, perf_counter right before it)."""
        ticker = self.tickers[self._next % len(self.tickers)]
        price, outside = self.state[ticker]
        if outside is None:
            # Bids at or above ours (outside ones first by price, then ours) are taken.
            ahead = sum(c for p, c in self.sim.book_levels(ticker).yes if p >= price)
            t0 = time.perf_counter()
            oid = self.sim.add_order(ticker, BookSide.ASK, price, ahead + 100)
            self.state[ticker] = (price, oid)
            return ticker, "fill", t0
        t0 = time.perf_counter()
        self.sim.cancel_order(outside)
        self.state[ticker] = (price, None)
        self._next += 1
        return ticker, "unfill", t0

    def expected(self, ticker: str) -> int:
        """Return the price our bid must rest at after the last step on ``ticker``."""
        price, outside = self.state[ticker]
        if outside is None:
            return price
        below = self.sim.markets[ticker].grid.below(price)
        assert below is not None
        return below

    async def wait_applied(self, ticker: str, timeout: float = 5.0) -> None:
        """Wait until our bid on ``ticker`` rests at the expected price."""
        want = self.expected(ticker)
        async with asyncio.timeout(timeout):
            while True:
                mine = self._ours(ticker)
                if mine is not None and mine.price == want:
                    return
                await asyncio.sleep(0.001)


async def first_write_after(sim: Emulator, start: int, t0: float,
                            timeout: float = 5.0) -> float:
    """Return the emulator's receipt time of the first order write after index ``start``."""
    async with asyncio.timeout(timeout):
        while True:
            for _kind, t in sim.write_times[start:]:
                if t >= t0:
                    return t
            await asyncio.sleep(0.0005)


@contextlib.asynccontextmanager
async def running_daemon(tmp: Path, *, probe: bool = False, count: int = 10,
                         max_position: int = 100, resync_interval: float = 2.0,
                         tier: str = "basic", seed: int = 0, margin: float = 0.75,
                         model_extra: str = "",
                         ) -> AsyncIterator[tuple[Emulator, DaemonProcess]]:
    """Start an emulator (no outside traders) and a ready daemon; yield (sim, daemon)."""
    async with Emulator(now=None, seed=seed, outside_traders=False, tier=tier) as sim:
        key_file, public = new_key(tmp)
        sim.register_key(KEY_ID, public)
        config = write_workdir(tmp, sim, key_file, count=count, max_position=max_position,
                               resync_interval=resync_interval, tier=tier, margin=margin,
                               model_extra=model_extra)
        daemon = DaemonProcess(config, probe=probe)
        await daemon.start()
        try:
            await daemon.wait_for("daemon.ready", timeout=30)
            await settle(sim, KEY_ID)
            yield sim, daemon
            await daemon.stop()
        finally:
            await daemon.kill()
