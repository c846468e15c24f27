"""Webhook alerts: delivered to a real local HTTP server, once per cause, never raising."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from tsad.runtime.alerts import Alerter, AlertMonitor, AlertSettings, post_alert, public_part
from tsad.runtime.control import MarketStatus, StatusSnapshot
from tsad.runtime.metrics import RequestCounts


@dataclass
class Hook:
    """A local webhook: records every POST; answers with ``status``."""

    url: str = ""
    posts: list[dict[str, object]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self, n: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.raw) < n:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture(name="hook")
async def _hook() -> AsyncIterator[Hook]:
    hook = Hook()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        hook.raw.append(body)
        hook.paths.append(request.path_qs)
        if request.content_type == "application/json":
            hook.posts.append(json.loads(body))
        hook.arrived.set()
        return web.Response(status=hook.status, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hooks/s3cr3t-token?chat_id=42"
    try:
        yield hook
    finally:
        await runner.cleanup()


def snap(*, pulled: dict[str, str] | None = None, fills: int = 0, ready: bool = True,
         position: int = 0) -> StatusSnapshot:
    return StatusSnapshot(
        event_ticker="KXTSAW-26DEC13", ready=ready, pull_reasons=pulled or {}, fills=fills,
        markets=(MarketStatus(ticker="KXTSAW-26DEC13-A2.45", true_value=None, order=None,
                              position=position),),
    )


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_post_carries_text_and_content_for_slack_discord_and_telegram(hook) -> None:
    """One JSON body serves Slack/Telegram (`text`) and Discord (`content`); the query stays."""
    ok = await post_alert(AlertSettings(webhook_url=hook.url), "tsad failed")
    assert ok
    assert hook.posts == [{"text": "tsad failed", "content": "tsad failed"}]
    assert hook.paths == ["/hooks/s3cr3t-token?chat_id=42"]


async def test_text_format_posts_the_bare_message_for_ntfy(hook) -> None:
    assert await post_alert(AlertSettings(webhook_url=hook.url, format="text"), "pulled")
    assert hook.raw == [b"pulled"]


async def test_a_failing_webhook_never_raises_and_never_logs_the_secret(hook) -> None:
    """A 500 and an unreachable host both return False; logs name the host, not the token."""
    hook.status = 500
    with capture_logs() as logs:
        assert not await post_alert(AlertSettings(webhook_url=hook.url), "x")
        assert not await post_alert(
            AlertSettings(webhook_url="http://127.0.0.1:9/secret-path?token=abc", timeout=2),
            "x")
    assert [e["event"] for e in logs] == ["alert.failed", "alert.failed"]
    text = repr(logs)
    assert "s3cr3t" not in text and "secret-path" not in text and "abc" not in text
    assert public_part(hook.url) == "http://127.0.0.1"
    assert "s3cr3t" not in repr(AlertSettings(webhook_url=hook.url))


async def test_a_cause_alerts_once_until_it_clears(hook) -> None:
    """Raising the same cause again sends nothing; after it clears, it alerts again."""
    alerter = Alerter(AlertSettings(webhook_url=hook.url), source="tsad@test")
    assert alerter.raise_cause("quotes_pulled", "pulled 10 min")
    assert not alerter.raise_cause("quotes_pulled", "pulled 11 min")
    await alerter.drain()
    assert [p["text"] for p in hook.posts] == ["tsad@test: pulled 10 min"]
    alerter.clear("quotes_pulled")
    assert alerter.raise_cause("quotes_pulled", "pulled again")
    await alerter.drain()
    assert len(hook.posts) == 2


async def test_alerts_never_block_the_caller(hook) -> None:
    """raise_cause returns before the webhook has answered (the POST runs in the background)."""
    alerter = Alerter(AlertSettings(webhook_url=hook.url))
    alerter.raise_cause("rate_limited", "429s")
    assert hook.raw == []  # nothing sent yet: the caller was not made to wait
    await hook.wait(1)


async def test_monitor_alerts_a_long_pull_once_and_again_after_it_clears(hook) -> None:
    clock, counts = Clock(), RequestCounts()
    current = [snap()]
    alerter = Alerter(AlertSettings(webhook_url=hook.url, pulled_minutes=10))
    monitor = AlertMonitor(alerter, lambda: current[0], counts, clock)
    current[0] = snap(pulled={"halt": "halt file exists"})
    monitor.check()
    clock.t += 599
    monitor.check()
    assert alerter.active == {}
    clock.t += 1
    monitor.check()
    clock.t += 60
    monitor.check()
    assert list(alerter.active) == ["quotes_pulled"]
    current[0] = snap()
    monitor.check()
    assert alerter.active == {}
    current[0] = snap(pulled={"halt": "halt file exists"})
    monitor.check()
    clock.t += 600
    monitor.check()
    await alerter.drain()
    assert len(hook.posts) == 2
    assert "halt file exists" in str(hook.posts[0]["text"])


async def test_monitor_alerts_stale_prediction_429s_and_fills(hook) -> None:
    clock, counts = Clock(), RequestCounts()
    current = [snap()]
    alerter = Alerter(AlertSettings(webhook_url=hook.url, pulled_minutes=60, fills=True))
    monitor = AlertMonitor(alerter, lambda: current[0], counts, clock)
    monitor.check()
    current[0] = snap(pulled={"prediction_stale": "prediction file older than 129600 s"})
    monitor.check()
    monitor.check()
    counts.add("POST", "429")
    monitor.check()
    counts.add("POST", "429")
    monitor.check()  # still the same cause: no second alert
    current[0] = snap(fills=3, position=300)
    monitor.check()
    await alerter.drain()
    texts = [str(p["text"]) for p in hook.posts]
    assert len(texts) == 3, texts
    assert "prediction" in texts[0]
    assert "rate-limiting" in texts[1]
    assert "3 new fills" in texts[2] and "KXTSAW-26DEC13-A2.45 3" in texts[2]
    assert "prediction_stale" not in alerter.active  # cleared when the pull went away


async def test_tsad_alert_command_posts_with_a_broken_config(hook, tmp_path: Path) -> None:
    """The OnFailure= unit's command reads only [alerts], so a broken config still alerts."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[exchange]\nenvironment = "nonsense"\n\n'
                   f'[alerts]\nwebhook_url = "{hook.url}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tsad", "alert", "--config", str(cfg),
        "--message", "tsad.service failed", env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    assert hook.posts and str(hook.posts[0]["text"]).endswith(": tsad.service failed")
    assert b"s3cr3t" not in out


