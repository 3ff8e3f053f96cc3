"""The sans-IO translation core: mapping language, transforms and engine (no aiohttp here)."""
