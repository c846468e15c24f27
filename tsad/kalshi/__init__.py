"""Kalshi Trade API v2 adapter: request signing, REST client, websocket feed and wire codec."""
