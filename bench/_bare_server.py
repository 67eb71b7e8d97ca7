"""The baseline for ``bench/ingest.py``: a bare aiohttp server that reads each body, answers 200.

By default the handler is routed by a ``web.Application``, as a bare aiohttp handler usually
is: the baseline the benchmark goals are stated against. ``--low-level`` serves the same
handler the way ``whrelay listen`` serves its own, from aiohttp's ``web.Server`` without
the application layer: the stricter floor, for reference. Either way the server is set up
as whrelay's is (access log off, the same keep-alive timeout, no auto-decompression, the
same backlog), so that the difference measured is what whrelay does per request. It binds
127.0.0.1 only and runs until SIGINT or SIGTERM.

    python bench/_bare_server.py --port N [--low-level]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"
MAX_BODY = 25 * 1024 * 1024
KEEPALIVE_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 5.0
ANSWER = b'{"ok":true}\n'


async def handle(request: web.BaseRequest) -> web.Response:
    """Read the whole body, then answer 200: the least a webhook receiver must do."""
    await request.read()
    return web.Response(status=200, body=ANSWER, content_type="application/json")


def low_level_server() -> web.Server:
    loop = asyncio.get_running_loop()

    def make_request(
        message: Any, payload: Any, protocol: Any, writer: Any, task: Any
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY
        )

    return web.Server(
        handle,
        request_factory=make_request,
        access_log=None,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        auto_decompress=False,
    )


async def serve(port: int, low_level: bool) -> None:
    runner: web.BaseRunner
    if low_level:
        runner = web.ServerRunner(
            low_level_server(), handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
    else:
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
    parser.add_argument(
        "--low-level", action="store_true", help="aiohttp's web.Server, as whrelay serves"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.low_level))


if __name__ == "__main__":
    main()
