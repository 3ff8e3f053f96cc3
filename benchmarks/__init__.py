"""Side-by-side benchmark of shimgw against a naive aiohttp passthrough proxy (`make bench`)."""
