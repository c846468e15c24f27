"""Encoding Kalshi V2 request bodies: create (single and batch), amend, decrease, batch cancel,
order groups.

Prices go out as 4-decimal dollar strings and counts as 2-decimal count strings (the
fixed-point forms of kalshi-api.md §3.0); ``exchange_index`` is omitted so Kalshi routes by
ticker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tsad.core.money import format_count, format_price
from tsad.core.orders import BookSide, OrderRequest


__all__ = [
    "encode_amend",
    "encode_batch_cancel",
    "encode_batch_create",
    "encode_decrease",
    "encode_order_group",
    "encode_order_request",
]

Json = Any


def encode_order_request(
    request: OrderRequest, *, order_group_id: str | None = None
) -> dict[str, Json]:
    """Encode an `OrderRequest` as ``CreateOrderV2Request`` JSON (4-decimal price, 2-decimal count).

    ``cancel_order_on_pause`` is always sent, as the request says; ``order_group_id`` only
    when the order belongs to a group. ``exchange_index`` is omitted so Kalshi auto-routes.
    """
    body: dict[str, Json] = {
        "ticker": request.ticker,
        "client_order_id": request.client_order_id,
        "side": request.side.value,
        "count": format_count(request.count),
        "price": format_price(request.price),
        "time_in_force": request.time_in_force,
        "self_trade_prevention_type": request.self_trade_prevention_type,
        "post_only": request.post_only,
        "cancel_order_on_pause": request.cancel_order_on_pause,
    }
    if order_group_id is not None:
        body["order_group_id"] = order_group_id
    return body


def encode_batch_create(
    requests: Sequence[OrderRequest], *, order_group_id: str | None = None
) -> dict[str, Json]:
    """Encode ``BatchCreateOrdersV2Request`` (each item a ``CreateOrderV2Request``)."""
    return {"orders": [encode_order_request(r, order_group_id=order_group_id)
                       for r in requests]}


def encode_amend(
    *, ticker: str, side: str, price: int, count: int,
    client_order_id: str | None = None, updated_client_order_id: str | None = None,
) -> dict[str, Json]:
    """Encode ``AmendOrderV2Request``: ``count`` is the new total (filled + resting)."""
    body: dict[str, Json] = {
        "ticker": ticker,
        "side": BookSide(side).value,
        "price": format_price(price),
        "count": format_count(count),
    }
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    if updated_client_order_id is not None:
        body["updated_client_order_id"] = updated_client_order_id
    return body


def encode_decrease(*, reduce_to: int) -> dict[str, Json]:
    """Encode ``DecreaseOrderV2Request`` with ``reduce_to``."""
    return {"reduce_to": format_count(reduce_to)}


def encode_batch_cancel(order_ids: Sequence[str]) -> dict[str, Json]:
    """Encode ``BatchCancelOrdersV2Request``."""
    return {"orders": [{"order_id": oid} for oid in order_ids]}


def encode_order_group(*, contracts_limit: int) -> dict[str, Json]:
    """Encode ``CreateOrderGroupRequest``: ``contracts_limit`` whole contracts per rolling 15 s."""
    if contracts_limit < 1:
        raise ValueError(f"an order group needs contracts_limit >= 1, got {contracts_limit}")
    return {"contracts_limit": contracts_limit}

