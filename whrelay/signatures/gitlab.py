"""GitLab: ``X-Gitlab-Token`` holds the project's secret token verbatim.

No MAC: the token authenticates the sender but not the body, and there is no timestamp. It is
compared in constant time. When GitLab signs with a *signing token* (``whsec_…``) it sends
Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``);
without an ``X-Gitlab-Token`` those are verified as Standard Webhooks. With both present, a
secret passes if it matches either way (the secret token or the signing token).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from whrelay.identify.facts import Identification
from whrelay.signatures.base import (
    Check,
    Message,
    Reason,
    Secret,
    Verification,
    bad,
    missing,
    ok,
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import Example
from whrelay.signatures.standard_webhooks import SECRET_PREFIX, STANDARD_WEBHOOKS

TOKEN_HEADER = "X-Gitlab-Token"
SIGNATURE_HEADER = "webhook-signature"
_SIGNED = {Reason.OK, Reason.TIMESTAMP_TOO_OLD, Reason.TIMESTAMP_IN_FUTURE}


IDENTIFICATION = Identification(
    headers=("x-gitlab-event", "x-gitlab-token"),
    event_headers=("x-gitlab-event",),
    event_fields=(("object_kind",),),  # system hooks send no X-Gitlab-Event
    subtype_fields=(("object_attributes", "action"),),  # Issue Hook + open: Issue Hook.open
    id_headers=("x-gitlab-event-uuid", "x-gitlab-webhook-uuid"),
)
EXAMPLE = Example(
    {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "project": {"path_with_namespace": "x/y"},
    },
    (("Content-Type", "application/json"), ("X-Gitlab-Event", "Push Hook")),
)


@dataclass(frozen=True, slots=True)
class GitLab:
    name: str = "gitlab"
    signature_headers: tuple[str, ...] = (TOKEN_HEADER, SIGNATURE_HEADER)
    needs_url: bool = False
    signs_body: bool = False  # its secret token covers no body (its signing token does)
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = (TOKEN_HEADER.lower(),)

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        """The token header set to ``secret``; a Standard Webhooks signature instead when the
        message carries ``webhook-signature`` and no token (or the secret is a ``whsec_``)."""
        if message.header(SIGNATURE_HEADER) is not None and (
            message.header(TOKEN_HEADER) is None
            or (isinstance(secret, str) and secret.startswith(SECRET_PREFIX))
        ):
            return STANDARD_WEBHOOKS.sign(message, secret, now)
        token = secret if isinstance(secret, str) else secret.decode("utf-8", "surrogateescape")
        return message.with_header(TOKEN_HEADER, token)

    def key_problem(self, secret: Secret) -> str | None:
        """Any text: a secret token is compared verbatim. A signing token (``whsec_``) that is
        not base64 is still a possible secret token; the Standard Webhooks check skips it."""
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        token = message.header(TOKEN_HEADER)
        signed = bool(message.header(SIGNATURE_HEADER))
        if not token:
            if signed:
                return self._standard(message, check)
            return missing(self.name, TOKEN_HEADER)
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        given = token.encode("utf-8", "surrogateescape")
        matched = False
        for key in keys:
            if same(given, utf8(key)):
                matched = True
        if matched:
            return ok(
                self.name,
                detail=f"{TOKEN_HEADER} matches (a token authenticates the sender, not the body)",
            )
        if signed:
            result = self._standard(message, check)
            if result.reason in _SIGNED:
                return result
        return bad(self.name, f"{TOKEN_HEADER} does not match the secret")

    def _standard(self, message: Message, check: Check) -> Verification:
        result = STANDARD_WEBHOOKS.verify(message, check)
        return replace(
            result, scheme=self.name, detail=f"Standard Webhooks signature: {result.detail}"
        )


GITLAB = GitLab()
