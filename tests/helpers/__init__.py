"""What tests share, written once. Test files import helpers from here (and fixtures from
``conftest.py`` files), never from another test file.

- ``wait``: ``wait_until`` / ``until`` / ``pilot_until``: poll with a deadline, never a fixed sleep.
- ``processes``: ``whrelay`` as a subprocess: ``run_whrelay``, ``start_listener`` and
  ``listening`` (a ``whrelay listen``), ``run_in_terminal`` (a real pseudo-terminal).
- ``rawhttp``: the client side of raw HTTP/1.x: ``request_bytes``, ``raw_request``, ``send_raw``.
- ``rawserver``: ``RawServer``, one scripted raw HTTP target; ``serving_raw`` for a handler of
  the test's own; ``self_signed`` TLS.
- ``targetserver``: ``TargetServer``, a recording aiohttp target that can fail, stall, go down
  (on ``outward_address()``, a target on another machine as whrelay sees it).
- ``captures``: ``capture()`` (a webhook to insert), what a listener stored, a folder's state.
- ``flood``: many concurrent senders, and checking every acknowledged request was stored.
- ``memory``: large random bodies and the memory a process takes.
- ``sigkit``: the signature scheme tests' kit (a clock-fixed ``Check``, key pairs, byte flips).
- ``tui``: a seeded history for the TUI and what its screen shows.
"""
