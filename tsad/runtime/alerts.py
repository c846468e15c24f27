"""Webhook alerts for what needs a human: failures, long pulls, a stale prediction, 429s, fills.

One generic JSON POST works with Slack and Mattermost incoming webhooks (``text``), Discord
(``content``) and a Telegram bot's ``sendMessage?chat_id=…`` URL (``text``); ``format =
"text"`` posts the bare message instead, as ntfy's topic URLs want. Alerts never block or
break trading: each send is a background task bounded by a timeout, a failure is logged and
dropped, and the webhook URL is a secret (its path and query carry the token), so only its
scheme and host are ever logged.

`Alerter` deduplicates by cause: a cause alerts once, then stays quiet until it clears.
`AlertMonitor` derives the causes from the status snapshot once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import httpx
import structlog

from tsad.runtime.control import StatusSnapshot
from tsad.runtime.metrics import RequestCounts


__all__ = [
    "AlertMonitor",
    "AlertSettings",
    "Alerter",
    "post_alert",
    "public_part",
]

log = structlog.get_logger("tsad.runtime.alerts")

# A cause of 429s clears after this long without a new one (seconds).
_RATE_LIMIT_QUIET: Final = 300.0
# At most one fills message per this many seconds (fills alerts are opt-in and aggregated).
_FILLS_EVERY: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSettings:
    """``[alerts]``: where to post and what to post about (``webhook_url`` is a secret)."""

    webhook_url: str | None = None
    pulled_minutes: float = 10.0
    fills: bool = False
    timeout: float = 5.0
    format: str = "json"

    def __repr__(self) -> str:
        return (f"AlertSettings(webhook={public_part(self.webhook_url)!r}, "
                f"pulled_minutes={self.pulled_minutes}, fills={self.fills}, "
                f"timeout={self.timeout}, format={self.format!r})")


def public_part(url: str | None) -> str | None:
    """Return the part of a webhook URL that is safe to log: ``scheme://host``."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


async def post_alert(settings: AlertSettings, message: str) -> bool:
    """Post one message to the webhook; return whether it was accepted (2xx). Never raises."""
    url = settings.webhook_url
    if not url:
        return False
    where = public_part(url)
    try:
        async with httpx.AsyncClient(timeout=settings.timeout, follow_redirects=False) as http:
            if settings.format == "text":
                resp = await http.post(url, content=message.encode(),
                                       headers={"Content-Type": "text/plain; charset=utf-8"})
            else:
                resp = await http.post(url, json={"text": message, "content": message})
    except Exception as exc:  # an alert never takes the daemon down with it
        # str(exc) of an httpx error can carry the URL: log the class only.
        log.warning("alert.failed", webhook=where, error=type(exc).__name__)
        return False
    if not 200 <= resp.status_code < 300:
        log.warning("alert.failed", webhook=where, status=resp.status_code)
        return False
    log.info("alert.sent", webhook=where)
    return True


