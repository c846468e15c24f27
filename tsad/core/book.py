"""The local order books of subscribed markets, rebuilt from websocket snapshots and deltas."""

# Rules (h11 style; the feed owns the socket, this module only keeps state):
#
# * Prices are YES prices in $0.0001 units, counts in 0.01-contract units; both are ints.
# * A book holds YES bids (``side: yes`` levels) and YES asks (``side: no`` levels). With
#   ``use_yes_price`` on, the exchange reports NO levels at the YES price already, so a NO
#   level at 0.70 *is* a YES ask at 0.70. With it off, a NO level at q is a YES ask at 1 − q
#   (kalshi-api.md §5.5).
# * ``seq`` is per subscription id (``sid``) and increments by one per sequenced message of
#   that sid, across all its markets (§5.4). A snapshot sets the baseline of its sid.
# * A book is *stale* until its first snapshot, after any sequence gap of its sid, after a
#   delta that arrives before its snapshot, after a delta that drives a level negative, and
#   after the connection is lost. A stale book refuses to answer best prices (it raises
#   `ProtocolError`): quotes must never be priced off it.
# * Only a snapshot makes a stale book fresh again (`BookResynced`). Deltas for a stale book
#   are dropped (the coming snapshot includes them); ``seq`` still advances.
# * A gap on a sid makes every book of that sid stale, since the lost message could have
#   been for any of them.

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from tsad.core.market import Outcome
from tsad.core.money import PRICE_ONE
from tsad.errors import ProtocolError


__all__ = [
    "DEPTH",
    "Book",
    "BookEvent",
    "BookMessage",
    "BookResynced",
    "BookStale",
    "BookUpdated",
    "Books",
    "Delta",
    "Level",
    "SeqAck",
    "Snapshot",
]

Level = tuple[int, int]

DEPTH = 3
"""Levels per side a `BookUpdated` carries."""


