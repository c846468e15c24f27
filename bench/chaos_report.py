"""What a chaos run did and found, and its printable summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bench.invariants import FillCheck


__all__ = ["ChaosReport"]


@dataclass(slots=True)
class ChaosReport:
    """What the run did and found."""

    seed: int
    seconds: float
    wall: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    lifecycle: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)
    fills: FillCheck | None = None
    fills_missing_before_catchup: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    injected: dict[int, int] = field(default_factory=dict)
    real_429: int = 0
    emulator_faults: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    orders_created: int = 0

    @property
    def ok(self) -> bool:
        """True when no invariant was violated."""
        return not self.violations

    def render(self) -> str:
        """Return the printable summary."""
        f = self.fills
        lines = [
            f"chaos run: seed={self.seed} seconds={self.seconds:g} wall={self.wall:.1f}s "
            f"samples={self.samples}",
            "faults: " + _counts(self.faults),
            "daemon: " + _counts(self.lifecycle),
            f"orders of ours on the exchange: {self.orders_created}",
            "fills: " + ("-" if f is None else
                         f"emulator={f.emulator} journal={f.journal} missing={len(f.missing)} "
                         f"extra={len(f.extra)} mismatched={len(f.mismatched)} "
                         f"(missing before the catch-up start: "
                         f"{self.fills_missing_before_catchup})"),
            "REST answers: " + _counts(Counter({str(k): v for k, v in self.statuses.items()}))
            + f"; injected: {_counts(Counter({str(k): v for k, v in self.injected.items()}))}"
            + f"; real 429s: {self.real_429}",
            "emulator's fault counters: " + _counts(Counter(self.emulator_faults)),
            "violations: " + (_counts(self.by_kind) if self.by_kind else "none"),
        ]
        lines += [f"  - {v}" for v in self.violations[:60]]
        if len(self.violations) > 60:
            lines.append(f"  … {len(self.violations) - 60} more")
        lines.append("verdict: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


def _counts(c: Counter[str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(c.items())) or "none"
