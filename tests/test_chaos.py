"""A short seeded chaos run: the real daemon under faults, signals and restarts keeps invariants."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaos import run_chaos  # noqa: E402


pytestmark = pytest.mark.timeout(240)

SEED = 3


async def test_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    """~30 s of faults (each kind once, then seeded draws) and no invariant is ever violated.

    Checked from the emulator continuously and from the journal at the end: one live order
    per market and side, position + resting within max_position, every fill journaled once,
    no real 429, clean SIGTERM exits with nothing resting, adoption after kill -9, no
    traceback, a restart-only reload refused, nothing of ours resting through a pause.
    """
    report = await run_chaos(seconds=30, seed=SEED, workdir=tmp_path)
    assert report.ok, report.render()
    # The run did what it claims: restarts of both kinds happened and fills were compared.
    assert report.lifecycle["sigterm"] >= 1 and report.lifecycle["kill9"] >= 1, report.render()
    assert report.fills is not None and report.fills.emulator >= 1, report.render()
