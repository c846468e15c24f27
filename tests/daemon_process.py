"""A `tsad run` subprocess against the emulator, for the status, metrics and alert tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from conftest import write_demo_config

from tsad.clock import SystemClock
from tsad.runtime import paper


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(directory: Path, sim, key_id: str, key_file: Path, *, daemon_extra: str = "",
                 tables: str = "") -> Path:
    """Write inputs and a demo config for ``sim``; extra ``[daemon]`` keys and tables."""
    paper.write_paper_inputs(
        prediction_path=directory / "prediction.json", history_path=directory / "history.csv",
        event_ticker=sim.event_ticker, center=float(sim.fair_center), now=SystemClock().now(),
        seed=1,
    )
    path = write_demo_config(directory, sim, key_id, key_file)
    text = path.read_text().replace("[daemon]\n", f"[daemon]\n{daemon_extra}", 1)
    path.write_text(text + tables)
    return path


class DaemonProcess:
    """A running `tsad run`; its JSON log lines are collected as they arrive.

    Each output line is also appended to ``daemon.log`` beside the config, for a failing
    test's post-mortem. ``env`` adds variables; ``$STATE_DIRECTORY`` is never inherited.
    """

    def __init__(self, config: Path, *, env: dict[str, str] | None = None,
                 preexec_fn=None) -> None:
        self.config = config
        self.env = env or {}
        self.preexec_fn = preexec_fn
        self.lines: list[dict[str, object]] = []
        self.raw: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tsad", "run", "--config", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT,
            env=dict(env, PYTHONUNBUFFERED="1", **self.env), cwd=self.config.parent,
            preexec_fn=self.preexec_fn,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            text = line.decode(errors="replace").rstrip()
            self.raw.append(text)
            with (self.config.parent / "daemon.log").open("a") as f:
                f.write(text + "\n")
            with contextlib.suppress(ValueError):
                obj = json.loads(text)
                if isinstance(obj, dict):
                    self.lines.append(obj)

    def events(self, name: str) -> list[dict[str, object]]:
        return [ln for ln in self.lines if ln.get("event") == name]

    async def wait_for(self, name: str, timeout: float = 30.0, count: int = 1) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events(name)) < count:
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError(f"daemon exited: {self.raw[-20:]}")
                await asyncio.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            rc = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return rc

    async def stop(self, timeout: float = 40.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        return await self.wait_exit(timeout)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


async def settled_orders(sim, key_id: str, *, quiet: float = 1.0, timeout: float = 20.0):
    """Our resting orders at the emulator once they stop changing for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    last, since = None, loop.time()
    async with asyncio.timeout(timeout):
        while True:
            now = sorted((o.ticker, o.side.value, o.price, o.remaining)
                         for o in sim.resting_orders(user=key_id))
            if now != last:
                last, since = now, loop.time()
            elif now and loop.time() - since >= quiet:
                return now
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def quoting_daemon(directory: Path, sim, key_id: str, key_file: Path, *,
                         model_extra: str = "") -> AsyncIterator[tuple[Path, DaemonProcess]]:
    """A daemon started on a demo config for ``sim`` (``model_extra``: lines added to its
    ``[model]`` table), yielded once ready with its quotes settled; killed on the way out."""
    config = write_config(directory, sim, key_id, key_file)
    if model_extra:
        config.write_text(config.read_text().replace("[model]\n", f"[model]\n{model_extra}", 1))
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        await daemon.wait_for("daemon.ready")
        await settled_orders(sim, key_id)
        yield config, daemon
    finally:
        await daemon.kill()
