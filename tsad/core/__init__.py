"""The pure core: value types and rules with no I/O, no clock and no asyncio."""
