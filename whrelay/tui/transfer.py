"""Webhooks out of the TUI: ``C``'s menu of what to copy to the clipboard, and ``E``'s export
to a file (the selected webhook, the marked ones, or the list as filtered), with a progress
bar. Both use ``whrelay export``'s builders, through the adapter."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    OptionList,
    ProgressBar,
    RadioButton,
    RadioSet,
    Select,
    Static,
)
from textual.widgets.option_list import Option

from whrelay.tui.adapter import COPY_FORMATS, EXPORT_SUFFIXES, ExportSelection, Query
from whrelay.tui.messages import ActionFailed, ExportFinished, ExportProgressed
from whrelay.tui.source import DataSource

EXPORT_FORMATS = ("json", "curl", "httpie", "http", "har")


class CopyMenu(ModalScreen[str | None]):
    """``C``: what to copy the webhook as."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "cancel"),
        Binding("q", "dismiss", show=False),  # closes the menu, never quits the app
    ]

    def __init__(self, webhook_id: int) -> None:
        super().__init__()
        self.webhook_id = webhook_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="copy-menu"):
            yield Label(Text(f"Copy #{self.webhook_id} to the clipboard as", style="bold"))
            yield OptionList(
                *(Option(Text(f"{key:<7} {what}"), id=key) for key, what in COPY_FORMATS),
                id="copy-formats",
            )
            yield Static(
                Text(
                    "Through the terminal (OSC 52): tmux needs 'set -g set-clipboard on'. "
                    "Enter copies, Esc cancels.",
                    style="dim",
                )
            )

    @on(OptionList.OptionSelected, "#copy-formats")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ExportScreen(ModalScreen[ExportFinished | None]):
    """``E``: the selected webhook, the marked ones or the list as filtered, to a file in any
    of ``export``'s formats. Written to a temporary file moved into place once complete; Esc
    during a large export stops it and leaves no file. A file that exists is replaced only
    when asked twice."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("q", "cancel", show=False),  # typed into the file name, else closes
    ]

    def __init__(
        self,
        source: DataSource,
        selected: int | None,
        marked: list[int],
        query: Query,
        folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.selected = selected
        self.marked = marked
        self.listed = query
        self.folder = folder or Path.cwd()
        self.running = False
        self.replacing: Path | None = None
        """A file that exists, which the user was told the export would replace."""

    def choices(self) -> list[tuple[str, ExportSelection | None, str]]:
        """Each choice: its label, what it selects (``None``: nothing to select) and the
        stem of the file name it suggests."""
        listed = (
            f"the list as filtered ({self.listed.describe()})"
            if not self.listed.empty
            else "the whole history"
        )
        return [
            (
                f"the selected webhook (#{self.selected})"
                if self.selected is not None
                else "the selected webhook (none)",
                ExportSelection((self.selected,)) if self.selected is not None else None,
                f"whrelay-{self.selected}",
            ),
            (
                f"the marked webhooks ({len(self.marked)})",
                ExportSelection(tuple(self.marked)) if self.marked else None,
                "whrelay-marked",
            ),
            (listed, ExportSelection(query=self.listed), "whrelay-export"),
        ]

    def compose(self) -> ComposeResult:
        choices = self.choices()
        first = 1 if self.marked else 0 if self.selected is not None else 2
        with Vertical(classes="dialog", id="export"):
            yield Label(Text("Export to a file", style="bold"))
            with RadioSet(id="export-what"):
                for n, (label, selection, _) in enumerate(choices):
                    # A label as text, never markup: a search is what the user typed.
                    yield RadioButton(Text(label), value=n == first, disabled=selection is None)
            with Horizontal(classes="filter-row"):
                yield Label("Format", classes="filter-label")
                yield Select(
                    [(fmt, fmt) for fmt in EXPORT_FORMATS],
                    value="json",
                    allow_blank=False,
                    id="export-format",
                )
            yield Input(value=choices[first][2] + EXPORT_SUFFIXES["json"], id="export-file")
            yield ProgressBar(id="export-progress", show_eta=False)
            yield Static(
                Text(
                    f"In {self.folder} unless the name says where. Enter writes, Esc cancels.",
                    style="dim",
                ),
                id="export-note",
            )
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="export-start")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-progress", ProgressBar).display = False

    def _what(self) -> int:
        return self.query_one("#export-what", RadioSet).pressed_index

    def _suggest(self, stem: str | None = None) -> None:
        """Keep the file name in step with the choice and the format, unless typed."""
        field = self.query_one("#export-file", Input)
        fmt = str(self.query_one("#export-format", Select).value)
        current = Path(field.value)
        stems = {choice[2] for choice in self.choices()}
        if current.stem in stems or stem is None:
            field.value = (stem or current.stem) + EXPORT_SUFFIXES[fmt]
        elif current.suffix in EXPORT_SUFFIXES.values():
            field.value = str(current.with_suffix(EXPORT_SUFFIXES[fmt]))

    @on(RadioSet.Changed, "#export-what")
    def what_changed(self) -> None:
        self._suggest(self.choices()[self._what()][2])

    @on(Select.Changed, "#export-format")
    def format_changed(self) -> None:
        self._suggest()

    @on(Input.Submitted, "#export-file")
    @on(Button.Pressed, "#export-start")
    def start(self) -> None:
        if self.running:
            return
        note = self.query_one("#export-note", Static)
        selection = self.choices()[self._what()][1]
        name = self.query_one("#export-file", Input).value.strip()
        if selection is None or not name:
            note.update(Text("Choose what to export and name the file.", style="yellow"))
            return
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = self.folder / path
        if path.exists() and path != self.replacing:
            self.replacing = path  # asked once: the next Enter replaces it
            note.update(Text(f"{path.name} exists: Enter again replaces it.", style="yellow"))
            return
        self.running = True
        bar = self.query_one("#export-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        note.update(Text(f"writing {path}…", style="dim"))
        fmt = str(self.query_one("#export-format", Select).value)
        self.source.export(selection, fmt, path, self)

    def on_export_progressed(self, message: ExportProgressed) -> None:
        self.query_one("#export-progress", ProgressBar).update(
            total=message.total, progress=message.done
        )

    def on_export_finished(self, message: ExportFinished) -> None:
        self.running = False
        self.dismiss(message)

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.running = False
        self.query_one("#export-progress", ProgressBar).display = False
        text = Text(message.failure.message, style="red")
        if message.failure.hint:
            text.append(f"\nhint: {message.failure.hint}", style="yellow")
        self.query_one("#export-note", Static).update(text)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        if self.running:
            self.app.workers.cancel_group(self.app, "export")
        self.dismiss(None)
