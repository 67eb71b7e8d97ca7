"""``e``: edit the selected webhook and send it again.

The method, the path and query, the headers (one ``Name: value`` a line) and the body open in
fields; the body in a ``TextArea`` (JSON highlighted), or, with ``ctrl+e``, in ``$VISUAL`` or
``$EDITOR`` while the app hands over the terminal. A body that would not read back as the same
bytes (binary, compressed, control bytes) is not offered as text: it is shown as hex and sent
as stored. ``ctrl+s`` reviews: what changed, where it goes, what becomes of the signature;
then it is stored as a new webhook linked to its original (which stays as received) and sent.

Re-signing signs the edit afresh for its provider when the ORIGINAL's signature verifies with
the secret given (the running listen's, a variable's, or one typed in, masked); when it does
not, sending re-signed needs a second, explicit confirmation, as ``--resign-unverified``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widgets import Button, Footer, Input, Label, Static, Switch, TextArea
from textual.worker import get_current_worker

from whrelay.core.errors import WhrelayError
from whrelay.tui import adapter
from whrelay.tui.adapter import EditDraft, EditReview, EditStart, Resign, secret_env_example
from whrelay.tui.detail import RenderedLines, to_strips
from whrelay.tui.messages import ActionFailed, EditReviewed
from whrelay.tui.screens import choose_resign, error_text
from whrelay.tui.source import DataSource
from whrelay.views.safetext import one_line

MAX_IN_APP = 512 * 1024
"""Characters of a body the in-app editor takes; a larger one is edited with ``ctrl+e``."""

SendOrder = tuple[EditReview, bool]
"""What the edit screen hands back: the reviewed edit, and whether re-signing it although the
original did not verify was confirmed."""


def json_language(text: str, content_type: str) -> str | None:
    """``"json"`` when the body is JSON and a grammar for it is installed (highlighting)."""
    if "json" not in content_type.lower() and text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return None
    try:
        import tree_sitter_json  # noqa: F401  # the grammar TextArea loads for "json"
    except ImportError:
        return None
    return "json"


class EditScreen(Screen[SendOrder | None]):
    """The fields of the webhook to edit (see the module)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "review", "review and send", priority=True),
        Binding("ctrl+e", "external_editor", "body in $EDITOR", priority=True),
        Binding("escape", "cancel", "cancel"),
        # q quits from the list, not from here: an edit is never lost (nor, with
        # 'listen --tui', the listen stopped) by a key that types a letter elsewhere.
        Binding("q", "stay", show=False),
    ]

    def __init__(
        self,
        start: EditStart,
        source: DataSource,
        listen: Resign | None = None,
        verified: str | None = None,
    ) -> None:
        super().__init__()
        self.start = start
        self.source = source
        self.listen = listen
        self.verified = verified
        webhook = start.view.webhook
        self.original_id = webhook.id
        self.body_text = start.text.body
        """The body as text (what ``$EDITOR`` gets); ``None``: not editable as text."""
        self.in_app = self.body_text is not None and len(self.body_text) <= MAX_IN_APP
        self.reviewing = False

    # --- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        text = self.start.text
        webhook = self.start.view.webhook
        title = Text()
        title.append(f"Edit #{self.original_id} and send it again", style="bold")
        title.append("  ·  stored as a new webhook; the original stays as received", style="dim")
        with Vertical(id="edit"):
            yield Static(title, id="edit-title")
            with Horizontal(id="edit-line"):
                yield Input(text.method, id="edit-method")
                yield Input(text.target, id="edit-target")
            yield Label(Text("Headers, one 'Name: value' a line", style="bold"))
            yield TextArea(text.headers, soft_wrap=True, id="edit-headers")
            yield Label(self._body_label(), id="edit-body-label")
            if self.in_app:
                assert self.body_text is not None
                yield self._body_area(self.body_text, webhook.summary.content_type or "")
            else:
                with VerticalScroll(id="edit-body-fixed"):
                    yield Static(self._fixed_body(), id="edit-body-note")
            with Horizontal(id="edit-send"):
                yield Label("Send to", classes="edit-label")
                yield Input(placeholder=self._to_placeholder(), id="edit-to")
            with Horizontal(id="edit-resign"):
                yield Switch(value=False, id="edit-resign-on")
                yield Label("re-sign, fresh timestamp", classes="edit-switch-label")
                yield Input(password=True, placeholder=self._secret_placeholder(), id="edit-secret")
                example = secret_env_example(webhook.summary.provider)
                yield Input(placeholder=f"or a variable: {example}", id="edit-env")
            yield Static(id="edit-note")
        yield Footer()

    def _body_area(self, body: str, content_type: str) -> TextArea:
        language = json_language(body, content_type)
        try:
            return TextArea(
                body, language=language, soft_wrap=True, show_line_numbers=True, id="edit-body"
            )
        except Exception:  # a grammar that does not load: plain text, still editable
            return TextArea(body, soft_wrap=True, show_line_numbers=True, id="edit-body")

    def _body_label(self) -> Text:
        label = Text("Body", style="bold")
        if self.body_text is None:
            label.append("  (not editable as text: sent as stored)", style="yellow")
        elif not self.in_app:
            label.append("  (ctrl+e edits it in $VISUAL or $EDITOR)", style="yellow")
        else:
            label.append("  (ctrl+e: in $VISUAL or $EDITOR)", style="dim")
        return label

    def _fixed_body(self) -> Text:
        """What stands for a body not opened in the text editor: why, and the body as hex (or
        how large it is)."""
        from whrelay.views.compare import hex_lines

        webhook = self.start.view.webhook
        note = Text()
        if self.body_text is None:
            why = self.start.text.body_note or "the body cannot be edited as text"
            note.append(f"{one_line(why)}: it is not opened in the text editor, ", style="yellow")
            note.append("and is sent as stored.\n", style="yellow")
            body = webhook.body or b""
            lines = hex_lines(body[:4096])
            note.append("\n".join(lines))
            if len(body) > 4096:
                note.append(f"\n… {len(body) - 4096:,} more bytes", style="dim")
        else:
            note.append(
                f"The body is {len(self.body_text):,} characters, more than the in-app editor "
                "takes: ctrl+e opens it in $VISUAL or $EDITOR.",
                style="yellow",
            )
        return note

    def _to_placeholder(self) -> str:
        targets = self.start.targets
        if not targets:
            return "a target (3000, :4000/hooks, a URL): it was never forwarded"
        return "its targets: " + ", ".join(one_line(t) for t in targets) + " (or type one)"

    def _secret_placeholder(self) -> str:
        if self.listen is not None:
            return "secret (empty: listen's)"
        if self.verified is not None:
            return "secret (empty: the one verified)"
        return "secret (masked, never stored)"

    def on_mount(self) -> None:
        self.query_one("#edit-body" if self.in_app else "#edit-method").focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_stay(self) -> None:
        self.notify("esc leaves the edit (it is dropped); ctrl+s reviews and sends it", timeout=4)

    # --- the body ---------------------------------------------------------------------------------

    def body_bytes(self) -> bytes | None:
        """The body as it will be sent."""
        original = self.start.view.webhook.body
        if self.body_text is None:
            return original
        text = self.query_one("#edit-body", TextArea).text if self.in_app else self.body_text
        if original is None and text == "":
            return None
        return text.encode("utf-8")

    def action_external_editor(self) -> None:
        """``ctrl+e``: the body in ``$VISUAL`` (or ``$EDITOR``), the app suspended meanwhile."""
        note = self.query_one("#edit-note", Static)
        if self.body_text is None:
            note.update(Text("This body is not text: it is sent as stored.", style="yellow"))
            return
        command = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not command:
            note.update(Text("Set $VISUAL or $EDITOR to edit the body there.", style="yellow"))
            return
        current = self.query_one("#edit-body", TextArea).text if self.in_app else self.body_text
        suffix = ".json" if json_language(current, "") else ".txt"
        handle, name = tempfile.mkstemp(prefix="whrelay-body-", suffix=suffix)
        path = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(current)
            try:
                with self.app.suspend():
                    ran = subprocess.run([*shlex.split(command), str(path)], check=False)
            except SuspendNotSupported:
                note.update(Text("This terminal cannot be handed to an editor.", style="yellow"))
                return
            except OSError as error:
                note.update(Text(f"cannot run {command}: {error.strerror}", style="red"))
                return
            if ran.returncode != 0:
                note.update(
                    Text(f"{command} exited {ran.returncode}: the body is as it was", "yellow")
                )
                return
            try:
                edited = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                note.update(Text("The file is not UTF-8 text: the body is as it was.", "red"))
                return
        finally:
            path.unlink(missing_ok=True)
        problem = adapter.body_problem(edited)
        if problem:
            note.update(Text(f"{problem}: the body is as it was", style="red"))
            return
        self.body_text = edited
        if self.in_app:
            self.query_one("#edit-body", TextArea).load_text(edited)
        note.update(Text(f"the body as {one_line(command)} left it", style="green"))
        self.refresh()

    # --- review, then send ------------------------------------------------------------------------

    def draft(self) -> EditDraft | None:
        """The fields as a draft; ``None`` (and a note) when re-signing lacks a secret."""
        resign = None
        note = self.query_one("#edit-note", Static)
        if self.query_one("#edit-resign-on", Switch).value:
            secret_field = self.query_one("#edit-secret", Input)
            env = self.query_one("#edit-env", Input).value.strip()
            try:
                resign = choose_resign(secret_field.value, env, self.listen, self.verified)
            except WhrelayError as error:
                note.update(error_text(error))
                return None
            if resign is None:
                note.update(Text("Re-sign: type the secret or name its variable.", "yellow"))
                return None
        return EditDraft(
            method=self.query_one("#edit-method", Input).value,
            target=self.query_one("#edit-target", Input).value,
            headers=self.query_one("#edit-headers", TextArea).text,
            body=self.body_bytes(),
            to=self.query_one("#edit-to", Input).value,
            resign=resign,
        )

    def action_review(self) -> None:
        if self.reviewing:
            return
        draft = self.draft()
        if draft is None:
            return
        self.reviewing = True
        self.query_one("#edit-note", Static).update(Text("checking…", style="dim"))
        self.source.review_edit(self.original_id, draft, self)

    def on_edit_reviewed(self, message: EditReviewed) -> None:
        message.stop()
        self.reviewing = False
        self.query_one("#edit-note", Static).update("")

        def decided(unverified: bool | None) -> None:
            if unverified is not None:
                self.query_one("#edit-secret", Input).value = ""  # used: not kept on screen
                self.dismiss((message.review, unverified))

        self.app.push_screen(ReviewScreen(message.review), decided)

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.reviewing = False
        text = Text(message.failure.message, style="red")
        if message.failure.hint:
            text.append(f"\nhint: {message.failure.hint}", style="yellow")
        self.query_one("#edit-note", Static).update(text)


