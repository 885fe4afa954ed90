"""The asyncio edge: the daemon's lifecycle, listeners and output queues."""
