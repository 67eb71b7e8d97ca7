"""``whrelay/relay/client.py``: sending one attempt and recording what came of it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import re
import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.captures import stored_webhook
from tests.helpers.rawserver import OK, RawServer, answers, self_signed, serving_raw
from tests.helpers.targetserver import target_server
from whrelay.core.models import Attempt, Capture, Trigger
from whrelay.relay.client import Outgoing, Sender, forwarded_headers
from whrelay.storage import Store


async def send_once(sender: Sender, url: str, webhook_id: int = 1) -> Attempt:
    return await sender.send(
        Outgoing("POST", url, (), b"x"), webhook_id=webhook_id, delivery=None, trigger=Trigger.SEND
    )


# --- 2. Negative or non-hex framing in a target's answer -----------------------------------------

NEGATIVE_LENGTH = b"HTTP/1.1 500 X\r\nContent-Length: -1\r\n\r\n"

NEGATIVE_CHUNK = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n"

# --- 5. A certificate that does not verify --------------------------------------------------------


async def _plain_http_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain-TCP server on a port addressed as https: reads the ClientHello, answers HTTP."""
    with contextlib.suppress(ConnectionError):
        await reader.read(4096)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
    writer.close()


# --- 9. Every Connection header line names hop-by-hop headers ------------------------------------

TWO_CONNECTION_LINES = (
    (b"Host", b"x"),
    (b"Connection", b"keep-alive"),
    (b"Connection", b"X-Hop"),
    (b"X-Hop", b"secret"),
    (b"X-Kept", b"1"),
)


async def test_sender_guard_blocks_non_loopback_before_connecting() -> None:
    # Http1Client._connect resolves the name and checks every address with Sender._allowed
    # before it opens a connection; a non-loopback address raises BlockedAddressError there.
    # No socket is ever created for these addresses, so no packet can leave.
    with target_server() as target:
        async with Sender(allow_remote=False, timeout=5) as sender:
            for url in (
                "http://10.255.255.1:9/",
                "http://[::ffff:10.255.255.1]:9/",
                "http://169.254.169.254/latest",
            ):
                attempt = await sender.send(
                    Outgoing("POST", url, (("X-A", "1"),), b"x"),
                    webhook_id=1,
                    delivery=None,
                    trigger=Trigger.REPLAY,
                )
                assert attempt.status is None, url
                assert attempt.error == "blocked", (url, attempt)
                assert "loopback" in (attempt.error_detail or "")
            allowed = await sender.send(
                Outgoing("POST", target.url + "/ok", (), b"y"),
                webhook_id=1,
                delivery=None,
                trigger=Trigger.REPLAY,
            )
    assert allowed.status == 200
    assert target.bodies == [b"y"]


@pytest.mark.parametrize("answer", [NEGATIVE_LENGTH, NEGATIVE_CHUNK], ids=["length", "chunk"])
async def test_sender_records_negative_framing_as_an_error(answer: bytes) -> None:
    """``Sender.send`` never raises for a target's answer: a negative length is an attempt
    with no status and the error kind ``error``."""
    async with RawServer(answers(answer)) as target, Sender(timeout=10) as sender:
        attempt = await send_once(sender, target.url + "/hook")
    assert (attempt.status, attempt.error) == (None, "error")


@pytest.mark.parametrize("server", ["self-signed", "plain-tcp"])
async def test_sender_reports_a_tls_failure_as_tls(tmp_path: Path, server: str) -> None:
    """A TLS handshake that fails (a certificate that does not verify; a port that speaks
    plain HTTP) is the error kind ``tls``: the target answered, it is not down."""
    async with contextlib.AsyncExitStack() as stack:
        if server == "self-signed":
            target = await stack.enter_async_context(RawServer(ssl_context=self_signed(tmp_path)))
            port = target.port
        else:
            port = await stack.enter_async_context(serving_raw(_plain_http_answer))
        sender = await stack.enter_async_context(Sender(timeout=10))
        attempt = await send_once(sender, f"https://127.0.0.1:{port}/hook")
    assert (attempt.status, attempt.error) == (None, "tls"), attempt


