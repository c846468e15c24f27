"""TSA daily checkpoint numbers: fetch the tsa.gov pages, parse their tables, merge into the CSV.

The CSV (``date,passengers``, ISO dates ascending) is the daemon's ``actuals_path`` and the
forecaster's input. Merging never drops a row; a value TSA changed is a *revision*, logged
as ``actuals.revised`` with the old and new numbers (tsa-markets.md §1.4: TSA revises
history, mostly upward). The file is replaced atomically (temp file in the same directory,
fsync, ``os.replace``), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final

import httpx
import structlog

from tsad.errors import InputError, TsadError


__all__ = [
    "BACKFILL_YEARS",
    "BROWSER_USER_AGENT",
    "DEFAULT_URLS",
    "FetchError",
    "MergeResult",
    "Revision",
    "atomic_write_text",
    "backfill_years",
    "cmd_fetch_actuals",
    "fetch_pages",
    "format_actuals_csv",
    "merge_actuals",
    "parse_passenger_volumes",
    "read_actuals",
    "register_fetch_actuals",
    "write_actuals",
]

_log = structlog.get_logger("tsad.commands.actuals")

#: The current year's page; earlier years live at ``…/passenger-volumes/{YYYY}``.
DEFAULT_URLS: Final = ("https://www.tsa.gov/travel/passenger-volumes",)

#: TSA answers 403 to non-browser agents (tsa-markets.md §1.1).
BROWSER_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

_HEADER = ("date", "passengers")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_YEAR = re.compile(r"^(19|20)\d\d$")
_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})*$|^\d+$")


class FetchError(TsadError):
    """A TSA page could not be fetched (network failure or a non-200 answer)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision:
    """One day whose published number changed."""

    day: date
    old: int
    new: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeResult:
    """The outcome of merging fetched numbers into the stored ones."""

    merged: dict[date, int]
    added: tuple[date, ...]
    revisions: tuple[Revision, ...]
    unchanged: int


# --------------------------------------------------------------------------- CSV


