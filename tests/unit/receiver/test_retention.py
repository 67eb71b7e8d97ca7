"""``whrelay/receiver/retention.py``: how often ``--retain`` prunes."""

from __future__ import annotations

import pytest

from whrelay.receiver.retention import prune_interval

# --- listen --retain: pruning while listening -------------------------------------------------


@pytest.mark.parametrize(
    ("retain", "interval"),
    [(7 * 86400, 60), (600, 60), (300, 30), (10, 1), (2, 1), (1, 1)],
)
def test_retain_prunes_every_tenth_of_its_period_between_a_second_and_a_minute(
    retain: float, interval: float
) -> None:
    assert prune_interval(retain) == interval
