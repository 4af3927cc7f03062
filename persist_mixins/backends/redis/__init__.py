"""The Redis backend: storage layout, plans (pure) and drivers (redis-py sync and asyncio)."""