class CountingSsl:
    """The ``ssl`` module as ``whrelay.core.tls`` sees it, keeping every context it builds."""

    def __init__(self) -> None:
        self.built: list[ssl.SSLContext] = []

    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        self.built.append(ssl.create_default_context(*args, **kwargs))
        return self.built[-1]

    def SSLContext(self, protocol: int) -> ssl.SSLContext:  # the class it stands for
        self.built.append(ssl.SSLContext(protocol))
        return self.built[-1]

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)


async def test_https_targets_and_senders_share_one_context_per_way_of_checking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two https targets, each reached verified and marked insecure, by listen's sender and
    then by a replay's (each a ``Sender`` with the same ``--ca-file``): one verifying context
    is built between them all, and one that does not verify. Each was built per target and
    per sender, the system's CAs loaded each time."""
    from whrelay.core import tls

    counting = CountingSsl()
    monkeypatch.setattr(tls, "ssl", counting)
    monkeypatch.setattr(tls, "_contexts", {}, raising=False)  # what earlier tests built
    server_tls = self_signed(tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        targets = [await stack.enter_async_context(RawServer(ssl_context=server_tls)) for _ in "ab"]
        urls = [f"https://127.0.0.1:{target.port}/hook" for target in targets]
        for _ in ("listen", "replay"):
            async with Sender(timeout=10, ca_file=tmp_path / "cert.pem") as sender:
                for url, insecure in itertools.product(urls, (False, True)):
                    outgoing = Outgoing("POST", url, (), b"x", insecure=insecure)
                    attempt = await sender.send(
                        outgoing, webhook_id=1, delivery=None, trigger=Trigger.SEND
                    )
                    assert attempt.status == 200, attempt
        assert sum(len(target.requests) for target in targets) == 8
    modes = sorted(context.verify_mode for context in counting.built)
    assert modes == [ssl.CERT_NONE, ssl.CERT_REQUIRED]


# --- 6. Connections that must not be reused ------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.1 204 No Content\r\n\r\n" + b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n" + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
    ],
    ids=["a second 204", "a 200", "a 204 with a body"],
)
async def test_bytes_after_an_answer_are_not_read_as_the_next_answer(first: bytes) -> None:
    """A target that writes more than its framed answer (a whole second response after a
    204, or a body on a 204, which has none) leaves bytes on the connection: the next request
    goes on a fresh connection and gets the target's real answer to it (500), not them."""
    second = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answers(first, second)) as target, Sender(timeout=10) as sender:
        one = await send_once(sender, target.url + "/a", 1)
        two = await send_once(sender, target.url + "/a", 2)
    assert (one.status, two.status) == (204, 500)
    assert [s.connection for s in target.requests] == [1, 2]


def test_forwarded_headers_drop_names_from_every_connection_line(tmp_path: Path) -> None:
    """A header named in the second of two ``Connection`` lines is hop-by-hop too: it is not
    forwarded (checked on a webhook read back from a real database)."""
    db = tmp_path / "hooks.db"
    with Store(db) as store:
        [summary] = store.insert_webhooks(
            [Capture("POST", "/h", "", TWO_CONNECTION_LINES, b"{}", "1.1", "127.0.0.1", 1)]
        )
    names = [name.lower() for name, _ in forwarded_headers(stored_webhook(db, summary.id))]
    assert "x-hop" not in names
    assert "connection" not in names
    assert "x-kept" in names


# --- 11. A reused connection whose attempt times out --------------------------------------------


async def test_a_reused_connection_that_times_out_is_closed() -> None:
    """An attempt on a kept-alive connection that the target never answers times out, and
    the client closes that connection itself (the target sees EOF; nothing is left for the
    garbage collector to find unclosed)."""
    eof = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(1)
            writer.write(OK)  # the first request is answered...
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(1)  # ...the second never is
            if await reader.read() == b"":
                eof.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async with serving_raw(serve) as port:
        url = f"http://127.0.0.1:{port}/"
        gc.collect()  # what earlier tests left is not this test's to judge
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            async with Sender(timeout=0.3) as sender:
                first = await send_once(sender, url)
                second = await send_once(sender, url)
                await asyncio.wait_for(eof.wait(), 5)
                gc.collect()
    assert (first.status, second.error) == (200, "timeout")
    unclosed = [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning)
        and re.search(r"StreamWriter|transport|socket", str(w.message))
    ]
    assert unclosed == [], unclosed
