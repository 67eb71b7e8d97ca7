"""Review of forwarding and replay (whrelay.relay, whrelay.core.retry, the write lock): each defect
found, pinned by the safe behaviour.

Targets here are scripted raw servers on 127.0.0.1 (``RawServer``) that write exact bytes and
record exactly what arrived (request heads byte for byte, which connection carried each
request, which connections the client closed), or the recording ``TargetServer``. Listeners
are real ``whrelay listen`` subprocesses over real SQLite files. Waits poll with deadlines;
the only fixed sleeps are grace periods before asserting that something did *not* happen.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import gc
import hashlib
import hmac
import json
import os
import re
import time
import warnings
from pathlib import Path

import pytest

from tests.helpers.captures import capture, stored_count, stored_webhook
from tests.helpers.processes import Listener, listening, run_whrelay
from tests.helpers.rawhttp import raw_request, request_bytes, send_raw
from tests.helpers.rawserver import OK, RawServer, Seen, answers, canned, self_signed, serving_raw
from tests.helpers.targetserver import target_server
from tests.helpers.wait import until
from whrelay.core.models import Attempt, Capture, Trigger, now_micros
from whrelay.core.retry import parse_retry_after
from whrelay.relay.client import Outgoing, Sender, forwarded_headers
from whrelay.relay.http1 import Http1Client, ProtocolError
from whrelay.storage import Store

MiB = 1 << 20
FAST = ("--durability", "normal", "--retry-schedule", "0.2")
"""Options most listeners here get: quick commits and a quick retry."""
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HUGE_YEAR = "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"


# --- helpers -------------------------------------------------------------------------------------


def stored_attempts(db: Path, webhook_id: int) -> list[Attempt]:
    with Store(db, readonly=True) as store:
        return store.attempts(webhook_id)


async def attempts_made(
    db: Path, webhook_id: int, count: int, timeout: float = 10
) -> list[Attempt]:
    """Wait until ``count`` attempts of ``webhook_id`` are recorded in ``db``; return them."""
    await until(
        lambda: len(stored_attempts(db, webhook_id)) >= count,
        f"{count} attempt(s) of webhook #{webhook_id} to be recorded",
        timeout,
    )
    return stored_attempts(db, webhook_id)


def post_bytes(path: bytes, body: bytes, *headers: bytes) -> bytes:
    """A raw POST with header lines given as bytes (any bytes, not only UTF-8)."""
    head = b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += b"Content-Length: %d\r\n" % len(body)
    head += b"".join(line + b"\r\n" for line in headers)
    return head + b"Connection: close\r\n\r\n" + body


def http_client() -> Http1Client:
    return Http1Client(allow=lambda address: address == "127.0.0.1", response_cap=MiB)


async def send_once(sender: Sender, url: str, webhook_id: int = 1) -> Attempt:
    return await sender.send(
        Outgoing("POST", url, (), b"x"), webhook_id=webhook_id, delivery=None, trigger=Trigger.SEND
    )


# --- 1. Retry-After that is not a number a float can be made of ----------------------------------


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9\u2070", HUGE_YEAR])
def test_parse_retry_after_ignores_what_is_not_a_delay(value: str) -> None:
    """Superscript digits (``str.isdigit`` is true for them) and an HTTP date whose year is
    beyond any datetime are no delay at all: ``None``, not an exception."""
    assert parse_retry_after(value, time.time()) is None


@pytest.mark.slow
@pytest.mark.parametrize("value", [b"\xb2", HUGE_YEAR.encode()], ids=["superscript-two", "year"])
async def test_unusable_retry_after_still_records_the_attempt_and_retries(
    tmp_path: Path, value: bytes
) -> None:
    """A 503 whose Retry-After cannot be read (the raw byte 0xB2, a date in year 10**20) is
    recorded, and the delivery is retried on the schedule: it does not stay at 0 attempts."""
    busy = b"HTTP/1.1 503 Busy\r\nRetry-After: " + value + b"\r\nContent-Length: 0\r\n\r\n"
    db = tmp_path / "hooks.db"
    async with (
        RawServer(answers(busy)) as target,
        listening(db, *FAST, "-f", str(target.port)) as listener,
    ):
        webhook_id = await send_raw(listener.url, post_bytes(b"/hook", b"{}"))
        first, second = await attempts_made(db, webhook_id, 2)
    assert (first.status, second.status) == (503, 200)
    assert target.bodies == [b"{}", b"{}"]


# --- 2. Negative or non-hex framing in a target's answer -----------------------------------------

NEGATIVE_LENGTH = b"HTTP/1.1 500 X\r\nContent-Length: -1\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
NEGATIVE_CHUNK = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n"


@pytest.mark.parametrize(
    "answer",
    [
        NEGATIVE_LENGTH,
        NEGATIVE_CHUNK,
        CHUNKED + b"0x10\r\n0123456789abcdef\r\n0\r\n\r\n",
        CHUNKED + b"+5\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["content-length -1", "chunk -1", "chunk 0x10", "chunk +5"],
)
async def test_signed_or_prefixed_framing_is_a_protocol_error(answer: bytes) -> None:
    """A Content-Length or chunk size is digits only (hex digits for a chunk): a sign or a
    ``0x`` prefix (which Python's ``int(text, 16)`` would take) is a ``ProtocolError``."""
    async with canned(answer) as target:
        url = target.url
        http = http_client()
        try:
            with pytest.raises(ProtocolError):
                await asyncio.wait_for(http.request("POST", url, (), b"x"), 10)
        finally:
            await http.close()


@pytest.mark.parametrize("answer", [NEGATIVE_LENGTH, NEGATIVE_CHUNK], ids=["length", "chunk"])
async def test_sender_records_negative_framing_as_an_error(answer: bytes) -> None:
    """``Sender.send`` never raises for a target's answer: a negative length is an attempt
    with no status and the error kind ``error``."""
    async with RawServer(answers(answer)) as target, Sender(timeout=10) as sender:
        attempt = await send_once(sender, target.url + "/hook")
    assert (attempt.status, attempt.error) == (None, "error")


@pytest.mark.slow
@pytest.mark.parametrize("answer", [NEGATIVE_LENGTH, NEGATIVE_CHUNK], ids=["length", "chunk"])
async def test_ordered_delivery_waits_for_a_badly_framed_first_answer(
    tmp_path: Path, answer: bytes
) -> None:
    """With --ordered, a first webhook answered with negative framing has its attempt recorded
    as an error, its connection is closed (not reused), and it is retried and delivered
    before the second webhook is sent at all."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer(answers(answer)) as target,
        listening(db, *FAST, "--ordered", "-f", str(target.port)) as listener,
    ):
        first = await send_raw(listener.url, post_bytes(b"/hook", b"first"))
        second = await send_raw(listener.url, post_bytes(b"/hook", b"second"))
        seen = await target.wait_for(3)
        await attempts_made(db, second, 1)
        tried = stored_attempts(db, first)
        await until(lambda: 1 in target.closed_by_client, "the first connection to be closed")
    assert [s.body for s in seen] == [b"first", b"first", b"second"]
    assert [(a.status, a.error) for a in tried] == [(None, "error"), (200, None)]
    assert seen[1].connection != seen[0].connection  # not reused after the bad answer


# --- 3. --resign on what the sender sent ---------------------------------------------------------

SW_ID = b"msg_\xff\xfe"
"""A standard-webhooks id that is not UTF-8."""


def sw_signature(stamp: bytes, body: bytes) -> bytes:
    """A real standard-webhooks signature by ``SW_SECRET`` over the id's exact bytes."""
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, SW_ID + b"." + stamp + b"." + body, hashlib.sha256).digest()
    return b"v1," + base64.b64encode(digest)


