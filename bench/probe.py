"""The soak probe: runs ``tsad`` in this process and reports its task count and journal latency.

``python -m bench.probe run --config …`` is the real daemon (``tsad.cli.main``) with two
measurement-only additions: a task that prints, every second, a JSON line
``{"event": "bench.probe", "tasks": N, "journal_ms": [...]}`` (N = asyncio tasks of the
daemon, the probe's own excluded), and timing wrappers around ``Journal.record_intent`` and
``Journal.record_result`` (each a SQLite commit with ``synchronous=FULL``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any


__all__ = ["main"]


def main() -> None:
    """Run the daemon with the probe installed."""
    from tsad.commands import cli
    from tsad.runtime import journal

    samples: list[float] = []

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                samples.append(round((time.perf_counter() - t0) * 1000, 4))

        return wrapper

    journal.Journal.record_intent = timed(journal.Journal.record_intent)  # type: ignore[method-assign]
    journal.Journal.record_result = timed(journal.Journal.record_result)  # type: ignore[method-assign]

    async def probe() -> None:
        while True:
            await asyncio.sleep(1.0)
            line = {"event": "bench.probe", "tasks": len(asyncio.all_tasks()) - 1,
                    "journal_ms": samples[:]}
            samples.clear()
            print(json.dumps(line), flush=True)

    original = asyncio.run

    def run(coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        async def wrapped() -> Any:
            task = asyncio.create_task(probe())
            try:
                return await coro
            finally:
                task.cancel()

        return original(wrapped(), **kwargs)

    asyncio.run = run  # type: ignore[assignment]
    sys.exit(cli.main(sys.argv[1:]))


if __name__ == "__main__":
    main()
