"""The TUI's one door to the rest of whrelay: the read API, replay, verification, targets.

Everything the terminal UI reads, sends or checks goes through a function here, and these call
the same functions the CLI calls (``storage.read`` for ``list``/``show``, ``relay.replay``
for ``replay``, ``signatures.verification`` for ``verify``, ``core.targets`` for ``-f``).
When those APIs change shape, this module changes and the widgets do not. No Textual here:
the data source (``source.py``) runs these in workers; widgets never call them directly.

The functions that read take a ``Store`` and block: call them off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from whrelay.core.errors import UsageError
from whrelay.core.models import Capture, Delivery, Webhook, WebhookSummary
from whrelay.storage import Store, WebhookFilter
from whrelay.storage import read as history
from whrelay.storage.read import Changes, Direction, Position, Standing, WebhookView

if TYPE_CHECKING:
    from whrelay.core.config import ListenSettings
    from whrelay.core.models import Attempt
    from whrelay.core.targets import Target
    from whrelay.formats.edit import EditableRequest
    from whrelay.signatures.base import Verification as Verification
    from whrelay.signatures.verification import SigningKeys
    from whrelay.views.compare import Comparison

__all__ = [
    "Changes",
    "Direction",
    "Position",
    "Query",
    "Row",
    "Store",
    "WebhookView",
]

NEVER_FORWARDED_HINT = "F forwards it to a target you type"


def secret_env_example(provider: str | None) -> str:
    """The variable name a prompt for a webhook's secret gives as an example:
    ``GITHUB_WEBHOOK_SECRET`` for a GitHub webhook, ``WEBHOOK_SECRET`` for one of no known
    sender."""
    name = "".join(c if c.isalnum() else "_" for c in (provider or "").upper())
    return f"{name}_WEBHOOK_SECRET" if name.isascii() and name.strip("_") else "WEBHOOK_SECRET"


REPLAY_TIMEOUT = 30.0
"""Seconds a replay from the TUI waits for a target's answer (``whrelay replay``'s default)."""


# --- rows of the list -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the list: a webhook and where its deliveries stand."""

    summary: WebhookSummary
    standing: Standing
    """Its status and last answer, as ``list``'s DELIVERY column words them
    (``read.standing``)."""

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def position(self) -> Position:
        return Position.of(self.summary)


def row_of(summary: WebhookSummary, deliveries: Sequence[Delivery]) -> Row:
    """A webhook's row: where its deliveries stand, as ``list`` says it."""
    return Row(summary, history.standing(deliveries))


def rows_of(store: Store, summaries: Sequence[WebhookSummary]) -> list[Row]:
    found = history.deliveries_of(store, [s.id for s in summaries])
    return [row_of(s, found[s.id]) for s in summaries]


# --- reading the history --------------------------------------------------------------------------


def open_reader(path: Path) -> Store:
    """A read-only connection to the database ``listen`` writes; the readers' errors
    (missing, empty, not whrelay's, another schema) as ``StorageError``."""
    return Store(path, readonly=True)


def rows(store: Store, start: Position | None, direction: Direction, limit: int) -> list[Row]:
    """Up to ``limit`` rows of the whole history on one side of ``start`` (keyset)."""
    return rows_of(store, history.page(store, start=start, direction=direction, limit=limit))


def skip(
    store: Store, start: Position | None, n: int, direction: Direction = "older"
) -> Position | None:
    """Where the ``n``-th webhook after ``start`` sits (a jump; see ``read.skip``)."""
    return history.skip(store, start, n, direction)


def total(store: Store) -> int:
    return history.count(store)


def newest_id(store: Store) -> int:
    return history.newest_id(store)


def arrivals(store: Store, after_id: int, limit: int = 500) -> list[WebhookSummary]:
    return history.arrivals(store, after_id, limit)


def data_version(store: Store) -> int:
    return store.data_version()


