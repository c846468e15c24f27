"""Settings: the immutable dataclasses of a validated ``config.toml``, and how two of them differ.

`tsad.runtime.config` reads and validates the file into these; the engine, the daemon and
the commands read them. `restart_required` names the keys a reload cannot apply live.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from tsad.core.fees import FeeSchedule
from tsad.core.money import COUNT_SCALE, MONEY_SCALE, PRICE_SCALE
from tsad.core.quoting import KXTSAW_FEES, EdgePolicy, QuotingPolicy
from tsad.core.risk import RiskLimits


__all__ = [
    "DEFAULTS",
    "DEFAULT_URLS",
    "PAPER_JOURNAL",
    "RESTART_REQUIRED_KEYS",
    "SECTIONS",
    "AlertsConfig",
    "Config",
    "DaemonConfig",
    "Environment",
    "ExchangeConfig",
    "JournalConfig",
    "MarketConfig",
    "ModelConfig",
    "PaperConfig",
    "QuotingConfig",
    "RiskConfig",
    "Tier",
    "config_diff",
    "restart_required",
]


class Environment(StrEnum):
    """Where orders go: the embedded emulator, Kalshi's demo, or production."""

    PAPER = "paper"
    DEMO = "demo"
    PRODUCTION = "production"


class Tier(StrEnum):
    """Kalshi API usage tier (sets the client-side token buckets; kalshi-api.md §4)."""

    BASIC = "basic"
    ADVANCED = "advanced"
    PREMIER = "premier"
    PRIME = "prime"


DEFAULT_URLS: Final[Mapping[Environment, tuple[str, str]]] = {
    # kalshi-api.md §1, the recommended hosts (2026-05-07).
    Environment.DEMO: (
        "https://external-api.demo.kalshi.co/trade-api/v2",
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
    ),
    Environment.PRODUCTION: (
        "https://external-api.kalshi.com/trade-api/v2",
        "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
    ),
}
"""(rest_url, ws_url) per environment; paper mode has none (the emulator picks its ports)."""



@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeConfig:
    """``[exchange]``: where and how to reach the exchange. ``key_id`` never appears in reprs."""

    environment: Environment = Environment.PAPER
    rest_url: str | None = None
    ws_url: str | None = None
    key_id: str | None = field(default=None, repr=False)
    private_key_path: Path | None = None
    tier: Tier = Tier.BASIC
    allow_insecure_key: bool = False
    dry_run: bool = False
    request_timeout: float = 10.0
    client_order_prefix: str = "tsad"


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketConfig:
    """``[market]``: which series to trade, and optionally a fixed event."""

    series: str = "KXTSAW"
    event: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """``[model]``: the forecaster's files and the mid-week hooks (in order).

    In paper mode ``prediction_path`` / ``history_path`` may be None: the daemon then
    synthesises them. ``market_weight`` is the market's share of the true value (its mid of
    others, when its spread is within ``market_max_spread``, in price units; 0 = the model
    alone; `tsad.core.consensus`).
    """

    prediction_path: Path | None = None
    history_path: Path | None = None
    actuals_path: Path | None = None
    hooks: tuple[str, ...] = ("realized_days",)
    max_prediction_age: float = 129_600.0
    market_weight: Fraction = Fraction(1, 2)
    market_max_spread: int = 1_000


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotingConfig:
    """``[quoting]``: the quoting policy (probabilities exact, ``count`` in count units)."""

    margin: Fraction = Fraction(3, 4)
    min_true_value: Fraction = Fraction(1, 20)
    max_true_value: Fraction = Fraction(19, 20)
    count: int = 10 * COUNT_SCALE
    min_reprice_ticks: int = 1
    post_only: bool = True
    self_trade_prevention: str = "taker_at_cross"
    policy: str = "seed"
    half_spread_ticks: int = 2
    min_edge: Fraction = Fraction(1, 100)
    skew_ticks: int = 2
    take: bool = False
    take_edge: Fraction = Fraction(3, 100)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """``[risk]``: limits in count units, ``max_event_loss`` in money units ($0.000001).

    ``order_group_contracts_limit`` is in whole contracts per rolling 15 s (0 = no group).
    """

    max_position: int = 100 * COUNT_SCALE
    max_order_size: int = 50 * COUNT_SCALE
    max_event_loss: int = 500 * MONEY_SCALE
    min_price: int = PRICE_SCALE // 100
    max_price: int = PRICE_SCALE * 99 // 100
    halt_file: Path | None = None
    cancel_on_exit: bool = True
    cancel_order_on_pause: bool = True
    order_group_contracts_limit: int = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalConfig:
    """``[journal]``: the SQLite journal file (paper mode's default: `PAPER_JOURNAL`)."""

    path: Path = Path("state/journal.sqlite3")


