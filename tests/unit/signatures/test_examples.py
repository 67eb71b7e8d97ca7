"""``whrelay/signatures/examples.py``: the example events ``send`` and ``sign`` use."""

from __future__ import annotations

import json
import time

from whrelay.signatures import get_scheme
from whrelay.signatures.base import Check, Message


def test_the_linear_example_event_carries_its_signed_timestamp() -> None:
    from whrelay.signatures.examples import example_event

    body, headers = example_event("linear")
    scheme = get_scheme("linear")
    signed = scheme.sign(Message(body, headers), "lin-s3cret", int(time.time()))
    verdict = scheme.verify(signed, Check(("lin-s3cret",), time.time()))
    assert verdict.valid, verdict
    assert abs(json.loads(body)["webhookTimestamp"] / 1000 - time.time()) < 60
