"""`/metrics`: Prometheus text from the running daemon that sums to our orders at the exchange."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from daemon_process import DaemonProcess, free_port, settle, write_config
from prometheus_client.parser import text_string_to_metric_families

from tsad.errors import ConfigError
from tsad.runtime.metrics import CountingTransport, RequestCounts, parse_listen


pytestmark = pytest.mark.timeout(120)


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


async def test_metrics_count_our_resting_orders_at_the_exchange(
    tmp_path: Path, sim, key_id, key_file
) -> None:
    port = free_port()
    config = write_config(tmp_path, sim, key_id, key_file,
                          daemon_extra=f'metrics_listen = "127.0.0.1:{port}"\n')
    daemon = DaemonProcess(config)
    await daemon.start()
    try:
        await daemon.wait_for("daemon.ready")
        await settle(sim, key_id, quiet=1.0)
        async with httpx.AsyncClient() as http:
            for _ in range(20):
                want = Counter((o.ticker, o.side.value) for o in sim.resting_orders(user=key_id))
                resp = await http.get(f"http://127.0.0.1:{port}/metrics")
                got = samples(resp.text)
                have = Counter({(lab["market"], lab["side"]): int(v)
                                for lab, v in got["tsad_orders_resting"] if v})
                if have == want:
                    break
                await asyncio.sleep(0.2)
        assert resp.status_code == 200
        assert got["tsad_up"] == [({}, 1.0)]
        assert have == want and sum(want.values()) > 0
        assert sum(v for _, v in got["tsad_orders_resting"]) == len(
            sim.resting_orders(user=key_id))
        requests = {(lab["method"], lab["status"]): v
                    for lab, v in got["tsad_exchange_requests_total"]}
        assert requests[("GET", "200")] > 0 and requests[("POST", "201")] > 0
        assert got["tsad_fills_total"] == [({}, 0.0)]
        assert "tsad_position_contracts" in got and "tsad_pnl_dollars" in got
        # each reconcile cycle that placed the quotes was observed
        assert got["tsad_reconcile_seconds_count"][0][1] >= 1
        assert got.get("tsad_quotes_pulled", []) == []
    finally:
        await daemon.kill()


async def test_counting_transport_counts_by_method_and_status() -> None:
    counts = RequestCounts()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429 if request.url.path == "/busy" else 200)

    transport = CountingTransport(counts, httpx.MockTransport(answer))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        await http.get("/a")
        await http.get("/a")
        await http.post("/busy")
    assert counts.counts == {("GET", "200"): 2, ("POST", "429"): 1}
    assert counts.with_status("429") == 1


def test_listen_address_parsing() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    for bad in ("9464", "host:", "host:99999", ":80"):
        with pytest.raises(ConfigError):
            parse_listen(bad)