PAPER_JOURNAL = Path("state/paper/journal.sqlite3")
"""The journal's default in paper mode: paper fills never mix with a live journal's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """``[daemon]``: event-loop timings, the log level, and the bound on a whole stop.

    ``stop_timeout`` must stay below the unit's ``TimeoutStopSec`` (45 s).
    """

    coalesce_ms: int = 20
    resync_interval: float = 60.0
    stale_market_seconds: float = 120.0
    log_level: str = "info"
    stop_timeout: float = 30.0
    metrics_listen: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """``[alerts]``: the webhook (a secret: never in reprs or logs) and what to alert on."""

    webhook_url: str | None = field(default=None, repr=False)
    pulled_minutes: float = 10.0
    fills: bool = False
    format: str = "json"


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperConfig:
    """``[paper]``: the embedded emulator (``prediction`` in persons; 0 = derive it)."""

    outside_traders: bool = True
    seed: int = 0
    prediction: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole validated configuration.

    ``path`` is the file it came from; ``version`` the first 12 hex digits of the SHA-256 of
    its bytes (recorded by the journal).
    """

    exchange: ExchangeConfig = ExchangeConfig()
    market: MarketConfig = MarketConfig()
    model: ModelConfig = ModelConfig()
    quoting: QuotingConfig = QuotingConfig()
    risk: RiskConfig = RiskConfig()
    journal: JournalConfig = JournalConfig()
    daemon: DaemonConfig = DaemonConfig()
    paper: PaperConfig = PaperConfig()
    alerts: AlertsConfig = AlertsConfig()
    path: Path = Path("config.toml")
    version: str = ""

    def quoting_policy(self, fees: FeeSchedule | None = None) -> QuotingPolicy | EdgePolicy:
        """Return the policy ``[quoting] policy`` selects, with ``risk.max_position``.

        Args:
            fees: the series' fee schedule as the exchange reports it (the edge policy
                prices its minimum edge after the maker fee); None keeps KXTSAW's default.
        """
        q = self.quoting
        if q.policy == "edge":
            return EdgePolicy(
                half_spread_ticks=q.half_spread_ticks, min_edge=q.min_edge,
                skew_ticks=q.skew_ticks, count=q.count, max_position=self.risk.max_position,
                min_true_value=q.min_true_value, max_true_value=q.max_true_value,
                take=q.take, take_edge=q.take_edge, fees=fees or KXTSAW_FEES,
            )
        return QuotingPolicy(
            margin=q.margin, min_true_value=q.min_true_value, max_true_value=q.max_true_value,
            count=q.count, max_position=self.risk.max_position,
        )

    def risk_limits(self, *, halted: bool = False) -> RiskLimits:
        """Return the `RiskLimits` of ``[risk]``.

        Args:
            halted: whether trading is halted right now (e.g. the halt file exists).
        """
        r = self.risk
        return RiskLimits(
            max_order_size=r.max_order_size, max_position=r.max_position,
            max_event_loss=r.max_event_loss, min_price=r.min_price, max_price=r.max_price,
            halted=halted,
        )


DEFAULTS: Final = Config()
"""Every key at its default."""

SECTIONS: Final[Mapping[str, type[Any]]] = {  # table name -> its dataclass
    "exchange": ExchangeConfig,
    "market": MarketConfig,
    "model": ModelConfig,
    "quoting": QuotingConfig,
    "risk": RiskConfig,
    "journal": JournalConfig,
    "daemon": DaemonConfig,
    "paper": PaperConfig,
    "alerts": AlertsConfig,
}

RESTART_REQUIRED_KEYS: Final[frozenset[str]] = frozenset(
    {f"exchange.{f.name}" for f in dataclasses.fields(ExchangeConfig)}
    | {f"market.{f.name}" for f in dataclasses.fields(MarketConfig)}
    | {"journal.path", "paper.outside_traders", "paper.seed", "paper.prediction",
       "risk.order_group_contracts_limit", "daemon.metrics_listen"}
)
"""Keys a SIGHUP reload cannot apply: a reload changing any of them is refused as a whole.

Everything in ``[exchange]`` (where orders go, under which key and prefix, dry-run or not),
``[market]`` (the event is chosen at startup and at each roll), ``journal.path`` (one journal
per daemon, held under a lock), the embedded emulator's ``[paper]`` setup (the emulator is
the exchange, and its listen addresses are chosen once), and the order group's limit (the
group is created once, at startup).
"""


def _flatten(prefix: str, value: object) -> dict[str, object]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {}
        for f in dataclasses.fields(value):
            out |= _flatten(f"{prefix}.{f.name}" if prefix else f.name, getattr(value, f.name))
        return out
    return {prefix: value}


def config_diff(old: Config, new: Config) -> list[str]:
    """Return the dotted keys whose values differ between two configs, sorted.

    ``path`` and ``version`` are not keys and are not compared.
    """
    a = {k: v for k, v in _flatten("", old).items() if "." in k}
    b = {k: v for k, v in _flatten("", new).items() if "." in k}
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def restart_required(changed: list[str]) -> list[str]:
    """Return the changed keys a reload cannot apply (see `RESTART_REQUIRED_KEYS`)."""
    return [k for k in changed if k in RESTART_REQUIRED_KEYS]
