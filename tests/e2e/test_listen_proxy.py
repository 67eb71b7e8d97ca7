"""``whrelay listen --mode proxy``: the target's answer is the sender's, only after the commit."""

from __future__ import annotations

import asyncio
import gzip
import time
from pathlib import Path

import aiohttp

from tests.helpers.commands import github_request
from tests.helpers.forwarding import attempts, deliveries
from tests.helpers.processes import (
    listening,
    start_listener,
)
from tests.helpers.rawhttp import raw_request, request_bytes, url_port
from tests.helpers.targetserver import Reply, target_server

FAST = ("--durability", "normal", "--retry-schedule", "0.2,0.5")
"""Options every listener here gets: quick commits and quick retries."""

GITHUB_SECRET = "review-secret"

# --- proxy mode --------------------------------------------------------------------------------


async def test_proxy_mode_passes_the_targets_answer_through(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    compressed = gzip.compress(bytes(range(256)) * 64)
    with target_server() as target:
        target.queue(
            Reply(
                418,
                (("X-Teapot", "short"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")),
                b"I'm a teapot",
            ),
            Reply(
                200,
                (("Content-Type", "application/octet-stream"), ("Content-Encoding", "gzip")),
                compressed,
            ),
        )
        with listening(db, *FAST, "-f", str(target.port), "--mode", "proxy") as listener:
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                async with session.post(listener.url + "tea", data=b"brew") as response:
                    assert response.status == 418
                    assert response.headers["X-Teapot"] == "short"
                    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
                    assert await response.read() == b"I'm a teapot"
                    teapot_id = int(response.headers["X-Whrelay-Id"])
                async with session.post(listener.url + "bin", data=b"zip") as response:
                    assert response.status == 200
                    assert response.headers["Content-Encoding"] == "gzip"
                    assert await response.read() == compressed
                    binary_id = int(response.headers["X-Whrelay-Id"])
                target.down()
                async with session.post(listener.url + "down", data=b"nobody") as response:
                    assert response.status == 502
                    text = await response.text()
                    down_id = int(response.headers["X-Whrelay-Id"])
    assert target.url in text
    assert "did not answer" in text
    assert f"#{down_id}" in text
    assert target.bodies == [b"brew", b"zip"]
    [teapot] = attempts(db, teapot_id)
    assert (teapot.trigger, teapot.status) == ("proxy", 418)
    assert deliveries(db, teapot_id)[0].state == "failed"
    [binary] = attempts(db, binary_id)
    assert (binary.trigger, binary.status, binary.response_body) == ("proxy", 200, compressed)
    assert deliveries(db, binary_id)[0].state == "delivered"
    [down] = attempts(db, down_id)
    assert (down.trigger, down.status) == ("proxy", None)
    # "reset" when a keep-alive connection the target just closed was picked from the pool.
    assert down.error in ("refused", "reset")


async def test_proxy_mode_passes_the_targets_header_bytes_on_exactly(tmp_path: Path) -> None:
    """A header of the target's answer that is not UTF-8 reaches the sender as the same bytes
    (headers are decoded by one lossless rule), not as replacement characters."""
    answer = b"HTTP/1.1 200 OK\r\nX-Caf: caf\xe9 \xff\xfe\r\nContent-Length: 2\r\n\r\nok"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with listening(
            tmp_path / "hooks.db", *FAST, "-f", str(port), "--mode", "proxy"
        ) as listener:
            response = await raw_request(
                listener.url,
                b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            )
    finally:
        server.close()
        await server.wait_closed()
    assert (response.status, response.body) == (200, b"ok")
    assert response.header("X-Caf") == b"caf\xe9 \xff\xfe"


async def test_proxy_mode_forwards_only_what_is_committed(tmp_path: Path) -> None:
    """While the database cannot be written (another process holds the write lock), a proxied
    webhook does not reach the target; once the commit is through, it does, and the sender
    gets the target's answer."""
    from whrelay.core.paths import lock_path
    from whrelay.storage.lock import WriteLock

    db = tmp_path / "hooks.db"
    with (
        target_server() as target,
        listening(db, *FAST, "-f", str(target.port), "--mode", "proxy") as listener,
    ):
        lock = WriteLock(lock_path(db))
        lock.acquire()
        held = True
        try:
            async with aiohttp.ClientSession() as session:
                sending = asyncio.ensure_future(session.post(listener.url + "held", data=b"x"))
                deadline = time.monotonic() + 2.0  # the window in which it must not arrive
                while time.monotonic() < deadline and not target.requests and not sending.done():
                    await asyncio.sleep(0.02)
                assert target.requests == [], "forwarded before it was stored"
                assert not sending.done()
                lock.release()
                held = False
                response = await sending
                assert response.status == 200, await response.text()
                webhook_id = int(response.headers["X-Whrelay-Id"])
                response.release()
        finally:
            if held:
                lock.release()
        [seen] = target.wait_for(1)
    assert seen.body == b"x"
    [attempt] = attempts(db, webhook_id)
    assert (attempt.trigger, attempt.status) == ("proxy", 200)


async def test_proxy_mode_answers_head_with_the_targets_length(tmp_path: Path) -> None:
    """An answer to HEAD has no body; its Content-Length is the target's (the size of the body
    it would have sent), not the 0 bytes passed on."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(200, (("X-Kind", "head"),), b"x" * 1234)
        with listening(db, *FAST, "-f", str(target.port), "--mode", "proxy") as listener:
            reader, writer = await asyncio.open_connection("127.0.0.1", url_port(listener.url))
            writer.write(
                request_bytes("HEAD", "/probe", [("Host", "localhost"), ("Connection", "close")])
            )
            answer = await asyncio.wait_for(reader.read(), 20)  # all of it, to the close
            writer.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert [line for line in lines if line.lower().startswith(b"content-length:")] == [
        b"Content-Length: 1234"
    ]
    assert b"X-Kind: head" in lines
    assert rest == b""  # no body after the head
    assert [r.method for r in target.requests] == ["HEAD"]


async def test_proxy_mode_says_when_it_passes_on_part_of_an_answer(
    tmp_path: Path,
) -> None:
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        target.reply(status=200, body=b"x" * (2 << 20))
        listener = start_listener(tmp_path / "hooks.db", "-f", str(target.port), "--mode", "proxy")
        try:
            answer = await raw_request(listener.url, github_request(b"{}"))
        finally:
            listener.stop()
    assert answer.status == 200  # what the target answered: it ran the webhook
    assert answer.body == b"x" * (1 << 20)
    assert answer.header("X-Whrelay-Truncated") == b"the first 1048576 bytes of a longer body"
