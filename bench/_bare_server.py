"""The baseline for ``bench/ingest.py``: a bare aiohttp server that reads each body, answers 200.

It is set up the way ``whrelay listen`` sets up its server (``AppRunner`` with the access log
off, the same keep-alive timeout, no auto-decompression, the same backlog), so that the
difference measured is what whrelay does per request, not how aiohttp is configured.
It binds 127.0.0.1 only and runs until SIGINT or SIGTERM.

    python bench/_bare_server.py --port N
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

HOST = "127.0.0.1"
MAX_BODY = 25 * 1024 * 1024
KEEPALIVE_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 5.0
ANSWER = b'{"ok":true}\n'


async def handle(request: web.Request) -> web.Response:
    """Read the whole body, then answer 200: the least a webhook receiver must do."""
    await request.read()
    return web.Response(status=200, body=ANSWER, content_type="application/json")


async def serve(port: int) -> None:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        auto_decompress=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port, backlog=1024).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
