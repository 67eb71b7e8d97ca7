"""The relay: forwarding to targets (durable queue, retries, proxy mode) and replay.

Sends through its own lean HTTP/1.1 client (``http1``); imports no UI library.
"""
