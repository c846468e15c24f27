"""Request pricing from the exchange's endpoint-cost table, and resizing from account limits."""

from __future__ import annotations

from datetime import UTC, datetime

from tsad.kalshi.budget import Budget
from tsad.kalshi.wire import AccountLimits, BucketLimit, EndpointCost, EndpointCosts


class StillClock:
    """A clock that never moves (no refill between calls)."""

    def now(self) -> datetime:
        return datetime(2026, 8, 25, 14, tzinfo=UTC)

    def monotonic(self) -> float:
        return 0.0


TABLE = EndpointCosts(default_cost=12, endpoints=(
    EndpointCost(method="DELETE", path="/trade-api/v2/portfolio/events/orders/batched", cost=3),
    EndpointCost(method="POST", path="/portfolio/events/orders/{order_id}/amend", cost=6),
    EndpointCost(method="GET", path="/portfolio/orders/{order_id}", cost=1),
))


def test_costs_follow_the_exchange_table():
    """Listed endpoints (templated, with or without the API prefix) cost what the table says."""
    budget = Budget("basic", clock=StillClock())
    assert budget.cost("POST", "/portfolio/events/orders/x/amend") == ("write", 10)
    budget.use_costs(TABLE)
    assert budget.cost("POST", "/portfolio/events/orders/x/amend") == ("write", 6)
    assert budget.cost("DELETE", "/portfolio/events/orders/batched", items=7) == ("write", 21)
    assert budget.cost("GET", "/portfolio/orders/abc") == ("read", 1)
    assert budget.cost("POST", "/portfolio/events/orders") == ("write", 12)
    assert budget.cost("POST", "/portfolio/events/orders/batched", items=3) == ("write", 36)
    assert budget.cost("GET", "/portfolio/orders") == ("read", 12)


async def test_account_limits_resize_without_refilling():
    """GET /account/limits resizes both buckets; tokens already spent stay spent."""
    budget = Budget("basic", clock=StillClock())
    await budget.acquire("write", 50)
    budget.use_limits(AccountLimits(
        usage_tier="advanced", read=BucketLimit(refill_rate=300, bucket_capacity=600),
        write=BucketLimit(refill_rate=300, bucket_capacity=600)))
    assert (budget.write.rate, budget.write.capacity) == (270, 480)
    assert budget.write.available == 30
    assert budget.max_batch(10) == 48