def sw_request(body: bytes) -> bytes:
    stamp = b"%d" % (int(time.time()) - 120)  # signed a while ago, so re-signing shows
    return post_bytes(
        b"/sw",
        body,
        b"webhook-id: " + SW_ID,
        b"webhook-timestamp: " + stamp,
        b"webhook-signature: " + sw_signature(stamp, body),
        b"Content-Type: application/json",
    )


def resign_args(mode: str) -> tuple[str, ...]:
    return ("--mode", mode, "--provider", "standard-webhooks", "--secret", SW_SECRET, "--resign")


@pytest.mark.slow
async def test_resign_keeps_a_webhook_id_that_is_not_utf8(tmp_path: Path) -> None:
    """Store mode, --resign, standard-webhooks: a ``webhook-id`` that is not UTF-8 reaches
    the target as the very same bytes, signed afresh over ``id.timestamp.body``."""
    body = b'{"type":"ping"}'
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *FAST, "-f", str(target.port), *resign_args("store")) as listener,
    ):
        await send_raw(listener.url, sw_request(body))
        [seen] = await target.wait_for(1)
    assert_resigned(seen, body)


@pytest.mark.slow
async def test_replay_resign_keeps_a_webhook_id_that_is_not_utf8(tmp_path: Path) -> None:
    """``replay ID --resign`` of a stored standard-webhooks webhook whose id is not UTF-8:
    the target gets the id's exact bytes, signed afresh (no crash in the signer)."""
    body = b'{"type":"ping"}'
    headers = (
        (b"Host", b"x"),
        (b"webhook-id", SW_ID),
        (b"webhook-timestamp", b"1700000000"),
        (b"webhook-signature", sw_signature(b"1700000000", body)),
        (b"Content-Type", b"application/json"),
    )
    db = tmp_path / "hooks.db"
    arrived = 1_700_000_001_000_000  # a second after it was signed
    with Store(db) as store:
        [summary] = store.insert_webhooks(
            [Capture("POST", "/sw", "", headers, body, "1.1", "127.0.0.1", arrived)]
        )
    async with RawServer() as target:
        proc = await asyncio.to_thread(
            run_whrelay,
            "replay",
            str(summary.id),
            "--to",
            target.url,
            "--resign",
            "--sign-as",
            "standard-webhooks",
            "--secret",
            SW_SECRET,
            "--db",
            str(db),
        )
        assert proc.returncode == 0, proc.stderr.decode()
        [seen] = await target.wait_for(1)
    assert_resigned(seen, body)


