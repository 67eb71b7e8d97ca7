"""Default values, in a module that imports nothing: the CLI's ``--help`` shows them, and
``whrelay --help`` must start fast. ``whrelay.core.config`` and ``whrelay.core.retry`` re-export
them."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642
DEFAULT_MAX_BODY = 25 * 1024 * 1024
"""25 MiB: GitHub's cap on a webhook payload."""
MIN_BODY_BUDGET = 16 * 1024 * 1024


def body_budget(max_body: int, given: int = 0) -> int:
    """Bytes of request bodies held at once across senders: ``given`` (``--body-budget``), else
    four times ``max_body`` and at least ``MIN_BODY_BUDGET``."""
    return given or max(4 * max_body, MIN_BODY_BUDGET)


DEFAULT_IDLE_TIMEOUT = 15.0
"""Seconds a connection may sit idle, or trickle its request headers, before it is closed."""
DEFAULT_READ_TIMEOUT = 30.0
"""Seconds a request body may take to arrive in full before the sender gets 408."""
DEFAULT_FORWARD_TIMEOUT = 30.0
"""Seconds a target gets to answer one forwarded request; 0 = no limit."""
DEFAULT_RESPONSE_CAP = 1024 * 1024
"""Bytes of each target response body that are stored; the rest is not read."""
DEFAULT_CONCURRENCY = 8
"""Attempts in flight per target at the most (1 with ``--ordered``)."""
PROBE_INTERVAL = 1.0
"""Seconds between health probes of a target that is down."""
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
"""Seconds in-flight requests get to finish after Ctrl-C before they are cut off."""
FORWARD_GRACE = 3.0
"""Seconds that forwards in flight at Ctrl-C (or SIGTERM) get to finish, their answers
recorded, before those still unanswered are recorded as interrupted (and sent again by the
next listen); a second Ctrl-C cuts it short."""

DEFAULT_SCHEDULE: tuple[float, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
DEFAULT_SCHEDULE_TEXT = ",".join(f"{delay:g}" for delay in DEFAULT_SCHEDULE)
"""The schedule as ``--retry-schedule`` takes it."""
DEFAULT_WINDOW = 24 * 3600.0
JITTER = 0.2
RETRY_AFTER_CAP = 3600.0
"""A ``Retry-After`` longer than this is cut to it."""