class Alerter:
    """Sends alerts in the background, once per cause until the cause clears.

    Args:
        settings: the ``[alerts]`` settings (replace with `configure` on reload).
        source: who is speaking, prefixed to every message (default: ``tsad@<hostname>``).
    """

    def __init__(self, settings: AlertSettings, *, source: str | None = None) -> None:
        self.settings = settings
        self.source = source or f"tsad@{socket.gethostname()}"
        self._active: dict[str, str] = {}
        self._tasks: set[asyncio.Task[bool]] = set()

    def configure(self, settings: AlertSettings) -> None:
        """Take new settings (a reload); the causes already alerted stay quiet."""
        self.settings = settings

    @property
    def active(self) -> dict[str, str]:
        """The causes alerted and not yet cleared, with their messages."""
        return dict(self._active)

    def raise_cause(self, cause: str, message: str) -> bool:
        """Alert ``cause`` unless it already alerted and has not cleared; return if sent."""
        if cause in self._active:
            return False
        self._active[cause] = message
        log.warning("alert.raised", cause=cause, detail=message)
        self.notify(message)
        return True

    def clear(self, cause: str) -> None:
        """Mark ``cause`` as over: it alerts again the next time it happens."""
        if self._active.pop(cause, None) is not None:
            log.info("alert.cleared", cause=cause)

    def notify(self, message: str) -> None:
        """Send ``message`` in the background (no deduplication; no-op without a webhook)."""
        if not self.settings.webhook_url:
            return
        task = asyncio.ensure_future(post_alert(self.settings, f"{self.source}: {message}"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_now(self, cause: str, message: str) -> bool:
        """Alert ``cause`` and wait (bounded by the timeout) until it is delivered.

        For the last words of a failing daemon, which must not exit before the POST is out.
        """
        if cause in self._active or not self.settings.webhook_url:
            return False
        self._active[cause] = message
        log.warning("alert.raised", cause=cause, detail=message)
        return await post_alert(self.settings, f"{self.source}: {message}")

    async def drain(self) -> None:
        """Wait for background sends (each is bounded by the timeout)."""
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(set(self._tasks), timeout=self.settings.timeout + 1.0)


class AlertMonitor:
    """Watches the snapshot and raises or clears the causes that need a human.

    Causes: ``quotes_pulled`` (all quotes pulled longer than ``pulled_minutes``),
    ``prediction_stale`` (the forecast is missing, invalid or too old), ``rate_limited``
    (the exchange answered 429; clears after 5 quiet minutes) and, when ``fills`` is on, a
    summary of new fills at most once a minute.

    Args:
        alerter: where alerts go.
        provider: the current snapshot (None before the engine is up).
        requests: exchange request counts (for 429s).
        monotonic: the clock, in seconds.
    """

    def __init__(self, alerter: Alerter, provider: Callable[[], StatusSnapshot | None],
                 requests: RequestCounts, monotonic: Callable[[], float]) -> None:
        self.alerter = alerter
        self._provider = provider
        self._requests = requests
        self._monotonic = monotonic
        self._pulled_since: float | None = None
        self._throttled = requests.with_status("429")
        self._throttled_at = 0.0
        self._fills_seen: int | None = None
        self._fills_sent_at = -_FILLS_EVERY

    def check(self) -> None:
        """Evaluate every cause once (call it about once a second)."""
        snap = self._provider()
        if snap is None or snap.stopping:
            return
        now = self._monotonic()
        settings = self.alerter.settings
        self._check_pulled(snap, now, settings.pulled_minutes)
        stale = {k: v for k, v in snap.pull_reasons.items()
                 if k.startswith(("prediction", "inputs"))}
        if stale:
            self.alerter.raise_cause(
                "prediction_stale",
                "quotes pulled: the prediction is stale or unusable: "
                + "; ".join(stale.values()))
        else:
            self.alerter.clear("prediction_stale")
        throttled = self._requests.with_status("429")
        if throttled > self._throttled:
            self._throttled, self._throttled_at = throttled, now
            self.alerter.raise_cause(
                "rate_limited", f"the exchange is rate-limiting us (429s: {throttled} so far)")
        elif now - self._throttled_at > _RATE_LIMIT_QUIET:
            self.alerter.clear("rate_limited")
        self._check_fills(snap, now, settings.fills)

    def _check_pulled(self, snap: StatusSnapshot, now: float, minutes: float) -> None:
        if not snap.ready or not snap.pulled:
            self._pulled_since = None
            self.alerter.clear("quotes_pulled")
            return
        if self._pulled_since is None:
            self._pulled_since = now
        if now - self._pulled_since >= minutes * 60:
            why = "; ".join(f"{k}: {v}" for k, v in sorted(snap.pull_reasons.items()))
            self.alerter.raise_cause(
                "quotes_pulled",
                f"quotes pulled for {(now - self._pulled_since) / 60:.1f} min on "
                f"{snap.event_ticker}: {why or 'the exchange paused trading'}")

    def _check_fills(self, snap: StatusSnapshot, now: float, wanted: bool) -> None:
        if self._fills_seen is None:
            self._fills_seen = snap.fills
        if not wanted or snap.fills <= self._fills_seen:
            return
        if now - self._fills_sent_at < _FILLS_EVERY:
            return
        new = snap.fills - self._fills_seen
        self._fills_seen, self._fills_sent_at = snap.fills, now
        held = ", ".join(f"{m.ticker} {m.position / 100:g}" for m in snap.markets if m.position)
        self.alerter.notify(f"{new} new fill{'s' if new > 1 else ''} on {snap.event_ticker} "
                            f"(positions: {held or 'flat'})")