class ReviewScreen(Screen[bool | None]):
    """What sending the edit will do: the changes, where it goes, what becomes of the
    signature. Dismissed with ``None`` (back to editing) or whether re-signing although the
    original did not verify was confirmed (``False`` when there was nothing to confirm)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back to editing"),
        Binding("q", "back", show=False),  # never quits the app from here (see EditScreen)
        Binding("ctrl+s", "send", "send", priority=True),
    ]

    def __init__(self, review: EditReview) -> None:
        super().__init__()
        self.review = review
        self.laid_out = False
        self.lines = RenderedLines(id="review-lines")

    def compose(self) -> ComposeResult:
        review = self.review
        with Vertical(id="review"):
            yield Static(self._summary(), id="review-summary")
            yield Static(self._signature(), id="review-signature")
            yield self.lines
            with Horizontal(classes="buttons"):
                if review.needs_confirmation:
                    yield Button("Re-sign anyway and send…", variant="error", id="review-send")
                else:
                    yield Button("Send", variant="primary", id="review-send")
                yield Button("Back to editing", id="review-back")
        yield Footer()

    def _summary(self) -> Text:
        review = self.review
        text = Text()
        text.append(f"Send the edit of #{review.original_id}", style="bold")
        text.append(
            f"  ·  stored as a new webhook, edited from #{review.original_id}; "
            f"#{review.original_id} stays as received\n",
            style="dim",
        )
        text.append("to ", style="dim")
        text.append(", ".join(one_line(target.url) for target in review.targets))
        return text

    def _signature(self) -> Text:
        review = self.review
        text = Text()
        if review.resign is None:
            if review.broken_signature:
                text.append(
                    f"The sender's {review.broken_signature} signature will no longer match the "
                    "edited body: your app will reject it. Switch re-sign on to sign it afresh.",
                    style="yellow",
                )
            else:
                text.append("Sent with its headers as edited (not re-signed).", style="dim")
        elif review.resign_verified:
            text.append(
                f"Re-signed for {review.scheme} with a fresh timestamp: #{review.original_id}'s "
                f"own signature verifies with {review.resign.label}.",
                style="green",
            )
        else:
            text.append(
                f"#{review.original_id}'s {review.scheme} signature did not verify "
                f"({one_line(review.resign_why)}). Re-signing makes your app trust a request "
                "whrelay could not authenticate: do it only for a request you made yourself.",
                style="bold red",
            )
        return text

    def on_mount(self) -> None:
        from whrelay.render.compare import comparison_view

        comparison = self.review.comparison
        width = max(40, self.size.width - 2)

        def work() -> None:
            lines = to_strips(comparison_view(comparison), width)
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._laid_out, lines)

        self.run_worker(work, thread=True, group="review-lay-out", exclusive=True)
        self.query_one("#review-send", Button).focus()

    def _laid_out(self, lines: list[Strip]) -> None:
        self.lines.show(lines)
        self.laid_out = True

    def shown_text(self) -> str:
        return "\n".join(strip.text for strip in self.lines.lines)

    @on(Button.Pressed, "#review-back")
    def action_back(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#review-send")
    def action_send(self) -> None:
        if not self.review.needs_confirmation:
            self.dismiss(False)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.dismiss(True)

        self.app.push_screen(ConfirmUnverified(self.review), confirmed)


class ConfirmUnverified(ModalScreen[bool]):
    """The second confirmation before re-signing an edit whose original did not verify
    (``replay --resign-unverified``'s explicit choice, on screen)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "no", "cancel"),
        Binding("q", "no", show=False),  # never quits the app from here
    ]

    def __init__(self, review: EditReview) -> None:
        super().__init__()
        self.review = review

    def compose(self) -> ComposeResult:
        review = self.review
        with Vertical(classes="dialog", id="confirm-unverified"):
            yield Label(Text("Re-sign a request whrelay could not authenticate?", "bold red"))
            yield Static(
                Text(
                    f"#{review.original_id}'s {review.scheme} signature did not verify "
                    f"({one_line(review.resign_why)}). Signed with the real secret, the edit will "
                    "pass your app's check: a forged request would too.",
                    style="red",
                )
            )
            with Horizontal(classes="buttons"):
                yield Button("Re-sign anyway", variant="error", id="confirm-yes")
                yield Button("Cancel", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed, "#confirm-yes")
    def yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)
