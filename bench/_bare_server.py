"""The baseline for ``bench/ingest.py``: a bare aiohttp server that reads each body, answers 200.

By default the handler is routed by a ``web.Application``, as a bare aiohttp handler usually
is: the baseline the benchmark goals are stated against, set up as whrelay's server is
(access log off, the same keep-alive timeout, no auto-decompression, the same backlog).
``--whrelay-http`` serves the same answer from whrelay's own HTTP layer
(``whrelay.receiver.http``) without storing anything: the floor, for reference, so that
the difference from ``whrelay listen`` is what storing costs. It binds 127.0.0.1 only and
runs until SIGINT or SIGTERM.

    python bench/_bare_server.py --port N [--whrelay-http]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from whrelay.receiver.http import HttpServer, Limits, Request, Response

HOST = "127.0.0.1"
MAX_BODY = 25 * 1024 * 1024
KEEPALIVE_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 5.0
ANSWER = b'{"ok":true}\n'


async def handle(request: web.BaseRequest) -> web.Response:
    """Read the whole body, then answer 200: the least a webhook receiver must do."""
    await request.read()
    return web.Response(status=200, body=ANSWER, content_type="application/json")


class BareHandler:
    """A ``whrelay.receiver.http.Handler`` that answers 200 once the body is read."""

    def early(self, request: Request) -> Response | None:
        return None

    async def handle(self, request: Request) -> Response:
        return Response(200, ANSWER, "application/json")

    def refused(self, status: int, message: str, method: str, target: str) -> None:
        pass


async def serve_whrelay_http(port: int, stop: asyncio.Event) -> None:
    limits = Limits(MAX_BODY, read_timeout=30.0, idle_timeout=KEEPALIVE_TIMEOUT)
    server = HttpServer(BareHandler(), limits)
    await server.start(HOST, port, backlog=1024)
    try:
        await stop.wait()
    finally:
        await server.stop(SHUTDOWN_TIMEOUT)


async def serve(port: int, whrelay_http: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if whrelay_http:
        await serve_whrelay_http(port, stop)
        return
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
        "--whrelay-http", action="store_true", help="whrelay's own HTTP layer, storing nothing"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.whrelay_http))


if __name__ == "__main__":
    main()
