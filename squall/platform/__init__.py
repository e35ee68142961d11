"""Integrations with event-loop platforms; ``squall.platform.asyncio`` is the one squall runs on."""