def read_actuals(path: Path, *, missing_ok: bool = False) -> dict[date, int]:
    """Read a ``date,passengers`` CSV.

    Args:
        path: the CSV file.
        missing_ok: return an empty mapping if the file does not exist.

    Returns:
        Passengers by date.

    Raises:
        InputError: the file is missing (unless ``missing_ok``) or a row is malformed;
            the message names the file and the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise InputError(f"{path}: actuals file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read actuals file: {exc}") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return {}
    cols = [h.strip().lower() for h in header]
    if "date" not in cols or "passengers" not in cols:
        raise InputError(f"{path}:1: header must contain 'date' and 'passengers', got {header}")
    i_date, i_pax = cols.index("date"), cols.index("passengers")
    out: dict[date, int] = {}
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            day = date.fromisoformat(row[i_date].strip())
            pax = int(row[i_pax].strip())
        except (ValueError, IndexError) as exc:
            raise InputError(f"{path}:{line_no}: bad actuals row {row!r}: {exc}") from exc
        if pax < 0:
            raise InputError(f"{path}:{line_no}: negative passenger count {pax}")
        if day in out:
            raise InputError(f"{path}:{line_no}: duplicate date {day.isoformat()}")
        out[day] = pax
    return out


def format_actuals_csv(actuals: Mapping[date, int]) -> str:
    """Render actuals as the ``date,passengers`` CSV text, dates ascending.

    Args:
        actuals: passengers by date.

    Returns:
        The CSV text with a header line.
    """
    lines = [",".join(_HEADER)]
    lines.extend(f"{d.isoformat()},{actuals[d]}" for d in sorted(actuals))
    return "\n".join(lines) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a file's content atomically: temp file in the same dir, fsync, rename.

    Args:
        path: the destination; its directory must exist.
        text: the new content (UTF-8).
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp_name, path.stat().st_mode & 0o777)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_actuals(path: Path, actuals: Mapping[date, int]) -> None:
    """Write the actuals CSV atomically.

    Args:
        path: the CSV file.
        actuals: passengers by date.
    """
    atomic_write_text(path, format_actuals_csv(actuals))


# --------------------------------------------------------------------------- HTML


class _TableCollector(HTMLParser):
    """Collect every table of a page as rows of cell texts (header cells included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._depth = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            self.tables.append([])
        elif self._depth and tag == "tr":
            self._close_row()
            self._row = []
        elif self._depth and tag in ("td", "th"):
            self._close_cell()
            if self._row is None:
                self._row = []
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._close_cell()
        elif tag == "tr":
            self._close_row()
        elif tag == "table" and self._depth:
            self._close_row()
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
        self._cell = None

    def _close_row(self) -> None:
        self._close_cell()
        if self._row is not None and self.tables:
            self.tables[-1].append(self._row)
        self._row = None


def _parse_us_date(text: str) -> date | None:
    m = _US_DATE.match(text)
    if m is None:
        return None
    month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if year < 100:
        year += 2000
    return date(year, month, day)


def parse_passenger_volumes(html: str, *, source: str) -> dict[date, int]:
    """Parse a tsa.gov passenger-volumes page into passengers by date.

    Both layouts of tsa-markets.md §1.1 are understood:

    * 2025 on: ``Date | Numbers``;
    * 2024 and the old pages: ``Date | 2024 | 2023`` (this year, then comparison years).
      Only the first numeric column is read: the comparison columns are aligned by weekday
      (364 days back), not by calendar date, so reading them would misdate every value.
      When that column is headed by a year, every row's date must be in that year.

    Args:
        html: the page.
        source: where it came from (URL or file), for error messages.

    Returns:
        Passengers by date (at least one row).

    Raises:
        InputError: no passenger table, a malformed row, or conflicting duplicates; the
            message names the source and the table row.
    """
    collector = _TableCollector()
    try:
        collector.feed(html)
        collector.close()
    except (ValueError, AssertionError) as exc:  # pragma: no cover - html.parser is lenient
        raise InputError(f"{source}: unparseable HTML: {exc}") from exc
    out: dict[date, int] = {}
    found = False
    for table in collector.tables:
        if not table:
            continue
        header = [c.strip().lower() for c in table[0]]
        if len(header) < 2 or header[0] != "date":
            continue
        column = header[1]
        header_year: int | None = None
        if _YEAR.match(column):
            header_year = int(column)
        elif column not in ("numbers", "total traveler throughput", "throughput"):
            continue
        found = True
        for row_no, row in enumerate(table[1:], start=2):
            if not row or all(not c for c in row):
                continue
            where = f"{source}: table row {row_no} {row!r}"
            if len(row) < 2:
                raise InputError(f"{where}: expected a date and a number")
            day = _parse_us_date(row[0])
            if day is None:
                raise InputError(f"{where}: date {row[0]!r} is not M/D/YYYY")
            cell = row[1]
            if not _NUMBER.match(cell):
                raise InputError(f"{where}: number {cell!r} is not an integer with commas")
            if header_year is not None and day.year != header_year:
                raise InputError(
                    f"{where}: date {day.isoformat()} is not in the column's year {header_year}"
                )
            pax = int(cell.replace(",", ""))
            if day in out and out[day] != pax:
                raise InputError(f"{where}: {day.isoformat()} appears twice with different numbers")
            out[day] = pax
    if not found:
        raise InputError(f"{source}: no 'Date | Numbers' or 'Date | YYYY' table found")
    if not out:
        raise InputError(f"{source}: the passenger table has no rows")
    return out


# --------------------------------------------------------------------------- merge


def merge_actuals(existing: Mapping[date, int], fetched: Mapping[date, int]) -> MergeResult:
    """Merge fetched numbers into stored ones; fetched values win, no row is ever dropped.

    Args:
        existing: what the CSV holds.
        fetched: what the pages show now.

    Returns:
        The merged mapping, the new dates, and the revisions (old → new).
    """
    merged = dict(existing)
    added: list[date] = []
    revisions: list[Revision] = []
    unchanged = 0
    for day in sorted(fetched):
        new = fetched[day]
        old = existing.get(day)
        if old is None:
            added.append(day)
        elif old != new:
            revisions.append(Revision(day=day, old=old, new=new))
        else:
            unchanged += 1
        merged[day] = new
    return MergeResult(
        merged=merged, added=tuple(added), revisions=tuple(revisions), unchanged=unchanged
    )


# --------------------------------------------------------------------------- fetch


def fetch_pages(
    urls: Sequence[str], *, timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None
) -> list[tuple[str, str]]:
    """Fetch every page with a browser-like User-Agent.

    Args:
        urls: the pages to fetch.
        timeout_s: connect/read timeout per request.
        transport: an httpx transport (tests); default is the network.

    Returns:
        ``(url, html)`` pairs in the order given.

    Raises:
        FetchError: a request failed or did not answer 200.
    """
    headers = {
        "User-Agent": BROWSER_USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-US,en;q=0.9",
    }
    pages: list[tuple[str, str]] = []
    with httpx.Client(
        headers=headers, timeout=timeout_s, follow_redirects=True, transport=transport
    ) as client:
        for url in urls:
            try:
                resp = client.get(url)
            except httpx.HTTPError as exc:
                raise FetchError(f"{url}: fetch failed: {type(exc).__name__}: {exc}") from exc
            if resp.status_code != 200:
                raise FetchError(f"{url}: HTTP {resp.status_code}")
            pages.append((url, resp.text))
    return pages


#: Past years the forecaster and its 104-week error history need (analogs reach a year
#: back from the oldest history week).
BACKFILL_YEARS: Final = 3


def _latest_year(pages: Sequence[tuple[str, str]]) -> int:
    days = [d for url, html in pages for d in parse_passenger_volumes(html, source=url)]
    return max(days).year


def backfill_years(
    existing: Mapping[date, int], latest: int, years: int, *, force: bool = False
) -> list[int]:
    """Return the archive years to fetch: each of the ``years`` before ``latest`` that the
    CSV holds fewer than 360 days of (all of them when ``force``)."""
    wanted = list(range(latest - years, latest))
    if force:
        return wanted
    have: dict[int, int] = {}
    for d in existing:
        have[d.year] = have.get(d.year, 0) + 1
    return [y for y in wanted if have.get(y, 0) < 360]


def _summary_lines(out: Path, result: MergeResult, fetched: int) -> Iterable[str]:
    yield (
        f"{out}: {fetched} rows fetched, {len(result.added)} added, "
        f"{len(result.revisions)} revised, {result.unchanged} unchanged, "
        f"{len(result.merged)} total"
    )
    for r in result.revisions:
        yield f"  revised {r.day.isoformat()}: {r.old} -> {r.new} ({r.new - r.old:+d})"


def cmd_fetch_actuals(args: argparse.Namespace) -> int:
    """Run ``tsad fetch-actuals``: fetch, parse, merge and atomically rewrite the CSV.

    Args:
        args: parsed arguments (``out``, ``url``, ``timeout``, ``json``,
            ``backfill_years``, ``backfill``). A CSV missing any of the last
            ``backfill_years`` years (a fresh install) gets them from the archive pages.

    Returns:
        0 on success; 1 on a fetch or parse failure (the file is left untouched).
    """
    out = Path(args.out)
    urls: list[str] = list(args.url) if args.url else list(DEFAULT_URLS)
    try:
        existing = read_actuals(out, missing_ok=True)
        fetched: dict[date, int] = {}
        pages = fetch_pages(urls, timeout_s=args.timeout)
        latest = _latest_year(pages)
        years = backfill_years(existing, latest, args.backfill_years, force=args.backfill)
        if years:
            base = urls[0].rstrip("/")
            pages += fetch_pages([f"{base}/{y}" for y in years], timeout_s=args.timeout)
            _log.info("actuals.backfill", years=years)
        for url, html in pages:
            page = parse_passenger_volumes(html, source=url)
            for day, pax in page.items():
                if day in fetched and fetched[day] != pax:
                    raise InputError(
                        f"{url}: {day.isoformat()} = {pax} disagrees with another page's "
                        f"{fetched[day]}"
                    )
                fetched[day] = pax
            _log.info("actuals.page_parsed", url=url, rows=len(page))
    except TsadError as exc:
        _log.error("actuals.fetch_failed", error=str(exc))
        print(f"fetch-actuals: {exc}", file=sys.stderr)
        return 1
    result = merge_actuals(existing, fetched)
    for r in result.revisions:
        _log.warning(
            "actuals.revised", day=r.day.isoformat(), old=r.old, new=r.new, delta=r.new - r.old
        )
    if result.added or result.revisions or not out.exists():
        write_actuals(out, result.merged)
    _log.info(
        "actuals.merged",
        path=str(out),
        fetched=len(fetched),
        added=len(result.added),
        revised=len(result.revisions),
        total=len(result.merged),
    )
    if args.json:
        summary: dict[str, Any] = {
            "path": str(out),
            "fetched": len(fetched),
            "added": [d.isoformat() for d in result.added],
            "revised": [
                {"date": r.day.isoformat(), "old": r.old, "new": r.new} for r in result.revisions
            ],
            "total": len(result.merged),
            "last_date": max(result.merged).isoformat() if result.merged else None,
        }
        print(json.dumps(summary, sort_keys=True))
    else:
        for line in _summary_lines(out, result, len(fetched)):
            print(line)
    return 0


def register_fetch_actuals(sub: Any) -> argparse.ArgumentParser:
    """Register ``fetch-actuals`` on an argparse subparsers object.

    Args:
        sub: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The new subcommand parser (its ``func`` default is ``cmd_fetch_actuals``).
    """
    p: argparse.ArgumentParser = sub.add_parser(
        "fetch-actuals",
        help="fetch TSA checkpoint numbers and merge them into the actuals CSV",
        description="Fetch tsa.gov passenger-volume pages and merge them into a CSV atomically.",
    )
    p.add_argument("--out", required=True, help="the actuals CSV (date,passengers) to update")
    p.add_argument(
        "--url",
        action="append",
        help="page to fetch (repeatable); default: the current-year page. Archive pages are "
        "…/passenger-volumes/YYYY",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.add_argument(
        "--backfill-years", type=int, default=BACKFILL_YEARS,
        help="past years the CSV must hold; missing ones are fetched from the archive pages "
        f"(first --url + /YYYY) on any run (default {BACKFILL_YEARS}; 0: never)",
    )
    p.add_argument(
        "--backfill", action="store_true",
        help="fetch every one of those archive years again, even if the CSV has them",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_fetch_actuals)
    return p