# -- inputs (what the feed hands over, already parsed to exact ints) -----------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """An ``orderbook_snapshot``: every resting level of one market.

    ``yes`` are YES bids at YES prices; ``no`` are NO bids, at YES prices when the
    subscription used ``use_yes_price`` (else at NO prices). Levels are ``(price, count)``.
    """

    sid: int
    seq: int | None
    ticker: str
    yes: tuple[Level, ...] = ()
    no: tuple[Level, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Delta:
    """An ``orderbook_delta``: a signed change of the count resting at (side, price)."""

    sid: int
    seq: int | None
    ticker: str
    side: Outcome
    price: int
    delta: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SeqAck:
    """Any other sequenced message of a sid (an ``ok`` ack) that consumes a ``seq``."""

    sid: int
    seq: int


BookMessage = Snapshot | Delta | SeqAck


# -- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BookUpdated:
    """The top of a fresh book changed (prices are YES prices; None = no level).

    ``bids``/``asks`` are its best ``DEPTH`` levels, best first, with their sizes: enough to
    see past our own order (one per side) to the best price of others.
    """

    ticker: str
    best_bid: int | None
    best_ask: int | None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BookStale:
    """These books became unusable until resynced (pull their quotes)."""

    tickers: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BookResynced:
    """A snapshot made this book fresh again."""

    ticker: str


BookEvent = BookUpdated | BookStale | BookResynced


class Book:
    """The order book of one market, as YES bids and YES asks (price → count).

    Args:
        ticker: the market ticker.
        yes_prices: True when NO levels arrive at YES prices (``use_yes_price: true``).
    """

    __slots__ = ("_asks", "_bids", "_stale", "ticker", "yes_prices")

    def __init__(self, ticker: str, *, yes_prices: bool = True) -> None:
        self.ticker = ticker
        self.yes_prices = yes_prices
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._stale: str | None = "awaiting snapshot"

    def __repr__(self) -> str:
        bid = max(self._bids) if self._bids else None
        ask = min(self._asks) if self._asks else None
        return f"Book({self.ticker!r}, stale={self._stale!r}, bid={bid}, ask={ask})"

    @property
    def stale_reason(self) -> str | None:
        """Why the book is unusable, or None when it is fresh."""
        return self._stale

    @property
    def is_stale(self) -> bool:
        """Tell whether the book must not be used."""
        return self._stale is not None

    def mark_stale(self, reason: str) -> None:
        """Make the book unusable until the next snapshot."""
        self._stale = reason

    def _ask_price(self, price: int) -> int:
        return price if self.yes_prices else PRICE_ONE - price

    def _check(self, price: int, count: int) -> None:
        if not 0 <= price <= PRICE_ONE:
            raise ProtocolError(f"{self.ticker}: price {price} outside [0, {PRICE_ONE}]")
        if count < 0:
            raise ProtocolError(f"{self.ticker}: negative count {count} at price {price}")

    def apply_snapshot(self, yes: Iterable[Level], no: Iterable[Level]) -> None:
        """Replace every level and make the book fresh.

        Args:
            yes: YES bids as ``(price, count)``.
            no: NO bids as ``(price, count)`` (YES prices if ``yes_prices``).

        Raises:
            ProtocolError: a price outside [0, 1] or a negative count (the book is left stale).
        """
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        try:
            for price, count in yes:
                self._check(price, count)
                if count:
                    bids[price] = bids.get(price, 0) + count
            for price, count in no:
                self._check(price, count)
                if count:
                    p = self._ask_price(price)
                    asks[p] = asks.get(p, 0) + count
        except ProtocolError as exc:
            self._bids.clear()
            self._asks.clear()
            self._stale = str(exc)
            raise
        self._bids, self._asks, self._stale = bids, asks, None

    def apply_delta(self, side: Outcome, price: int, delta: int) -> None:
        """Add a signed ``delta`` to the level at (side, price); a level at 0 disappears.

        Raises:
            ProtocolError: the book is stale, or the level would go negative (the book is
                then marked stale).
        """
        if self._stale is not None:
            raise ProtocolError(f"{self.ticker}: delta on a stale book ({self._stale})")
        if side is Outcome.YES:
            levels, p = self._bids, price
        else:
            levels, p = self._asks, self._ask_price(price)
        new = levels.get(p, 0) + delta
        try:
            self._check(p, new)
        except ProtocolError as exc:
            self._stale = str(exc)
            raise
        if new:
            levels[p] = new
        else:
            levels.pop(p, None)

    def _fresh(self) -> None:
        if self._stale is not None:
            raise ProtocolError(f"{self.ticker}: book is stale ({self._stale})")

    def best_bid(self) -> int | None:
        """Return the highest YES bid price, or None when there is no bid.

        Raises:
            ProtocolError: the book is stale.
        """
        self._fresh()
        return max(self._bids) if self._bids else None

    def best_ask(self) -> int | None:
        """Return the lowest YES ask price, or None when there is no ask.

        Raises:
            ProtocolError: the book is stale.
        """
        self._fresh()
        return min(self._asks) if self._asks else None

    def bids(self) -> list[Level]:
        """Return the YES bids as ``(price, count)``, best first.

        Raises:
            ProtocolError: the book is stale.
        """
        self._fresh()
        return sorted(self._bids.items(), reverse=True)

    def asks(self) -> list[Level]:
        """Return the YES asks as ``(price, count)``, best first.

        Raises:
            ProtocolError: the book is stale.
        """
        self._fresh()
        return sorted(self._asks.items())

    def top(self, depth: int) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Return the best ``depth`` YES bids and asks, best first.

        Raises:
            ProtocolError: the book is stale.
        """
        self._fresh()
        return (tuple(heapq.nlargest(depth, self._bids.items())),
                tuple(heapq.nsmallest(depth, self._asks.items())))


