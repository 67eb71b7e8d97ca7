"""``whrelay/signatures/discord.py``: ed25519, RFC 8032's key, ``discord_interactions`` as
oracle."""

from __future__ import annotations

import nacl.signing
import pytest
from discord_interactions import verify_key  # type: ignore[import-untyped]

from tests.helpers.schemes_others import binary_body, body_at
from tests.helpers.sigkit import assert_reason, checker
from whrelay.core.errors import UsageError
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.discord import DISCORD

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

chk = checker(NOW)

# --- keys ------------------------------------------------------------------------------------

RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

OTHER_PUBLIC = nacl.signing.SigningKey(bytes(range(32))).verify_key.encode().hex()

# --- Discord ---------------------------------------------------------------------------------

DISCORD_KAT_BODY = b'{"type":1}'

DISCORD_KAT_SIG = (
    "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228"
    "ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f"
)
"""PyNaCl, RFC 8032 test 1 key, over ``1700000000`` + DISCORD_KAT_BODY (ed25519 is
deterministic)."""

DC_SIG = "X-Signature-Ed25519"

DC_TS = "X-Signature-Timestamp"


def discord_message(body: bytes, signature: str, stamp: str = str(NOW)) -> Message:
    return Message(body, ((DC_SIG, signature), (DC_TS, stamp)))


def test_discord_rfc8032_key_and_known_answer() -> None:
    seed = bytes.fromhex(RFC8032_SEED)
    assert nacl.signing.SigningKey(seed).verify_key.encode().hex() == RFC8032_PUBLIC
    message = discord_message(DISCORD_KAT_BODY, DISCORD_KAT_SIG)
    verdict = DISCORD.verify(message, chk(RFC8032_PUBLIC))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert DISCORD.sign(Message(DISCORD_KAT_BODY), RFC8032_SEED, NOW) == message
    assert DISCORD.sign(Message(DISCORD_KAT_BODY), seed, NOW) == message
    nacl_form = RFC8032_SEED + RFC8032_PUBLIC  # NaCl's 64-byte secret key
    assert DISCORD.sign(Message(DISCORD_KAT_BODY), nacl_form, NOW) == message
    assert verify_key(DISCORD_KAT_BODY, DISCORD_KAT_SIG, str(NOW), RFC8032_PUBLIC) is True
    assert_reason(DISCORD.verify(message, chk(bytes.fromhex(RFC8032_PUBLIC))), Reason.OK)
    upper = discord_message(DISCORD_KAT_BODY, DISCORD_KAT_SIG.upper())
    assert_reason(DISCORD.verify(upper, chk(RFC8032_PUBLIC.upper())), Reason.OK)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(body_at(NOW), id="json"),
        pytest.param(b"", id="empty"),
        pytest.param(binary_body(NOW), id="binary"),
    ],
)
def test_discord_oracle_both_ways(body: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """discord_interactions verifies bytes, so binary bodies go through the oracle too."""
    message = DISCORD.sign(Message(body), RFC8032_SEED, NOW)
    headers = dict(message.headers)
    assert verify_key(body, headers[DC_SIG], headers[DC_TS], RFC8032_PUBLIC) is True
    assert verify_key(body + b"x", headers[DC_SIG], headers[DC_TS], RFC8032_PUBLIC) is False

    by_nacl = nacl.signing.SigningKey(bytes(range(32))).sign(str(NOW).encode() + body)
    theirs = discord_message(body, by_nacl.signature.hex())
    assert_reason(DISCORD.verify(theirs, chk(OTHER_PUBLIC)), Reason.OK)
    assert_reason(DISCORD.verify(theirs, chk(RFC8032_PUBLIC)), Reason.BAD_SIGNATURE)
    assert verify_key(body, by_nacl.signature.hex(), str(NOW), RFC8032_PUBLIC) is False
    capsys.readouterr()  # verify_key prints the exception of a failed check


def test_discord_sign_refuses_a_bad_seed() -> None:
    with pytest.raises(UsageError, match="seed"):
        DISCORD.sign(Message(b"{}"), "not hex", NOW)
    with pytest.raises(UsageError, match="seed"):
        DISCORD.sign(Message(b"{}"), "ab" * 31, NOW)
