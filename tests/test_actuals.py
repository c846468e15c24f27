"""Tests of the TSA page parser, the never-drop merge, atomic writes and fetch-actuals."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, strategies as st

from tsad.commands.actuals import (
    MergeResult,
    Revision,
    atomic_write_text,
    backfill_years,
    format_actuals_csv,
    merge_actuals,
    parse_passenger_volumes,
    read_actuals,
    register_fetch_actuals,
    write_actuals,
)
from tsad.errors import InputError


DATA = Path(__file__).parent / "data" / "tsa"
PAGE_2024 = DATA / "passenger_volumes_2024_layout.html"
PAGE_2025 = DATA / "passenger_volumes_2025_layout.html"
DAILY = DATA / "daily_2022-09_2024-03.csv"


# --------------------------------------------------------------------------- parsing


def test_parse_2025_layout() -> None:
    """The two-column 'Date | Numbers' page parses into ten dated integers."""
    got = parse_passenger_volumes(PAGE_2025.read_text(), source="page2025")
    assert len(got) == 10
    assert got[date(2025, 1, 6)] == 2_315_402
    assert got[date(2025, 1, 15)] == 2_013_999


def test_parse_2024_layout_reads_this_year_only() -> None:
    """The 'Date | 2024 | 2023' page yields the 2024 column, never the weekday-aligned 2023 one."""
    got = parse_passenger_volumes(PAGE_2024.read_text(), source="page2024")
    assert sorted(got) == [date(2024, 4, d) for d in range(1, 15)]
    # The 2023 column of 4/1/2024 is 2,404,966 (Monday 2023-04-03, 364 days back).
    assert got[date(2024, 4, 1)] == 2_658_016
    assert got[date(2024, 4, 14)] == 2_689_549
    assert all(d.year == 2024 for d in got)


def _page(header: str, rows: str) -> str:
    return f"<html><body><table><thead>{header}</thead><tbody>{rows}</tbody></table></body></html>"


_H2 = "<tr><th>Date</th><th>Numbers</th></tr>"
_H3 = "<tr><th>Date</th><th>2024</th><th>2023</th></tr>"


@pytest.mark.parametrize(
    ("html", "match"),
    [
        ("<html><body><p>Access denied</p></body></html>", "no 'Date | Numbers'"),
        (_page(_H2, ""), "no rows"),
        (_page(_H2, "<tr><td>2025-01-06</td><td>1,000</td></tr>"), "not M/D/YYYY"),
        (_page(_H2, "<tr><td>1/6/2025</td><td>1.000,5</td></tr>"), "not an integer"),
        (_page(_H2, "<tr><td>1/6/2025</td></tr>"), "expected a date and a number"),
        (_page(_H3, "<tr><td>12/31/2023</td><td>1,000</td><td>9</td></tr>"), "column's year"),
        (
            _page(_H2, "<tr><td>1/6/2025</td><td>5</td></tr><tr><td>1/6/2025</td><td>6</td></tr>"),
            "appears twice",
        ),
    ],
    ids=["no-table", "empty", "iso-date", "bad-number", "short-row", "wrong-year", "dup"],
)
def test_parse_errors_name_source_and_row(html: str, match: str) -> None:
    """Malformed pages raise InputError naming the source (and the row when there is one)."""
    with pytest.raises(InputError, match=match) as info:
        parse_passenger_volumes(html, source="https://example.test/p")
    assert "https://example.test/p" in str(info.value)


@given(st.dictionaries(st.dates(date(2019, 1, 1), date(2030, 12, 31)), st.integers(0, 10**7)))
def test_parse_roundtrips_generated_pages(values: dict[date, int]) -> None:
    """Any set of dated numbers rendered in the 2025 layout parses back unchanged."""
    rows = "".join(
        f"<tr><td> {d.month}/{d.day}/{d.year} </td><td>{v:,}</td></tr>" for d, v in values.items()
    )
    html = _page(_H2, rows)
    if not values:
        with pytest.raises(InputError):
            parse_passenger_volumes(html, source="gen")
    else:
        assert parse_passenger_volumes(html, source="gen") == values


# --------------------------------------------------------------------------- merge


D1, D2, D3 = date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 8)


@pytest.mark.parametrize(
    ("existing", "fetched", "expected"),
    [
        (
            {},
            {D1: 5},
            MergeResult(merged={D1: 5}, added=(D1,), revisions=(), unchanged=0),
        ),
        (
            {D1: 5, D2: 6},
            {D2: 6},
            MergeResult(merged={D1: 5, D2: 6}, added=(), revisions=(), unchanged=1),
        ),
        (
            {D1: 5, D2: 6},
            {D2: 7, D3: 8},
            MergeResult(
                merged={D1: 5, D2: 7, D3: 8},
                added=(D3,),
                revisions=(Revision(day=D2, old=6, new=7),),
                unchanged=0,
            ),
        ),
    ],
    ids=["add", "unchanged-keeps-old", "revise-and-add"],
)
def test_merge(existing: dict[date, int], fetched: dict[date, int], expected: MergeResult) -> None:
    """Merging adds new days, reports revisions old → new, and keeps days the pages lack."""
    assert merge_actuals(existing, fetched) == expected


@given(
    st.dictionaries(st.dates(), st.integers(0, 10**7)),
    st.dictionaries(st.dates(), st.integers(0, 10**7)),
)
def test_merge_never_drops_a_row(existing: dict[date, int], fetched: dict[date, int]) -> None:
    """Every stored day survives a merge; every fetched value wins."""
    result = merge_actuals(existing, fetched)
    assert set(existing) <= set(result.merged)
    assert all(result.merged[d] == v for d, v in fetched.items())
    assert len(result.added) + len(result.revisions) + result.unchanged == len(fetched)


# --------------------------------------------------------------------------- files


def test_csv_roundtrip_and_atomic_write(tmp_path: Path) -> None:
    """Written actuals read back identically and no temp file is left behind."""
    data = read_actuals(DAILY)
    out = tmp_path / "actuals.csv"
    out.write_text("date,passengers\n")
    write_actuals(out, data)
    assert read_actuals(out) == data
    assert out.read_text() == format_actuals_csv(data)
    assert [p.name for p in tmp_path.iterdir()] == ["actuals.csv"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    """A write that fails midway leaves the old content and no temp file."""
    out = tmp_path / "a.csv"
    out.write_text("old\n")
    with pytest.raises(TypeError):
        atomic_write_text(out, None)  # type: ignore[arg-type]
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("day,count\n2024-01-01,5\n", ":1: header"),
        ("date,passengers\n2024-01-01,5\n2024-01-32,6\n", ":3: bad actuals row"),
        ("date,passengers\n2024-01-01,x\n", ":2: bad actuals row"),
        ("date,passengers\n2024-01-01,5\n2024-01-01,5\n", ":3: duplicate date"),
        ("date,passengers\n2024-01-01,-5\n", ":2: negative"),
    ],
    ids=["header", "bad-date", "bad-number", "duplicate", "negative"],
)
def test_read_actuals_errors_name_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    """A malformed actuals CSV raises InputError naming the file and line."""
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        read_actuals(path)
    assert "bad.csv" in str(info.value)


def test_read_actuals_missing(tmp_path: Path) -> None:
    """A missing file is an error unless missing_ok, which gives an empty mapping."""
    with pytest.raises(InputError, match="not found"):
        read_actuals(tmp_path / "nope.csv")
    assert read_actuals(tmp_path / "nope.csv", missing_ok=True) == {}


# --------------------------------------------------------------------------- fetch-actuals


class _Handler(BaseHTTPRequestHandler):
    """Serve the fixtures like tsa.gov: 403 for non-browser agents."""

    pages: ClassVar[dict[str, Path]] = {
        "/travel/passenger-volumes": PAGE_2025,
        "/travel/passenger-volumes/2024": PAGE_2024,
    }
    user_agents: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        ua = self.headers.get("User-Agent", "")
        type(self).user_agents.append(ua)
        if "Mozilla/5.0" not in ua:
            self._send(403, b"forbidden")
        elif self.path == "/broken":
            self._send(200, b"<html><body><h1>Maintenance</h1></body></html>")
        elif self.path in self.pages:
            self._send(200, self.pages[self.path].read_bytes())
        elif self.path in ("/travel/passenger-volumes/2022", "/travel/passenger-volumes/2023"):
            year = int(self.path[-4:])
            rows = "".join(
                f"<tr><td>{m}/{d}/{year}</td><td>2,{m:02d}{d:01d},000</td></tr>"
                for m in range(1, 13) for d in range(1, 29) if d < 10
            )
            body = f"<table><tr><th>Date</th><th>Numbers</th></tr>{rows}</table>"
            self._send(200, body.encode())
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture(name="server")
def _server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _args(
    out: Path, *urls: str, json_out: bool = False, backfill: str = "0"
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tsad")
    register_fetch_actuals(parser.add_subparsers(required=True))
    argv = ["fetch-actuals", "--out", str(out), "--timeout", "5", "--backfill-years", backfill]
    for u in urls:
        argv += ["--url", u]
    if json_out:
        argv.append("--json")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> int:
    async with asyncio.timeout(20):
        rc: int = await asyncio.to_thread(args.func, args)
    return rc


async def test_fetch_merges_both_layouts(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both pages are fetched with a browser agent, merged, and a revision is reported."""
    out = tmp_path / "actuals.csv"
    kept = {date(2019, 1, 1): 2_201_765, date(2024, 4, 1): 1}
    write_actuals(out, kept)
    page2024 = parse_passenger_volumes(PAGE_2024.read_text(), source="x")
    rc = await _run(
        _args(out, f"{server}/travel/passenger-volumes", f"{server}/travel/passenger-volumes/2024")
    )
    assert rc == 0
    merged = read_actuals(out)
    assert merged[date(2019, 1, 1)] == 2_201_765
    assert merged[date(2024, 4, 1)] == page2024[date(2024, 4, 1)]
    assert merged[date(2025, 1, 6)] == 2_315_402
    assert len(merged) == 1 + 14 + 10
    printed = capsys.readouterr().out
    assert f"revised 2024-04-01: 1 -> {page2024[date(2024, 4, 1)]}" in printed
    assert "23 added" in printed
    assert all("Mozilla/5.0" in ua for ua in _Handler.user_agents)