class Books:
    """All books of one connection, with ``seq`` checking per subscription id.

    Args:
        tickers: the subscribed markets (books for others are created on their snapshot).
        yes_prices: True when subscribed with ``use_yes_price: true``.
    """

    def __init__(self, tickers: Iterable[str] = (), *, yes_prices: bool = True) -> None:
        self._yes_prices = yes_prices
        self._books: dict[str, Book] = {}
        self._last_seq: dict[int, int] = {}
        self._sid_tickers: dict[int, set[str]] = {}
        self._gapped: set[int] = set()
        self._top: dict[str, tuple[tuple[Level, ...], tuple[Level, ...]]] = {}
        self.set_tickers(tickers)

    def set_tickers(self, tickers: Iterable[str]) -> None:
        """Keep books for exactly these markets (new ones start stale, awaiting a snapshot)."""
        wanted = set(tickers)
        for t in set(self._books) - wanted:
            del self._books[t]
            self._top.pop(t, None)
            for members in self._sid_tickers.values():
                members.discard(t)
        for t in wanted - set(self._books):
            self._books[t] = Book(t, yes_prices=self._yes_prices)

    def tickers(self) -> list[str]:
        """Return the markets that have a book, sorted."""
        return sorted(self._books)

    def book(self, ticker: str) -> Book:
        """Return the book of ``ticker``.

        Raises:
            KeyError: no book for that market.
        """
        return self._books[ticker]

    def stale(self) -> frozenset[str]:
        """Return the markets whose books must not be used."""
        return frozenset(t for t, b in self._books.items() if b.is_stale)

    def is_stale(self, ticker: str) -> bool:
        """Tell whether the book of ``ticker`` is unusable (unknown markets are)."""
        b = self._books.get(ticker)
        return b is None or b.is_stale

    def best(self, ticker: str) -> tuple[int | None, int | None] | None:
        """Return ``(best_bid, best_ask)`` of a fresh book, or None when it is stale/unknown."""
        b = self._books.get(ticker)
        if b is None or b.is_stale:
            return None
        return b.best_bid(), b.best_ask()

    def sid_tickers(self, sid: int) -> frozenset[str]:
        """Return the markets seen on subscription ``sid``."""
        return frozenset(self._sid_tickers.get(sid, ()))

    def needs_resync(self) -> set[int]:
        """Return the sids whose stale books need a resync (``get_snapshot`` or resubscribe).

        A sid is listed after a gap, a delta before a snapshot, or a bad level on it, until
        every one of its books got a new snapshot. Books staled by `mark_all_stale` or
        `forget_sid` belong to no sid any more: a new subscription brings them back.
        """
        return {sid for sid in self._gapped if self.stale_of_sid(sid)}

    def stale_of_sid(self, sid: int) -> frozenset[str]:
        """Return the stale markets of subscription ``sid``."""
        return frozenset(t for t in self._sid_tickers.get(sid, ()) if self.is_stale(t))

    def forget_sid(self, sid: int) -> list[BookEvent]:
        """Drop a subscription (unsubscribed): its books go stale until a new snapshot."""
        tickers = self._sid_tickers.pop(sid, set())
        self._last_seq.pop(sid, None)
        self._gapped.discard(sid)
        return self._stale_event(tickers, "unsubscribed")

    def mark_all_stale(self, reason: str) -> list[BookEvent]:
        """Mark every book stale and forget every sid (the connection was lost).

        Returns:
            One `BookStale` naming the books that were fresh, if any.
        """
        self._last_seq.clear()
        self._sid_tickers.clear()
        self._gapped.clear()
        return self._stale_event(set(self._books), reason)

    def _stale_event(self, tickers: Iterable[str], reason: str) -> list[BookEvent]:
        newly = []
        for t in sorted(tickers):
            b = self._books.get(t)
            if b is None:
                continue
            if not b.is_stale:
                newly.append(t)
            b.mark_stale(reason)
            self._top.pop(t, None)
        return [BookStale(tickers=tuple(newly), reason=reason)] if newly else []

    def corrupt(self, sid: int, ticker: str | None, seq: int | None,
                reason: str) -> list[BookEvent]:
        """Account for an orderbook message of ``sid`` that could not be decoded.

        Its content is lost, so the book it was for (every book of the sid when the market
        is unknown) is stale and the sid needs a resync. Its ``seq``, when readable, still
        counts: the next message is not a gap on its account.

        Returns:
            `BookStale` events for books that were fresh.
        """
        if seq is not None:
            self._last_seq[sid] = seq
        self._gapped.add(sid)
        members = self._sid_tickers.setdefault(sid, set())
        if ticker is not None and ticker in self._books:
            members.add(ticker)
            tickers: set[str] = {ticker}
        else:
            tickers = set(members)
        return self._stale_event(tickers, f"undecodable message on sid {sid}: {reason}")

    def receive(self, msg: BookMessage) -> list[BookEvent]:
        """Apply one orderbook message.

        Args:
            msg: a snapshot, a delta, or another sequenced message of an orderbook sid.

        Returns:
            The events it caused, in order: `BookStale` (gap, delta before snapshot, bad
            level), `BookResynced` (a snapshot freshened a stale book), `BookUpdated` (the
            top of a fresh book changed).
        """
        events: list[BookEvent] = []
        sid = msg.sid
        if msg.seq is not None:
            last = self._last_seq.get(sid)
            gap = last is not None and msg.seq != last + 1
            self._last_seq[sid] = msg.seq
            if gap:
                self._gapped.add(sid)
                others = self._sid_tickers.get(sid, set())
                if isinstance(msg, Snapshot):
                    others = others - {msg.ticker}
                events += self._stale_event(others, f"seq gap on sid {sid}: {last} then {msg.seq}")
        if isinstance(msg, SeqAck):
            return events
        book = self._books.get(msg.ticker)
        if book is None:
            book = self._books[msg.ticker] = Book(msg.ticker, yes_prices=self._yes_prices)
        if isinstance(msg, Snapshot):
            self._sid_tickers.setdefault(sid, set()).add(msg.ticker)
            was_stale = book.is_stale
            try:
                book.apply_snapshot(msg.yes, msg.no)
            except ProtocolError as exc:
                self._gapped.add(sid)
                self._top.pop(msg.ticker, None)
                return [*events, BookStale(tickers=(msg.ticker,), reason=str(exc))]
            if was_stale:
                events.append(BookResynced(ticker=msg.ticker))
            if not self.stale_of_sid(sid):
                self._gapped.discard(sid)
            self._top.pop(msg.ticker, None)
            events += self._top_changed(book)
            return events
        # a delta
        if book.is_stale:
            if book.stale_reason == "awaiting snapshot":
                self._sid_tickers.setdefault(sid, set()).add(msg.ticker)
                self._gapped.add(sid)
                book.mark_stale("delta before snapshot")
                events.append(BookStale(tickers=(msg.ticker,), reason="delta before snapshot"))
            return events
        self._sid_tickers.setdefault(sid, set()).add(msg.ticker)
        try:
            book.apply_delta(msg.side, msg.price, msg.delta)
        except ProtocolError as exc:
            self._gapped.add(sid)
            self._top.pop(msg.ticker, None)
            return [*events, BookStale(tickers=(msg.ticker,), reason=str(exc))]
        events += self._top_changed(book)
        return events

    def _top_changed(self, book: Book) -> list[BookEvent]:
        top = book.top(DEPTH)
        if self._top.get(book.ticker) == top:
            return []
        self._top[book.ticker] = top
        bids, asks = top
        return [BookUpdated(ticker=book.ticker, best_bid=bids[0][0] if bids else None,
                            best_ask=asks[0][0] if asks else None, bids=bids, asks=asks)]