def changes_from(store: Store) -> Changes:
    """Where a follower starts looking for deliveries that move on: after what is committed
    now (read before the rows it shows)."""
    return history.changes_from(store)


def changed_webhooks(store: Store, since: Changes) -> tuple[set[int], Changes]:
    """The webhooks whose deliveries moved on after ``since``, all of them (a poll looks
    once per commit it sees), and where the next look starts."""
    webhooks: set[int] = set()
    while True:
        changed, after = history.changed_deliveries(store, since, limit=5000)
        webhooks.update(d.webhook_id for d in changed)
        if after == since:
            return webhooks, after
        since = after


def refreshed(store: Store, summaries: Sequence[WebhookSummary]) -> list[Row]:
    """Rows of ``summaries`` with their deliveries as they stand now."""
    return rows_of(store, summaries)


def pending_by_target(store: Store) -> dict[str, int]:
    return history.pending_by_target(store)


def webhook_view(store: Store, webhook_id: int) -> WebhookView:
    """A webhook with every delivery and attempt, as ``show`` has it."""
    return history.webhook_view(store, webhook_id)


# --- filters and search ---------------------------------------------------------------------------

STATES = ("delivered", "pending", "failed", "cancelled")
VERDICTS = ("valid", "invalid", "unverified")


@dataclass(frozen=True, slots=True)
class Query:
    """What the list is narrowed to: a text searched in the path, the query and the body,
    and ``list``'s filters. Empty: the whole history."""

    search: str = ""
    state: str | None = None
    verdict: str | None = None
    provider: str | None = None
    method: str | None = None

    @property
    def empty(self) -> bool:
        return self == Query()

    def with_search(self, text: str) -> Query:
        return replace(self, search=text)

    def filter(self) -> WebhookFilter:
        return WebhookFilter(
            search=self.search or None,
            status=self.state,
            verdict=self.verdict,
            provider=self.provider.lower() if self.provider else None,
            method=self.method.upper() if self.method else None,
            limit=0,
        )

    def describe(self) -> str:
        """``search "evt_" · failed · valid · stripe · POST``."""
        parts = [f'search "{self.search}"'] if self.search else []
        parts += [p for p in (self.state, self.verdict, self.provider, self.method) if p]
        return " · ".join(parts)


def scan(
    store: Store, query: Query, start: Position | None, within: int
) -> tuple[list[Row], Position | None]:
    """The rows matching ``query`` among the next ``within`` webhooks after ``start``, and
    where the next scan starts (``None``: the whole history has been looked at)."""
    found, bound = history.scan(store, query.filter(), start, within)
    return rows_of(store, found), bound


def known_providers() -> list[str]:
    """The providers whrelay tells apart (what the filter offers)."""
    from whrelay.identify.detect import PROVIDERS

    return sorted(PROVIDERS)


# --- targets, replay, re-signing ----


def parse_forward_target(text: str, tls: ReplayTls | None = None) -> Target:
    """A target typed in, as ``-f`` and ``--to`` take it: the same syntax and the same loopback
    guard, lifted as ``tls`` says (``UsageError`` with the CLI's words, and a hint fit for where
    the TUI was started). Resolves the name: call off the loop."""
    from whrelay.core.targets import parse_target

    target = parse_target(text)
    check_replay_target(target, tls or ReplayTls())
    return target


