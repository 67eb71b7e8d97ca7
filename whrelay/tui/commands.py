"""The TUI's actions, written once: the key bindings, the footer, the ``?`` help screen and
the command palette are all made from ``ACTIONS``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True, slots=True)
class Action:
    key: str
    """Textual key name(s), comma-separated."""
    display: str
    """How the key is written on screen."""
    action: str
    label: str
    """The footer's word."""
    help: str
    """The help screen's and the palette's sentence."""
    footer: bool = True
    priority: bool = False
    """Acts as the key arrives, before the keys queued after it reach the focused widget."""


ACTIONS: tuple[Action, ...] = (
    Action(
        "r", "r", "replay", "replay",
        "Replay the webhook to its original targets, as 'whrelay replay ID'",
    ),
    Action(
        "F", "F", "forward", "forward",
        "Forward the webhook to a target you type (3000, :4000/hooks, a URL): "
        "the same syntax and loopback guard as -f",
    ),
    Action(
        "R", "R", "replay_resigned", "re-sign",
        "Replay it re-signed with a fresh timestamp: with listen's secrets, a variable's, "
        "or one typed in (only if its signature verifies)",
    ),
    Action(
        "e", "e", "edit", "edit",
        "Edit the webhook (method, path, headers, body) and send it again, re-signed if you "
        "like: stored as a new webhook, edited from the original",
    ),
    Action(
        "c", "c", "copy('curl')", "copy",
        "Copy the webhook as a curl command to the clipboard (as 'export --format curl')",
    ),
    Action(
        "C", "C", "copy_as", "copy as",
        "Copy it as HTTPie, raw HTTP, whrelay's JSON or the body alone", footer=False,
    ),
    Action(
        "E", "E", "export", "export",
        "Export the selected, the marked or the listed webhooks to a file in any format",
        footer=False,
    ),
    Action("m", "m", "mark", "mark", "Mark or unmark the webhook (for d and E)", footer=False),
    Action(
        "d", "d", "diff", "diff",
        "Compare the marked webhook with the selected one; on the Deliveries tab, what the "
        "app answered two attempts",
    ),
    Action(
        "slash", "/", "search", "search",
        "Search the path, the query and the body text; Esc stops a search", priority=True,
    ),
    Action(
        "f", "f", "filter", "filter",
        "Filter by delivery state, signature verdict, provider, method",
    ),
    Action("v", "v", "toggle_raw", "raw", "Show the request raw, exactly as received, or pretty"),
    Action("1", "1", "show_tab('request')", "request", "The Request tab", footer=False),
    Action("2", "2", "show_tab('deliveries')", "deliveries", "The Deliveries tab", footer=False),
    Action(
        "3", "3", "show_tab('signature')", "signature",
        "The Signature tab (verify again with a secret)", footer=False,
    ),
    Action("question_mark", "?", "help", "help", "Show every key"),
    Action("q", "q", "quit", "quit", "Quit (with 'listen --tui', stop listening as Ctrl-C does)"),
)  # fmt: skip

LIST_ACTIONS = frozenset(a.action.partition("(")[0] for a in ACTIONS) - {"quit", "help"}
"""The actions on the list's screen: not run over a dialog or another screen."""

NAVIGATION: tuple[tuple[str, str], ...] = (
    ("j / ↓, k / ↑", "Move down and up the list"),
    ("PgDn, PgUp", "A page down, up"),
    ("g / Home", "The newest webhook; following new arrivals resumes"),
    ("G / End", "The oldest webhook (searching: the last match found so far)"),
    ("Enter", "Go into the selected webhook's tabs"),
    ("Esc", "Back to the list; stop a search; clear a search or filter"),
    ("Tab", "Next field or pane"),
    ("Ctrl+P", "Command palette: every action by name"),
)


def bindings() -> list[Binding]:
    return [
        Binding(a.key, a.action, a.label, show=a.footer, key_display=a.display, priority=a.priority)
        for a in ACTIONS
    ]


class WhrelayCommands(Provider):
    """The palette's whrelay commands: the same actions as the keys."""

    async def discover(self) -> Hits:
        for action in ACTIONS:
            yield DiscoveryHit(
                f"{action.label} ({action.display})",
                partial(self.app.run_action, action.action),
                help=action.help,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in ACTIONS:
            title = f"{action.label} ({action.display})"
            score = max(matcher.match(title), matcher.match(action.help) * 0.5)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(self.app.run_action, action.action),
                    help=action.help,
                )
