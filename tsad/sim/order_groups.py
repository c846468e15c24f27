"""Order groups (kalshi-api.md §3.11): a rolling-15-second matched-contracts limit per group.

Pure bookkeeping (``now`` is a parameter, ids come from a callable). The limit is "the
maximum number of contracts that can be matched within this group over a rolling 15-second
window" (the spec): once the contracts matched by a group's orders within the last 15 s
reach it, the group is triggered, the caller cancels the group's resting orders and rejects
new orders in it until a reset. (A single taking order can still match past the limit in
one pass, as the trigger acts after the match.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from tsad.errors import NotFound


__all__ = ["WINDOW", "OrderGroup", "OrderGroups"]

WINDOW: Final = timedelta(seconds=15)


@dataclass(slots=True, kw_only=True)
class OrderGroup:
    """One user's group: limit and matched contracts in 0.01-contract units."""

    group_id: str
    user: str
    limit: int
    triggered: bool = False
    matched: deque[tuple[datetime, int]] = field(default_factory=deque)

    def rolling(self, now: datetime) -> int:
        """Return the contracts matched within the window ending at ``now``."""
        while self.matched and self.matched[0][0] <= now - WINDOW:
            self.matched.popleft()
        return sum(c for _, c in self.matched)


class OrderGroups:
    """Every order group of the exchange, by id."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        """Create no groups; ``new_id`` returns fresh unique ids."""
        self._new_id = new_id
        self._groups: dict[str, OrderGroup] = {}

    def create(self, user: str, limit: int) -> OrderGroup:
        """Create a group with a limit (count units, > 0)."""
        group = OrderGroup(group_id=self._new_id(), user=user, limit=limit)
        self._groups[group.group_id] = group
        return group

    def get(self, user: str, group_id: str) -> OrderGroup:
        """Return one of ``user``'s groups.

        Raises:
            NotFound: no such group for this user.
        """
        group = self._groups.get(group_id)
        if group is None or group.user != user:
            raise NotFound(f"order group {group_id} not found", status=404, code="not_found")
        return group

    def of(self, user: str) -> list[OrderGroup]:
        """Return ``user``'s groups, oldest first."""
        return [g for g in self._groups.values() if g.user == user]

    def delete(self, user: str, group_id: str) -> OrderGroup:
        """Forget a group and return it.

        Raises:
            NotFound: no such group for this user.
        """
        group = self.get(user, group_id)
        del self._groups[group_id]
        return group

    def record(self, group_id: str, count: int, now: datetime) -> OrderGroup | None:
        """Count a fill of the group's order; return the group if this fill triggers it."""
        group = self._groups.get(group_id)
        if group is None:
            return None
        group.matched.append((now, count))
        if not group.triggered and group.rolling(now) >= group.limit:
            group.triggered = True
            return group
        return None

    @staticmethod
    def set_limit(group: OrderGroup, limit: int, now: datetime) -> bool:
        """Change the limit; tell whether the group triggers at once (volume reaches it)."""
        group.limit = limit
        if not group.triggered and group.rolling(now) >= limit:
            group.triggered = True
            return True
        return False

    @staticmethod
    def reset(group: OrderGroup) -> None:
        """Clear the trigger and the matched-contracts counter."""
        group.triggered = False
        group.matched.clear()