def check_replay_target(target: Target, tls: ReplayTls) -> None:
    """``check_target``'s loopback guard, lifted when ``tls.allow_remote``: ``UsageError``
    with a hint that names the option where the TUI was started (listen's, or its own)."""
    from whrelay.core.targets import check_target

    try:
        check_target(target, tls.allow_remote)
    except UsageError as error:
        raise UsageError(error.message, hint=tls.remote_hint) from None


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret at hand for re-signing or verifying, and where it came from (shown; the
    value never is)."""

    value: str
    label: str

    def __repr__(self) -> str:
        return f"Secret(label={self.label!r})"


def secret_from_env(name: str) -> Secret:
    """The secret in environment variable ``name`` (``--secret-env``'s rules and words)."""
    from whrelay.signatures.verification import given_secrets

    found = given_secrets((), (name.strip(),))[0]
    return Secret(found.value, found.label)


ListenKeys = Callable[[Webhook], "SigningKeys"]
"""The scheme and secrets a running ``listen`` checks (and re-signs) a webhook with."""


def listen_keys(settings: ListenSettings) -> ListenKeys | None:
    """The keys of the running ``listen`` (its routes' own, else its own), or ``None`` when
    it was given no secret: the ones its forwarder re-signs with."""
    from whrelay.core.targets import match_route
    from whrelay.signatures.verification import SigningKeys, keys_for

    verify = settings.verify
    routes = settings.forward.routes
    if not verify.secrets and not any(route.secrets for route in routes):
        return None

    def keys(webhook: Webhook) -> SigningKeys:
        provider, secrets = keys_for(match_route(webhook.summary.path, routes), verify)
        return SigningKeys(provider, secrets, verify.public_url)

    return keys


@dataclass(frozen=True, slots=True)
class Resign:
    """``R``: re-sign with these keys (listen's, or one secret typed in or read from a
    variable)."""

    label: str
    keys: ListenKeys


def resign_with(secret: Secret) -> Resign:
    from whrelay.signatures.verification import SigningKeys

    keys = SigningKeys(None, (secret.value,))
    return Resign(secret.label, lambda webhook: keys)


def resign_with_listen(keys: ListenKeys) -> Resign:
    return Resign("listen's secrets", keys)


@dataclass(frozen=True, slots=True)
class ReplayTls:
    """Which targets the TUI's replays (``r``, ``F``, ``R``, ``e``) may dial, and how https
    ones: as ``whrelay tui --allow-remote --insecure --ca-file`` says, or (``listen_tls``) as
    the running listen forwards."""

    allow_remote: bool = False
    """Targets not on this machine may be dialled (``--allow-remote``): loopback only else."""

    insecure: bool = False
    """No https target's certificate is verified (``--insecure``); one typed in may say so
    for itself (``URL,insecure``)."""
    insecure_targets: frozenset[str] = frozenset()
    """The URLs of the targets listen was given with ``,insecure`` (or ``--insecure``)."""
    ca_file: Path | None = None
    """PEM certificates trusted besides the system's (``--ca-file``, already checked)."""
    listening: bool = False
    """Whether these are a running listen's (what a certificate failure's hint names)."""

    @property
    def certificate_hint(self) -> str:
        """What to do when a target's certificate did not verify, in words that fit where
        the TUI was started from."""
        if self.listening:
            start = "start listen with --ca-file CERT.pem to trust it (or TARGET,insecure)"
        else:
            start = "start 'whrelay tui --ca-file CERT.pem' to trust it (or --insecure)"
        return f"self-signed? {start}; F takes 'URL,insecure'"

    @property
    def remote_hint(self) -> str:
        """What to do when a target is refused for not being on this machine, in words that
        fit where the TUI was started (it takes no option once started)."""
        if self.listening:
            return "replays go where listen may forward: start listen with --allow-remote"
        return "replays go to this machine only: start 'whrelay tui --allow-remote'"


def listen_tls(settings: ListenSettings) -> ReplayTls:
    """The running listen's way with targets: its ``--allow-remote``, its ``--ca-file``, the
    targets it does not verify, and its ``--insecure`` (for targets typed in too)."""
    forward = settings.forward
    return ReplayTls(
        allow_remote=settings.allow_remote,
        insecure=forward.insecure,
        insecure_targets=frozenset(t.url for t in forward.all_targets if t.insecure),
        ca_file=settings.ca_file,
        listening=True,
    )


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What one replay from the TUI did: each attempt, as recorded."""

    webhook_id: int
    attempts: list[Attempt]
    to: str | None
    """The target typed in (``F``); ``None``: the webhook's own targets (``r``, ``R``)."""


async def replay(
    db: Path,
    webhook_id: int,
    to: Target | None = None,
    resign: Resign | None = None,
    timeout: float = REPLAY_TIMEOUT,
    tls: ReplayTls = ReplayTls(),
) -> ReplayResult:
    """Send webhook ``webhook_id`` again through ``whrelay replay``'s function: to its
    original targets, or to ``to``; re-signed with ``resign`` when its signature verifies;
    targets dialled as ``tls`` says (those not on this machine only with ``tls.allow_remote``).
    Each attempt is recorded under the cross-process write lock (a successful one to an
    original target marks the delivery delivered). ``UsageError`` when there is nothing to
    send to, or a secret that cannot sign for the webhook's scheme."""
    from whrelay.core.defaults import DEFAULT_RESPONSE_CAP
    from whrelay.relay import replay as core
    from whrelay.relay.client import Sender
    from whrelay.signatures.verification import GivenSecret

    def open_and_plan() -> tuple[Store, core.ReplayPlan]:
        # A writer: it records attempts (readers never write). It refuses a missing
        # database as the readers do.
        store = Store(db, create=False)
        try:
            resigning = None
            if resign is not None:  # this webhook's keys (a route's own, for listen's)
                keys = resign.keys(store.get_webhook(webhook_id))
                given = tuple(GivenSecret(secret, resign.label) for secret in keys.secrets)
                resigning = core.Resign(given, keys.provider)
            request = core.ReplayRequest(
                (webhook_id,),
                to=to,
                resign=resigning,
                allow_remote=True,  # checked below, with the TUI's words
                insecure=tls.insecure,
                insecure_targets=tls.insecure_targets,
            )
            try:
                planned = core.plan(store, request)
            except UsageError as error:
                if to is None and not store.deliveries(webhook_id):  # never forwarded
                    raise UsageError(error.message, hint=NEVER_FORWARDED_HINT) from None
                raise
            for target in {item.target.url: item.target for item in planned.items}.values():
                check_replay_target(target, tls)
        except BaseException:
            store.close()
            raise
        return store, planned

    store, planned = await asyncio.to_thread(open_and_plan)
    try:
        async with Sender(tls.allow_remote, timeout, DEFAULT_RESPONSE_CAP, tls.ca_file) as sender:
            attempts = [a async for a in core.run(planned, store, sender)]
    finally:
        await asyncio.to_thread(store.close)
    return ReplayResult(webhook_id, attempts, None if to is None else to.url)


# --- verifying again ------------------------------------------------------------------------------


def verify_again(webhook: Webhook, secret: str, provider: str | None = None) -> Verification:
    """``whrelay verify ID --secret S``: the webhook's signature checked with ``secret`` as at
    its arrival, and explained when it fails. The scheme is ``provider``, else the one judged
    on arrival, else the one its headers name. ``UsageError`` as ``verify`` words it."""
    from whrelay.signatures import verification as v

    message = v.message_from_webhook(webhook)
    scheme, detected = v.choose_scheme(provider or webhook.summary.scheme, message)
    given = (v.GivenSecret(secret, "the secret typed in"),)
    v.check_verify_secrets(scheme, given, detected)
    return v.verify_message(scheme, message, [secret], webhook.summary.received_at / 1_000_000)


# --- copying: the clipboard -----------------------------------------------------------------------

COPY_FORMATS: tuple[tuple[str, str], ...] = (
    ("curl", "a curl command (as export --format curl)"),
    ("httpie", "an HTTPie command (as export --format httpie)"),
    ("http", "the raw HTTP request (as export --format http)"),
    ("json", "whrelay's JSON record (as show --json)"),
    ("body", "the body alone"),
)
"""What ``c`` (curl) and ``C`` (any of them) copy, and how the menu names each."""
MAX_CLIPBOARD = 1024 * 1024
"""Characters copied at the most: a terminal takes a larger OSC 52 sequence badly, if at all."""


def copy_text(store: Store, webhook_id: int, what: str) -> str:
    """Webhook ``webhook_id`` as text for the clipboard, by the builder ``export`` uses for
    ``what``. ``UsageError`` for what cannot be text (a body that is not UTF-8, raw HTTP with
    such bytes) or is too large for a terminal's clipboard: ``E`` writes it to a file."""
    from whrelay.formats import export

    view = history.webhook_view(store, webhook_id)
    webhook = view.webhook
    if _fewest_characters(webhook.summary.size, what) > MAX_CLIPBOARD:  # never built to refuse
        raise _too_large(webhook_id, what, f"more than {MAX_CLIPBOARD:,}")
    if what == "curl":
        text = export.curl_command(webhook)
    elif what == "httpie":
        text = export.httpie_command(webhook)
    elif what == "json":
        from whrelay.core.models import to_json

        text = to_json(export.json_record(view))
    else:
        raw = export.http_message(webhook) if what == "http" else webhook.body or b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            subject = "the body" if what == "body" else "the request"
            raise UsageError(
                f"{subject} of #{webhook_id} is not UTF-8 text, which the clipboard cannot hold",
                hint="c copies it as a curl command (any byte as an escape); E writes it to a file",
            ) from None
    if len(text) > MAX_CLIPBOARD:
        raise _too_large(webhook_id, what, f"{len(text):,}")
    return text


def _fewest_characters(size: int, what: str) -> int:
    """The fewest characters ``what`` takes for a body of ``size`` bytes: curl and HTTPie
    write each byte as a character at least; the others may hold it as UTF-8 text, up to four
    bytes a character."""
    return size if what in ("curl", "httpie") else size // 4


def _too_large(webhook_id: int, what: str, characters: str) -> UsageError:
    return UsageError(
        f"#{webhook_id} as {what} is {characters} characters, too many for the terminal's "
        "clipboard",
        hint="E exports it to a file",
    )


# --- exporting: a file ----------------------------------------------------------------------------

EXPORT_SUFFIXES = {
    "json": ".ndjson",
    "curl": ".sh",
    "httpie": ".sh",
    "http": ".http",
    "har": ".har",
}


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """What ``E`` writes: webhooks named (the selected one, the marked ones), or what a query
    narrows the history to (the whole history when it is empty)."""

    ids: tuple[int, ...] = ()
    query: Query | None = None


def export_count(store: Store, selection: ExportSelection) -> int:
    if selection.query is None:
        return len(selection.ids)
    return history.count(store, selection.query.filter())


def write_export(
    store: Store,
    selection: ExportSelection,
    fmt: str,
    path: Path,
    progress: Callable[[int, int], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> int:
    """Write the selection to ``path`` in ``fmt`` as ``whrelay export`` does (its builders,
    its pages, its temporary file moved into place once complete), calling
    ``progress(done, total)`` as it goes; how many webhooks went in. ``UsageError`` when the
    file cannot be written (nothing is left behind) or the selection is empty."""
    from typing import cast

    from whrelay.formats.export import Format, Sink, render, selected_views

    total = export_count(store, selection)
    if total == 0:
        raise UsageError("nothing to export: no webhook is selected")
    where = None if selection.query is None else selection.query.filter()
    done = 0

    def counted() -> Iterator[WebhookView]:
        nonlocal done
        for view in selected_views(store, selection.ids, where):
            if cancelled():
                raise UsageError("the export was cancelled; no file was written")
            yield view
            done += 1
            if done % 50 == 0 or done == total:
                progress(done, total)

    with Sink(path) as out:
        for chunk in render(counted(), cast(Format, fmt)):
            out.write(chunk)
    progress(done, total)
    return done


# --- comparing ------------------------------------------------------------------------------------


def compare_webhooks(store: Store, left_id: int, right_id: int) -> Comparison:
    """Webhook ``left_id`` against ``right_id`` (``views.compare``)."""
    from whrelay.views.compare import compare, request_side

    left, right = store.get_webhook(left_id), store.get_webhook(right_id)
    return compare(request_side(left), request_side(right))


def compare_answers(view: WebhookView, left_attempt: int, right_attempt: int) -> Comparison:
    """What the app answered attempt ``left_attempt`` against ``right_attempt`` (attempt ids of
    ``view``'s webhook)."""
    from whrelay.views.compare import attempt_title, compare, response_side

    shown = {a.attempt.id: a for a in view.attempts}
    left, right = shown[left_attempt], shown[right_attempt]
    return compare(
        response_side(left.attempt, attempt_title(left.attempt, left.number)),
        response_side(right.attempt, attempt_title(right.attempt, right.number)),
        first="status",
    )


# --- editing and re-sending -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditStart:
    """What the edit screen opens with: the webhook, as text, and where it would go."""

    view: WebhookView
    text: EditableRequest
    targets: tuple[str, ...]
    """The original targets (those it has deliveries for), in order; empty: never forwarded."""


def edit_start(store: Store, webhook_id: int) -> EditStart:
    from whrelay.formats.edit import editable

    view = history.webhook_view(store, webhook_id)
    targets = tuple(dict.fromkeys(d.target for d in view.deliveries))
    return EditStart(view, editable(view.webhook), targets)


def body_problem(text: str) -> str | None:
    """Why ``text`` (a body back from ``$EDITOR``) cannot be sent as typed, or ``None``."""
    from whrelay.formats.edit import text_problem

    return text_problem(text)


@dataclass(frozen=True, slots=True)
class EditDraft:
    """The edit screen's fields as the user left them. ``body``: the body's bytes (the text
    encoded, or the stored bytes when it was not offered as text)."""

    method: str
    target: str
    headers: str
    body: bytes | None
    to: str = ""
    """A target typed in; empty: the original targets."""
    resign: Resign | None = None


@dataclass(frozen=True, slots=True)
class EditReview:
    """What sending an edit will do, shown before it is sent."""

    original_id: int
    capture: Capture
    targets: tuple[Target, ...]
    comparison: Comparison
    broken_signature: str | None
    """Without re-signing: the scheme whose signature, sent as it came, no longer matches."""
    resign: Resign | None
    resign_verified: bool = False
    """Whether the original's signature verifies with the secret given (then the edit is
    signed afresh); otherwise re-signing needs a second, explicit confirmation."""
    resign_why: str = ""
    """Why the original's signature does not verify."""
    scheme: str | None = None

    @property
    def needs_confirmation(self) -> bool:
        return self.resign is not None and not self.resign_verified


def review_edit(
    store: Store, original_id: int, draft: EditDraft, tls: ReplayTls | None = None
) -> EditReview:
    """Read the draft into a request, check where it goes (``tls.allow_remote`` lifts the
    loopback guard) and, with re-signing, whether the original's signature verifies: what the
    review screen shows. ``UsageError`` for a draft that is not HTTP, a target refused,
    nowhere to send, or a secret that cannot sign."""
    from whrelay.formats.edit import as_webhook, broken_signature, read_edit, unchanged
    from whrelay.signatures.verification import decide_resign, signing_problem
    from whrelay.views.compare import compare, request_side

    tls = tls or ReplayTls()

    original = store.get_webhook(original_id)
    capture = read_edit(original, draft.method, draft.target, draft.headers, draft.body)
    if unchanged(original, capture):
        raise UsageError(
            f"nothing was changed in #{original_id}",
            hint="r replays it as it is; edit the method, path, headers or body first",
        )
    if draft.to.strip():
        targets: tuple[Target, ...] = (parse_forward_target(draft.to.strip(), tls),)
    else:
        from whrelay.core.targets import parse_target

        found = dict.fromkeys(d.target for d in store.deliveries(original_id))
        if not found:
            raise UsageError(
                f"#{original_id} was never forwarded, so it has no target to send the edit to",
                hint="type one under 'Send to', e.g. 3000",
            )
        targets = tuple(parse_target(target) for target in found)
    for target in targets:  # refused here, on the review, before anything is stored
        check_replay_target(target, tls)
    edited = as_webhook(capture)
    comparison = compare(
        request_side(original), request_side(edited, "the edit (a new webhook once sent)")
    )
    review = EditReview(
        original_id, capture, targets, comparison, broken_signature(original, capture), draft.resign
    )
    if draft.resign is None:
        return review
    keys = draft.resign.keys(original)
    decision = decide_resign(original, keys)
    if decision.scheme is None:
        raise UsageError(
            f"re-sign: {decision.why} in #{original_id}'s headers, so there is nothing to "
            "sign it with",
            hint="switch re-sign off to send it with its headers as they are",
        )
    usable = [s for s in keys.secrets if signing_problem(decision.scheme, s) is None]
    if not usable:
        problem = signing_problem(decision.scheme, keys.secrets[0]) if keys.secrets else None
        raise UsageError(
            f"re-sign: {draft.resign.label} cannot sign for {decision.scheme.name}",
            hint=problem or "give the secret the sender signs with",
        )
    return replace(
        review,
        resign_verified=decision.resign,
        resign_why=decision.why,
        scheme=decision.scheme.name,
        broken_signature=None,
    )


@dataclass(frozen=True, slots=True)
class EditResult:
    """The edited copy stored, and each attempt made to send it."""

    original_id: int
    copy_id: int
    attempts: list[Attempt]


async def send_edited(
    db: Path,
    review: EditReview,
    unverified: bool = False,
    timeout: float = REPLAY_TIMEOUT,
    tls: ReplayTls = ReplayTls(),
) -> EditResult:
    """Store the reviewed edit as a new webhook linked to its original, then send it to the
    review's targets through ``whrelay replay``'s function, re-signed when asked: signed
    afresh when the original verifies, or (``unverified``: confirmed twice on screen) anyway.
    The attempts are the copy's own: the original's deliveries stay as they were (an edited
    request reaching the app says nothing of whether the original did)."""
    from whrelay.core.config import VerifySettings
    from whrelay.core.defaults import DEFAULT_RESPONSE_CAP
    from whrelay.formats.edit import store_edited
    from whrelay.relay import replay as core
    from whrelay.relay.client import Sender
    from whrelay.signatures.verification import GivenSecret

    def store_and_plan() -> tuple[Store, int, list[core.ReplayPlan]]:
        store = Store(db, create=False)
        try:
            resigning = None
            secrets: tuple[str, ...] = ()
            if review.resign is not None:
                keys = review.resign.keys(store.get_webhook(review.original_id))
                secrets = keys.secrets
                given = tuple(GivenSecret(s, review.resign.label) for s in secrets)
                resigning = core.Resign(given, keys.provider, unverified=unverified)
            settings = VerifySettings(secrets=secrets)
            for target in review.targets:  # never a copy stored that cannot be sent
                check_replay_target(target, tls)
            copy = store_edited(store, review.original_id, review.capture, settings).id
            request = core.ReplayRequest(
                (copy,),
                resign=resigning,
                allow_remote=tls.allow_remote,
                insecure=tls.insecure,
                insecure_targets=tls.insecure_targets,
            )
            plans = [core.plan(store, replace(request, to=target)) for target in review.targets]
        except BaseException:
            store.close()
            raise
        return store, copy, plans

    store, copy, plans = await asyncio.to_thread(store_and_plan)
    try:
        async with Sender(tls.allow_remote, timeout, DEFAULT_RESPONSE_CAP, tls.ca_file) as sender:
            attempts = [a for planned in plans async for a in core.run(planned, store, sender)]
    finally:
        await asyncio.to_thread(store.close)
    return EditResult(review.original_id, copy, attempts)
