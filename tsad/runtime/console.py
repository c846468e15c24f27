"""The console a person reads: one short line per log event on a terminal, in New York time.

JSON lines (for journald) keep the raw fields. On a TTY the same events are rendered as
``HH:MM:SS level event key=value …`` with:

* the time in America/New_York (the markets' own clock), seconds only;
* prices and counts in one unit everywhere, the one `tsad quote` and `tsad report` use:
  fields that hold a price (``price``, ``best_bid`` …) in $0.0001 are shown as dollars
  (``0.5400``), fields that hold a count (``count``, ``position`` …) in 0.01 contract as
  contracts (``10.00``);
* the line cut to the terminal's width (a traceback, if any, follows in full).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from structlog.types import EventDict, WrappedLogger

from tsad.core.money import format_count, format_price


__all__ = ["COUNT_FIELDS", "PRICE_FIELDS", "ConsoleLine"]

NEW_YORK: Final = ZoneInfo("America/New_York")

# Log fields holding a YES price in $0.0001 units, and a count in 0.01 contract units.
PRICE_FIELDS: Final = frozenset({
    "price", "old_price", "new_price", "best_bid", "best_ask", "bid", "ask", "mid",
})
COUNT_FIELDS: Final = frozenset({
    "count", "old_count", "new_count", "position", "remaining", "filled", "reduce_to",
    "reduced_by", "contracts",
})
_LEVEL_WIDTH: Final = 7
_SKIP: Final = frozenset({"event", "level", "timestamp", "logger", "exception", "exc_info",
                          "stack"})


def _value(key: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if key in PRICE_FIELDS:
            return format_price(value)
        if key in COUNT_FIELDS:
            return format_count(value)
    text = str(value)
    return text if " " not in text else repr(text)


def _clock(stamp: object) -> str:
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp).astimezone(NEW_YORK).strftime("%H:%M:%S")
        except ValueError:
            return stamp
    return "--:--:--"


class ConsoleLine:
    """A structlog renderer: one line per event, New York time, one unit, cut to the width."""

    def __init__(self, width: int | None = None) -> None:
        self._width = width

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        """Render ``event_dict`` (already redacted) as one terminal line."""
        level = str(event_dict.get("level", method_name))
        head = f"{_clock(event_dict.get('timestamp'))} {level:<{_LEVEL_WIDTH}} " \
               f"{event_dict.get('event', '')}"
        fields = " ".join(f"{k}={_value(k, v)}" for k, v in event_dict.items()
                          if k not in _SKIP and v is not None)
        line = f"{head} {fields}" if fields else head
        width = self._width or shutil.get_terminal_size((120, 24)).columns
        if len(line) > width:
            line = line[: max(width - 1, 1)] + "…"
        trace = event_dict.get("exception")
        return f"{line}\n{trace}" if trace else line
