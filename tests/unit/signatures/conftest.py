"""Fixtures of the signature scheme tests."""

from __future__ import annotations

import types

import pytest
import standardwebhooks.webhooks
import stripe._webhook

from tests.helpers.schemes import NOW, FrozenDatetime


@pytest.fixture
def frozen_oracles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The official libraries' clocks stopped at ``NOW``."""
    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", FrozenDatetime)
    monkeypatch.setattr(stripe._webhook, "time", types.SimpleNamespace(time=lambda: float(NOW)))
