"""Shared by the tests of Shopify, Slack, Twilio, Paddle, GitLab and Square: their contract
table and each scheme's own file."""

from __future__ import annotations

import base64
import hmac

from whrelay.signatures.base import Message


def hmac_b64(key: bytes, content: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key, content, digest).digest()).decode()


def mixed_case(message: Message) -> Message:
    """Header names in alternating case (``x-SlAcK-…``), as an odd proxy might write them."""
    headers = tuple(
        ("".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(k)), v)
        for k, v in message.headers
    )
    return Message(message.body, headers, message.url, message.method)
