"""The relay: forwarding to targets (durable queue, retries, proxy mode) and replay.

Uses aiohttp's client; imports no UI library.
"""
