"""One ``tsad run`` subprocess of the chaos run: its JSON log lines, its stderr kept apart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import tsad


__all__ = ["ChaosDaemon"]


class ChaosDaemon:
    """One ``tsad run`` subprocess: JSON lines from stdout, stderr kept apart."""

    def __init__(self, config: Path, index: int) -> None:
        self.config = config
        self.index = index
        self.lines: list[dict[str, Any]] = []
        self.stderr = ""
        self.proc: asyncio.subprocess.Process | None = None
        self.expected_exit = False
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Spawn ``tsad run``; output is also written next to the config."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("NOTIFY_SOCKET", None)
        # The daemon runs the same tsad tree as the emulator in this process.
        root = str(Path(tsad.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tsad", "run", "--config", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            cwd=self.config.parent, limit=2**20,
        )
        self._readers = [asyncio.create_task(self._read_out()),
                         asyncio.create_task(self._read_err())]

    async def _read_out(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with (self.config.parent / f"daemon-{self.index}.log").open("a") as f:
            async for raw in self.proc.stdout:
                text = raw.decode(errors="replace").rstrip()
                f.write(text + "\n")
                with contextlib.suppress(ValueError):
                    obj = json.loads(text)
                    if isinstance(obj, dict):
                        self.lines.append(obj)

    async def _read_err(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with (self.config.parent / f"daemon-{self.index}.stderr").open("a") as f:
            async for raw in self.proc.stderr:
                text = raw.decode(errors="replace")
                f.write(text)
                self.stderr += text

    @property
    def returncode(self) -> int | None:
        """The exit code, None while it runs."""
        return None if self.proc is None else self.proc.returncode

    def events(self, name: str) -> list[dict[str, Any]]:
        """Return the log lines named ``name``."""
        return [ln for ln in self.lines if ln.get("event") == name]

    async def wait_for(self, *names: str, timeout: float) -> str | None:
        """Wait for a new line named one of ``names``; return the name, None on timeout/exit."""
        seen = {n: len(self.events(n)) for n in names}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.returncode is None:
                    for n in names:
                        if len(self.events(n)) > seen[n]:
                            return n
                    await asyncio.sleep(0.05)
        for n in names:
            if len(self.events(n)) > seen[n]:
                return n
        return None

    def signal(self, sig: int) -> None:
        """Send ``sig`` (marking SIGTERM/SIGKILL exits as expected)."""
        assert self.proc is not None
        if sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
            self.expected_exit = True
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait for the exit code (None if it overstays ``timeout``)."""
        assert self.proc is not None
        try:
            async with asyncio.timeout(timeout):
                rc = await self.proc.wait()
        except TimeoutError:
            return None
        for r in self._readers:
            with contextlib.suppress(Exception):
                await r
        return rc

    async def kill(self) -> None:
        """Kill it if it still runs."""
        self.expected_exit = True
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for r in self._readers:
            with contextlib.suppress(Exception):
                await r