def test_tsad_alert_without_a_webhook_exits_78(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[daemon]\n")
    proc = subprocess.run([sys.executable, "-m", "tsad", "alert", "--config", str(cfg),
                           "--message", "x"], capture_output=True, text=True, check=False)
    assert proc.returncode == 78
    assert "webhook_url" in proc.stderr


@pytest.mark.timeout(120)
async def test_daemon_alerts_a_long_pull_once_and_an_unconfirmed_stop(
    hook, tmp_path: Path, sim, key_id, key_file
) -> None:
    """The real daemon: a halt past pulled_minutes alerts once (not on every check), and a
    stop that cannot confirm its cancels (the exchange failing) alerts before the exit."""
    from daemon_process import DaemonProcess, settle, write_config

    config = write_config(
        tmp_path, sim, key_id, key_file, daemon_extra="stop_timeout = 3.0\n",
        tables=f'\n[alerts]\nwebhook_url = "{hook.url}"\npulled_minutes = 0.01\n')
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        await daemon.wait_for("daemon.ready")
        await settle(sim, key_id, quiet=1.0)
        assert hook.raw == []
        (tmp_path / "halt").touch()
        await hook.wait(1, timeout=5.0)
        assert "quotes pulled" in str(hook.posts[0]["text"])
        assert "halt" in str(hook.posts[0]["text"])
        await asyncio.sleep(2.5)  # the monitor checks every second: still one alert
        assert len(hook.raw) == 1
        (tmp_path / "halt").unlink()
        await settle(sim, key_id, quiet=1.0)
        sim.faults.fail_next(10_000, 503)
        assert daemon.proc is not None
        daemon.proc.terminate()
        await hook.wait(2, timeout=5.0 + 3.0)
        assert "orders unconfirmed" in str(hook.posts[1]["text"])
        assert await daemon.stop() == 1
        assert len(hook.raw) == 2
        assert not any("s3cr3t" in line for line in daemon.raw)
    finally:
        await daemon.kill()
