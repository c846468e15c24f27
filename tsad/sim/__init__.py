"""The faithful local Kalshi exchange emulator (paper trading and test fixture)."""

from __future__ import annotations

from tsad.sim.server import Emulator, RequestRecord


__all__ = ["Emulator", "RequestRecord"]
