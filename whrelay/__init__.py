"""whrelay: receive, store, verify, forward and replay webhooks locally.

This module imports nothing heavy, so ``whrelay --help`` starts fast.
"""

__version__ = "0.1.0"
