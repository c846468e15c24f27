"""The quote sheet: every market's true value and intended order, from saved or live markets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from tsad.core import consensus, midweek, quoting, tickers
from tsad.core.market import Event, Market, Outcome, Valuation
from tsad.core.money import PRICE_ONE, format_count, format_price, parse_price
from tsad.errors import InputError, ProtocolError
from tsad.kalshi import wire
from tsad.runtime import inputs
from tsad.runtime.config import Config


__all__ = ["SheetRow", "books_from_payload", "load_markets_file", "quote_sheet", "valuations_for"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SheetRow:
    """One line of the sheet (``side`` None when the market is not quoted, with ``reason``)."""

    ticker: str
    floor_strike: float | None
    side: str | None
    true_value: Fraction | None
    book_side: str | None
    price: int | None
    count: int | None
    reason: str | None = None
    model_value: Fraction | None = None
    market_value: Fraction | None = None

    def to_json(self) -> dict[str, Any]:
        """Render as the documented JSON object (prices and counts as Kalshi strings)."""
        return {
            "ticker": self.ticker,
            "floor_strike": self.floor_strike,
            "side": self.side,
            "true_value": None if self.true_value is None else float(self.true_value),
            "true_value_exact": None if self.true_value is None
            else f"{self.true_value.numerator}/{self.true_value.denominator}",
            "book_side": self.book_side,
            "price": None if self.price is None else format_price(self.price),
            "count": None if self.count is None else format_count(self.count),
            "reason": self.reason,
            "model_value": None if self.model_value is None else float(self.model_value),
            "market_value": None if self.market_value is None else float(self.market_value),
        }


def load_markets_file(text: str, name: str) -> tuple[str, list[Market], dict[str, Any]]:
    """Read a saved ``GET /events/{t}?with_nested_markets=true`` or ``GET /markets`` response.

    Returns:
        The event ticker, the markets sorted by strike, and the raw market objects by ticker.

    Raises:
        InputError: not JSON, or neither shape.
    """
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{name}: not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{name}: expected a JSON object")
    try:
        if "event" in payload:
            ev: Event = wire.decode_event(payload)
            markets = list(ev.markets)
            raw = payload.get("markets") or payload["event"].get("markets") or []
            event_ticker = ev.event_ticker
        elif "markets" in payload:
            page = wire.decode_markets_page(payload)
            markets = [m for m in page.items if isinstance(m, Market)]
            raw = payload["markets"]
            if not markets:
                raise InputError(f"{name}: no markets")
            event_ticker = markets[0].event_ticker
        else:
            raise InputError(f"{name}: expected an 'event' or 'markets' response")
    except ProtocolError as exc:
        raise InputError(f"{name}: {exc}") from None
    markets.sort(key=lambda m: (m.floor_strike is None, m.floor_strike or 0.0, m.ticker))
    by_ticker = {str(r.get("ticker")): r for r in raw if isinstance(r, dict)}
    return event_ticker, markets, by_ticker


def books_from_payload(raw: Mapping[str, Any]) -> dict[str, quoting.BookTop]:
    """Read each market's top of book from a saved market object (``yes_bid/ask_dollars``).

    A bid of 0 or an ask of $1 (or absent fields) mean that side is empty.
    """
    out: dict[str, quoting.BookTop] = {}
    for ticker, m in raw.items():
        bid = ask = None
        try:
            if isinstance(m.get("yes_bid_dollars"), str):
                bid = parse_price(m["yes_bid_dollars"]) or None
            if isinstance(m.get("yes_ask_dollars"), str):
                a = parse_price(m["yes_ask_dollars"])
                ask = a if 0 < a < PRICE_ONE else None
        except ValueError:
            bid = ask = None
        out[ticker] = quoting.BookTop(best_bid=bid, best_ask=ask)
    return out


def valuations_for(
    config: Config, event_ticker: str, markets: Sequence[Market], now: datetime
) -> tuple[list[Valuation], str]:
    """Value every market from the configured forecaster files and hooks.

    Returns:
        The valuations and the prediction file's version.

    Raises:
        InputError: a forecaster file is missing or malformed.
        HookError: a hook failed.
        ConfigError: an unknown hook.
    """
    mc = config.model
    if mc.prediction_path is None or mc.history_path is None:
        raise InputError("model.prediction_path and model.history_path must be set to quote")
    preds = inputs.load_predictions(mc.prediction_path)
    history = inputs.load_history(mc.history_path)
    actuals: dict[date, int] = inputs.load_actuals(mc.actuals_path) if mc.actuals_path else {}
    sunday = tickers.parse_event_ticker(event_ticker).sunday
    p = inputs.prediction_for(preds, sunday, mc.prediction_path)
    values = midweek.value_week(
        event_ticker, markets, now=now, prediction=p, history=history, actuals=actuals,
        hooks=midweek.resolve_hooks(mc.hooks),
    )
    return values, inputs.file_version(mc.prediction_path)


def quote_sheet(
    markets: Sequence[Market],
    valuations: Sequence[Valuation],
    policy: quoting.QuotingPolicy | quoting.EdgePolicy,
    *,
    books: Mapping[str, quoting.BookTop] | None = None,
    market_weight: Fraction = Fraction(0),
    market_max_spread: int = 0,
) -> list[SheetRow]:
    """Turn valuations into one row per market (in ``markets`` order), as the daemon quotes.

    The model's values are pooled with the saved book's mid (`tsad.core.consensus`, the
    daemon's rule; a saved book cannot tell our own orders apart). Positions are taken as
    flat: the sheet shows what a fresh start would place. Each row also shows the model's
    value of its leg and the market's.
    """
    tops = books or {}
    market = {t: consensus.market_yes(b.best_bid, b.best_ask, market_max_spread)
              for t, b in tops.items()}
    pooled = consensus.pool_all(valuations, market, market_weight)
    chosen = quoting.desired_quotes(pooled, markets, policy, {}, tops)
    quotes = {q.ticker: q for q in chosen.quotes}
    reasons = {s.ticker: s.reason for s in chosen.skips}
    values = {v.ticker: v.true_value for v in pooled}
    model = {v.ticker: v for v in valuations}
    rows: list[SheetRow] = []
    for m in markets:
        q = quotes.get(m.ticker)
        v = model.get(m.ticker)
        yes = market.get(m.ticker)
        leg = None if v is None else v.outcome
        model_value = None if v is None else v.true_value
        market_value = (None if yes is None or leg is None
                        else yes if leg is Outcome.YES else 1 - yes)
        if q is not None:
            rows.append(SheetRow(
                ticker=m.ticker, floor_strike=m.floor_strike, side=q.outcome.value,
                true_value=q.true_value, book_side=q.side.value, price=q.price, count=q.count,
                model_value=model_value, market_value=market_value,
            ))
        else:
            rows.append(SheetRow(
                ticker=m.ticker, floor_strike=m.floor_strike, side=None,
                true_value=values.get(m.ticker), book_side=None, price=None, count=None,
                reason=reasons.get(m.ticker, "no valuation"),
                model_value=model_value, market_value=market_value,
            ))
    return rows
