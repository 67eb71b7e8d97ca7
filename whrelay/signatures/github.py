"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.

The legacy ``X-Hub-Signature: sha1=<hex>`` is checked when the SHA-256 header is absent. No
timestamp: GitHub's defence against replays is the ``X-GitHub-Delivery`` id alone. The whole
header value is compared, so upper-case hex does not pass (as in GitHub's own examples).
"""

from __future__ import annotations

from dataclasses import dataclass

from whrelay.identify.facts import Identification
from whrelay.signatures.base import (
    Check,
    Message,
    Secret,
    Verification,
    bad,
    encoding_problem,
    mac,
    malformed,
    missing,
    ok,
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import Example

SHA256_HEADER = "X-Hub-Signature-256"
SHA1_HEADER = "X-Hub-Signature"


IDENTIFICATION = Identification(
    headers=("x-github-event", "x-hub-signature-256"),
    event_headers=("x-github-event",),
    subtype_fields=(("action",),),  # issues + opened: issues.opened
    id_headers=("x-github-delivery",),
)
EXAMPLE = Example(
    {
        "zen": "Keep it logically awesome.",
        "hook_id": 1,
        "repository": {"full_name": "octo/whrelay-test"},
    },
    (
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "ping"),
        ("X-GitHub-Delivery", "{uuid}"),
    ),
)


@dataclass(frozen=True, slots=True)
class GitHub:
    name: str = "github"
    signature_headers: tuple[str, ...] = (SHA256_HEADER, SHA1_HEADER)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        key = utf8(secret)
        return message.with_headers(
            [
                (SHA256_HEADER, "sha256=" + mac(key, message.body, "sha256").hex()),
                (SHA1_HEADER, "sha1=" + mac(key, message.body, "sha1").hex()),
            ]
        )

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header, algorithm = message.header(SHA256_HEADER), "sha256"
        if not header:
            header, algorithm = message.header(SHA1_HEADER), "sha1"
        if not header:
            return missing(self.name, SHA256_HEADER)
        if not header.startswith(f"{algorithm}="):
            return malformed(self.name, f"the signature does not start with {algorithm}=")
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        for key in keys:
            expected = f"{algorithm}=" + mac(utf8(key), message.body, algorithm).hex()
            if same(header.strip(), expected):
                note = "" if algorithm == "sha256" else "legacy SHA-1 signature matches"
                return ok(self.name, detail=note)
        value = header.strip().removeprefix(f"{algorithm}=")
        size = 32 if algorithm == "sha256" else 20
        return bad(
            self.name, hints=[encoding_problem(value, "hex", size, "GitHub", lower_case=True)]
        )


GITHUB = GitHub()