async def test_fetch_json_summary(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one JSON summary with added dates and revisions, creating the file."""
    out = tmp_path / "new.csv"
    assert await _run(_args(out, f"{server}/travel/passenger-volumes", json_out=True)) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('{"added"')][-1]
    summary = json.loads(line)
    assert summary["total"] == 10
    assert summary["revised"] == []
    assert summary["last_date"] == "2025-01-15"
    assert read_actuals(out)[date(2025, 1, 15)] == 2_013_999


@pytest.mark.parametrize(
    ("path", "message"),
    [("/missing", "HTTP 404"), ("/broken", "no 'Date | Numbers'")],
    ids=["http-404", "no-table"],
)
async def test_fetch_failure_leaves_file_untouched(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, message: str
) -> None:
    """A fetch or parse failure exits 1 with a clear message and does not touch the file."""
    out = tmp_path / "actuals.csv"
    write_actuals(out, {date(2024, 1, 1): 5})
    before = out.read_bytes()
    rc = await _run(_args(out, f"{server}/travel/passenger-volumes", f"{server}{path}"))
    assert rc == 1
    assert message in capsys.readouterr().err
    assert out.read_bytes() == before


async def test_fetch_connection_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable server is reported as a fetch failure, exit 1, no file created."""
    out = tmp_path / "actuals.csv"
    rc = await _run(_args(out, "http://127.0.0.1:9/travel/passenger-volumes"))
    assert rc == 1
    assert "fetch failed" in capsys.readouterr().err
    assert not out.exists()


async def test_first_run_backfills_past_years(server: str, tmp_path: Path) -> None:
    """A fresh install's first fetch also fetches the archive years the forecaster needs
    (from the local server, never the internet); a second run fetches no archive page."""
    out = tmp_path / "actuals.csv"
    _Handler.user_agents.clear()
    assert await _run(_args(out, f"{server}/travel/passenger-volumes", backfill="3")) == 0
    years = {d.year for d in read_actuals(out)}
    assert {2022, 2023, 2024, 2025} <= years
    first = len(_Handler.user_agents)
    assert first == 4  # the current page and three archive years
    assert await _run(_args(out, f"{server}/travel/passenger-volumes", backfill="3")) == 0
    # 2022/2023 fixture pages hold fewer than 360 days, so they are asked for again; the
    # full-year check is what skips a year the CSV already holds.
    assert backfill_years(read_actuals(out), 2025, 3) == [2022, 2023, 2024]
    full = {date(2023, 1, 1) + timedelta(days=i): 2_000_000 for i in range(365)}
    assert backfill_years(full, 2024, 1) == []
    assert backfill_years(full, 2024, 1, force=True) == [2023]