def assert_resigned(seen: Seen, body: bytes) -> None:
    """``seen`` carries ``body`` and the id ``SW_ID`` byte for byte, with a fresh timestamp
    and a standard-webhooks signature over ``id.timestamp.body`` made with ``SW_SECRET``."""
    assert seen.body == body
    assert seen.header(b"webhook-id") == SW_ID
    stamp = seen.header(b"webhook-timestamp")
    signature = seen.header(b"webhook-signature")
    assert stamp is not None and signature is not None
    assert abs(int(stamp) - time.time()) < 60
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, SW_ID + b"." + stamp + b"." + body, hashlib.sha256).digest()
    assert b"v1," + base64.b64encode(expected) in signature.split(b" ")


@pytest.mark.slow
async def test_resign_in_proxy_mode_stores_and_answers_a_non_utf8_webhook_id(
    tmp_path: Path,
) -> None:
    """Proxy mode, --resign, a ``webhook-id`` that is not UTF-8: the webhook is stored and
    the sender is not told 500 (which it would retry, storing it again)."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *FAST, "-f", str(target.port), *resign_args("proxy")) as listener,
    ):
        response = await raw_request(listener.url, sw_request(b"{}"))
    assert response.status != 500, response
    assert stored_count(db) == 1


def twilio_md5_request() -> bytes:
    return post_bytes(
        b"/tw",
        b"From=%2B15550001111&Body=hi",
        b"Content-Type: application/x-www-form-urlencoded",
        b"X-Twilio-Signature: bm90IGEgcmVhbCBzaWduYXR1cmU=",
        b"X-Twilio-Webhooks-Signature-Settings: algorithm=MD5",
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["store", "proxy"])
async def test_resign_sends_what_it_cannot_check_as_received_and_records_why(
    tmp_path: Path, mode: str
) -> None:
    """Twilio with ``algorithm=MD5`` (which the scheme can neither check nor sign) under
    --resign: the webhook is stored, the sender is not told 500, the target gets the request
    as received (the sender's signature untouched), and the attempt says why it was not
    re-signed."""
    db = tmp_path / "hooks.db"
    args = ("--mode", mode, "--provider", "twilio", "--secret", "secret123", "--resign")
    async with (
        RawServer() as target,
        listening(db, *FAST, "-f", str(target.port), *args) as listener,
    ):
        response = await raw_request(listener.url, twilio_md5_request())
        assert response.status != 500, response
        await until(lambda: stored_count(db) == 1, "the webhook to be stored")
        with Store(db, readonly=True) as store:
            [webhook_id] = [w.id for w in store.list_webhooks()]
        await attempts_made(db, webhook_id, 1)
        [seen] = await target.wait_for(1)
    assert seen.header(b"X-Twilio-Signature") == b"bm90IGEgcmVhbCBzaWduYXR1cmU="
    shown = run_whrelay("show", str(webhook_id), "--json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    [attempt] = json.loads(shown.stdout)["attempts"]
    assert attempt["status"] == 200
    assert attempt["resigned"] is False
    assert attempt["resign_note"].startswith("not re-signed: its twilio signature is not valid")
    assert "MD5" in attempt["resign_note"]


# --- 4. One huge chunk and the response cap ------------------------------------------------------


async def test_a_huge_chunk_is_cut_at_the_cap_without_being_read_whole() -> None:
    """A chunked answer made of one 50 MiB chunk, read with a 1 MiB cap: the client returns
    the first 1 MiB, truncated, before the target has managed to write the chunk (it cannot:
    nobody reads it), rather than reading all 50 MiB into memory."""
    size = 50 * MiB
    written_all = asyncio.Event()
    handler_done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % size)
            block = b"x" * (256 * 1024)
            for _ in range(size // len(block)):
                writer.write(block)
                await writer.drain()
            written_all.set()  # before the chunk's CRLF, which any reader must wait for
            writer.write(b"\r\n0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            handler_done.set()

    async with serving_raw(serve) as port:
        http = http_client()
        try:
            response = await asyncio.wait_for(
                http.request("GET", f"http://127.0.0.1:{port}/big", (), None), 60
            )
            returned_before_all_written = not written_all.is_set()
        finally:
            await http.close()
            await asyncio.wait_for(handler_done.wait(), 30)
    assert returned_before_all_written
    assert (response.status, len(response.body), response.truncated) == (200, MiB, True)
    assert response.body == b"x" * MiB


# --- 5. A certificate that does not verify --------------------------------------------------------


async def _plain_http_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain-TCP server on a port addressed as https: reads the ClientHello, answers HTTP."""
    with contextlib.suppress(ConnectionError):
        await reader.read(4096)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
    writer.close()


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


@pytest.mark.slow
async def test_listen_retries_a_tls_failure_on_the_schedule_without_target_down(
    tmp_path: Path,
) -> None:
    """An https target whose certificate does not verify is not "down" (its port accepts
    connections, so a probe would bring it straight back up): one attempt, recorded as
    ``tls``, and the next one only after the 60 s of the schedule; no ``target_down``."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer(ssl_context=self_signed(tmp_path)) as target,
        listening(
            db,
            "--durability",
            "normal",
            "--retry-schedule",
            "60",
            "-f",
            f"https://127.0.0.1:{target.port}",
        ) as listener,
    ):
        await send_raw(listener.url, post_bytes(b"/hook", b"{}"))
        await until(lambda: kinds(listener).count("attempt") >= 1, "the first attempt")
        await asyncio.sleep(2.5)  # more than two probe intervals (1 s)
        seen = list(listener.events)
    attempts = [e for e in seen if e.get("event") == "attempt"]
    assert len(attempts) == 1, attempts
    assert attempts[0]["error"] == "tls", attempts[0]
    assert [e for e in seen if e.get("event") == "target_down"] == []


def kinds(listener: Listener) -> list[object]:
    return [e.get("event") for e in list(listener.events)]


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


async def test_a_connection_is_never_reused_after_101() -> None:
    """After ``101 Switching Protocols`` the connection speaks another protocol: the next
    request goes on a new connection."""
    switched = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    async with RawServer(answers(switched)) as target:
        http = http_client()
        try:
            one = await asyncio.wait_for(http.request("POST", target.url + "/a", (), b"x"), 10)
            two = await asyncio.wait_for(http.request("POST", target.url + "/a", (), b"x"), 10)
        finally:
            await http.close()
    assert (one.status, two.status) == (101, 200)
    assert [s.connection for s in target.requests] == [1, 2]


# --- 7. Bulk replay over webhooks some of which were never forwarded ------------------------------


@pytest.mark.slow
def test_bulk_replay_skips_webhooks_never_forwarded(tmp_path: Path) -> None:
    """``replay --since 1h`` (no --to) over a stored-only webhook and a forwarded one: the
    forwarded one goes to its original target, the other is skipped with a note naming it,
    and the exit code is 0 as the one replayed got a 2xx."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        with Store(db) as store:
            [never] = store.insert_webhooks(
                [
                    capture(
                        "/never", headers=((b"Host", b"x"),), body=b"{}", received_at=now_micros()
                    )
                ],
                [[]],
            )
            [forwarded] = store.insert_webhooks(
                [
                    capture(
                        "/forwarded",
                        headers=((b"Host", b"x"),),
                        body=b"{}",
                        received_at=now_micros(),
                    )
                ],
                [[target.url]],
            )
        proc = run_whrelay("replay", "--since", "1h", "--db", str(db))
        stderr = proc.stderr.decode()
        assert proc.returncode == 0, stderr
        # replay has exited, so what it sent was answered, and recorded before that.
        [request] = target.requests
    assert request.path_qs == "/forwarded"
    assert f"#{never.id}" in stderr, stderr
    assert [a.trigger for a in stored_attempts(db, forwarded.id)] == ["replay"]
    assert stored_attempts(db, never.id) == []


# --- 8. The write lock through a symlink ----------------------------------------------------------


def test_write_lock_is_shared_through_a_symlink(tmp_path: Path) -> None:
    """The same database opened by its path and through a symlink takes one write lock: while
    one ``Store`` holds it, the other's lock file cannot be locked."""
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    Store(real).close()
    os.symlink(real, link)
    with Store(real) as by_path, Store(link) as by_link:
        assert by_path.lock.path is not None and by_link.lock.path is not None
        by_path.lock.acquire()
        try:
            fd = os.open(by_link.lock.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
        finally:
            by_path.lock.release()


# --- 9. Every Connection header line names hop-by-hop headers ------------------------------------

TWO_CONNECTION_LINES = (
    (b"Host", b"x"),
    (b"Connection", b"keep-alive"),
    (b"Connection", b"X-Hop"),
    (b"X-Hop", b"secret"),
    (b"X-Kept", b"1"),
)


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


@pytest.mark.slow
async def test_listen_does_not_forward_a_header_named_in_a_second_connection_line(
    tmp_path: Path,
) -> None:
    """End to end: ``Connection: keep-alive`` and ``Connection: X-Hop`` as two lines, and
    ``X-Hop: secret``: the target gets X-Kept but no X-Hop."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *FAST, "-f", str(target.port)) as listener,
    ):
        data = request_bytes(
            "POST",
            "/h",
            [
                ("Host", "x"),
                ("Connection", "keep-alive"),
                ("Connection", "X-Hop"),
                ("X-Hop", "secret"),
                ("X-Kept", "1"),
                ("Content-Length", "2"),
            ],
            b"{}",
        )
        await send_raw(listener.url, data)
        [seen] = await target.wait_for(1)
    assert seen.header(b"X-Kept") == b"1"
    assert seen.header(b"X-Hop") is None, seen.head


# --- 10. A fragment in the request target --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("target_path", [b"/a?x=1#frag", b"/a#frag"])
async def test_a_fragment_is_forwarded_as_it_came(tmp_path: Path, target_path: bytes) -> None:
    """A request target with a fragment (``/a?x=1#frag``) is forwarded byte for byte: the
    target's request line is the sender's."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *FAST, "-f", str(target.port)) as listener,
    ):
        await send_raw(listener.url, post_bytes(target_path, b"{}"))
        [seen] = await target.wait_for(1)
    assert seen.request_line == b"POST " + target_path + b" HTTP/1.1"


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
