"""The TUI's dialogs: the help screen, a target to forward to, a secret to re-sign with, and
the filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from whrelay.core.errors import WhrelayError
from whrelay.tui import adapter
from whrelay.tui.adapter import Query, Resign, secret_env_example
from whrelay.tui.commands import ACTIONS, NAVIGATION


def error_text(error: WhrelayError) -> Text:
    text = Text(error.message, style="red")
    if error.hint:
        text.append(f"\nhint: {error.hint}", style="yellow")
    return text


class HelpScreen(ModalScreen[None]):
    """Every key, and what following means."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        table.add_row(Text("The list", style="bold underline"), "")
        for keys, what in NAVIGATION:
            table.add_row(keys, what)
        table.add_row("", "")
        table.add_row(Text("Actions", style="bold underline"), "")
        for action in ACTIONS:
            table.add_row(action.display, action.help)
        notes = Text(
            "The list follows new webhooks (from this listen, or from a listen in another "
            "process) while the newest is selected; moving down pauses it, and the status "
            "line counts what arrived meanwhile. g goes back to the newest and follows again.",
            style="dim",
        )
        with VerticalScroll(id="help"):
            yield Static(Text("whrelay: keys", style="bold"))
            yield Static(table)
            yield Static(notes)
            yield Static(Text("Esc, q or ? closes this screen.", style="dim"))


class TargetPrompt(ModalScreen[str | None]):
    """``F``: where to forward the webhook. Checked as ``-f`` checks it before it is sent:
    loopback only, unless ``allow_remote`` (``--allow-remote``, the TUI's or listen's)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "cancel")]

    def __init__(
        self,
        webhook_id: int,
        check: Callable[[str, Callable[[Text | None], None]], None],
        allow_remote: bool = False,
    ):
        super().__init__()
        self.webhook_id = webhook_id
        self.check = check
        self.allow_remote = allow_remote

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Forward #{self.webhook_id} to", style="bold"))
            yield Input(
                placeholder="3000, :4000/hooks, /hooks or http://localhost:8000/x", id="target"
            )
            where = (
                "Targets on this machine or another (--allow-remote)"
                if self.allow_remote
                else "Loopback targets only, as with -f"
            )
            yield Static(
                Text(
                    f"{where}; 'https://…,insecure' leaves its certificate unverified. "
                    "Enter sends, Esc cancels.",
                    style="dim",
                ),
                id="target-note",
            )

    @on(Input.Submitted, "#target")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        note = self.query_one("#target-note", Static)
        note.update(Text("checking…", style="dim"))

        def checked(problem: Text | None) -> None:
            if problem is None:
                self.dismiss(text)
            else:
                note.update(problem)

        self.check(text, checked)


class ResignPrompt(ModalScreen[Resign | None]):
    """``R``: the secret to re-sign with: the running listen's, a variable's, or one typed in
    (masked; kept in memory for this replay only)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "cancel")]

    def __init__(
        self,
        webhook_id: int,
        listen: Resign | None,
        verified: str | None,
        provider: str | None = None,
    ) -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.provider = provider
        self.listen = listen
        self.verified = verified

    def compose(self) -> ComposeResult:
        if self.listen is not None:
            default = "Both empty: listen's own secrets."
        elif self.verified is not None:
            default = "Both empty: the secret that verified in the Signature tab."
        else:
            default = "Type a secret, or name the variable that holds it."
        with Vertical(classes="dialog"):
            yield Label(Text(f"Replay #{self.webhook_id} re-signed", style="bold"))
            yield Input(password=True, placeholder="secret (masked, never stored)", id="secret")
            yield Input(
                placeholder=f"or an environment variable, e.g. {secret_env_example(self.provider)}",
                id="env",
            )
            yield Static(
                Text(
                    f"{default} Only a webhook whose signature verifies with it is re-signed; "
                    "others go as received. Enter sends, Esc cancels.",
                    style="dim",
                ),
                id="resign-note",
            )

    @on(Input.Submitted)
    def submitted(self) -> None:
        secret = self.query_one("#secret", Input).value
        env = self.query_one("#env", Input).value.strip()
        note = self.query_one("#resign-note", Static)
        try:
            chosen = choose_resign(secret, env, self.listen, self.verified)
        except WhrelayError as error:
            note.update(error_text(error))
            return
        if chosen is None:
            note.update(Text("Type a secret or name a variable first.", style="yellow"))
        else:
            self.dismiss(chosen)


def choose_resign(
    secret: str, env: str, listen: Resign | None, verified: str | None
) -> Resign | None:
    """The secret to re-sign with: a variable named, else one typed in, else the running
    listen's, else the one that verified in the Signature tab; ``None``: none at hand.
    ``WhrelayError`` for a variable that is not set."""
    if env:
        return adapter.resign_with(adapter.secret_from_env(env))
    if secret:
        return adapter.resign_with(adapter.Secret(secret, "the secret typed in"))
    if listen is not None:
        return listen
    if verified is not None:
        label = "the secret verified in the Signature tab"
        return adapter.resign_with(adapter.Secret(verified, label))
    return None


ANY = "any"


class FilterScreen(ModalScreen[Query | None]):
    """``f``: narrow the list by delivery state, verdict, provider and method."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "cancel")]

    def __init__(self, query: Query, providers: list[str]) -> None:
        super().__init__()
        self.current = query
        self.providers = providers

    def compose(self) -> ComposeResult:
        q = self.current
        fields = (
            ("Delivery", "state", adapter.STATES, q.state),
            ("Signature", "verdict", adapter.VERDICTS, q.verdict),
            ("Provider", "provider", tuple(self.providers), q.provider),
            ("Method", "method", ("POST", "PUT", "PATCH", "DELETE", "GET"), q.method),
        )
        with Vertical(classes="dialog", id="filters"):
            yield Label(Text("Filter the list", style="bold"))
            for title, name, choices, value in fields:
                with Horizontal(classes="filter-row"):
                    yield Label(title, classes="filter-label")
                    yield Select(
                        [(choice, choice) for choice in choices],
                        prompt=ANY,
                        value=value if value in choices else Select.NULL,
                        id=f"filter-{name}",
                    )
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear", id="clear")

    def _value(self, name: str) -> str | None:
        value = self.query_one(f"#filter-{name}", Select).value
        return value if isinstance(value, str) else None

    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        self.dismiss(
            Query(
                search=self.current.search,
                state=self._value("state"),
                verdict=self._value("verdict"),
                provider=self._value("provider"),
                method=self._value("method"),
            )
        )

    @on(Button.Pressed, "#clear")
    def clear(self) -> None:
        self.dismiss(Query(search=self.current.search))
