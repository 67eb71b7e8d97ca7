"""What a provider declares about how its webhooks are told without a secret.

Each signature scheme declares one ``Identification`` (its ``identification``), in its own
module; detection (``detect.py``) is built from all of them, through ``known.py``, which is
generated from the schemes (``python -m whrelay.signatures.index``). Pure data: header names
are lower case, and a body field is a path into a JSON object body (``("event", "type")``).
Named tuples, not dataclasses: every scheme module declares one, and a named tuple costs
a tenth as much to define, which ``whrelay verify`` (one scheme) and ``--help`` feel.
"""

from __future__ import annotations

from typing import NamedTuple

Path = tuple[str, ...]
"""Keys from a JSON object body down to a value: ``("id",)``, ``("event-data", "event")``."""


class BodyMark(NamedTuple):
    """How a sender that names itself in no header is told by its body (Mailgun signs in the
    body): a JSON object whose ``json_field`` is an object holding ``json_keys``, or a
    url-encoded form with each of ``form_fields`` (name, regular expression of its value)."""

    json_field: str
    json_keys: tuple[str, ...]
    form_fields: tuple[tuple[str, str], ...] = ()
    form_event: str | None = None
    """The form field that holds the event type."""


class Identification(NamedTuple):
    """How a sender's webhooks are told apart, and where their event type and the sender's
    own id of each (``provider_id``) are."""

    headers: tuple[str, ...] = ()
    """Headers any one of which names the sender. Detection tries the providers in the
    registry's order, so one whose requests also carry another's headers (Svix sends
    ``webhook-*`` too) comes before that other."""
    event_headers: tuple[str, ...] = ()
    """Headers holding the event type: the first one present and not empty."""
    event_fields: tuple[Path, ...] = ()
    """Where a JSON body holds the event type, tried after ``event_headers``."""
    subtype_fields: tuple[Path, ...] = ()
    """Where a JSON body holds the event's sub-type (GitHub's ``action``): when there is one,
    the event is ``type.subtype`` (``issues.opened``, as GitHub's own documentation names its
    events), so that ``list`` shows, and filters by, what happened, not only to what."""
    id_headers: tuple[str, ...] = ()
    """Headers holding the sender's own id of the webhook."""
    id_fields: tuple[Path, ...] = ()
    """Where a JSON body holds that id, tried after ``id_headers``."""
    body: BodyMark | None = None
    """For a sender told by its body alone: how (tried only when no header names a sender)."""
    common_fields: bool = True
    """Whether the fields most senders use (``type``, ``event_id``, a ``webhook-id`` header,
    ...) are read when the declared ones are missing, as they are for unknown senders."""
