"""``listen``'s options as typed, checked and built into ``ListenSettings``
(``whrelay.receiver.settings``), without a process or a socket. The same mistakes made on
the command line are in ``test_cli*.py`` and ``test_listen_signatures.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.rawserver import self_signed
from whrelay.core import paths
from whrelay.core.config import ListenSettings
from whrelay.core.errors import UsageError
from whrelay.core.targets import parse_target
from whrelay.receiver.settings import ListenOptions, listen_settings

SECRET = "whsec_listenSettingsSecret0123"


def test_the_options_defaults_build_the_settings_defaults() -> None:
    """What ``listen`` runs with when nothing is typed is what ``ListenSettings`` documents."""
    assert listen_settings(ListenOptions()) == ListenSettings(db_path=paths.db_path(None))


def test_typed_values_are_parsed_and_provider_names_normalized(tmp_path: Path) -> None:
    settings = listen_settings(
        ListenOptions(
            db=tmp_path / "h.db",
            port=0,
            durability="normal",
            max_body="1MiB",
            body_budget="8MiB",
            idle_timeout="1m",
            read_timeout="0",
            forward=("3000", ":4000/hooks"),
            routes=("/stripe/*=5000,provider=Stripe",),
            mode="proxy",
            timeout="0",
            headers=("X-Env: dev",),
            retry_schedule="0,1,5",
            retry_window="2h",
            provider="STANDARD_WEBHOOKS",
            secrets=(SECRET,),
            public_url="https://abc.example",
            reject_invalid=True,
            resign=True,
        )
    )
    assert (settings.db_path, settings.port, settings.durability) == (
        tmp_path / "h.db",
        0,
        "normal",
    )
    assert (settings.max_body, settings.body_budget) == (1 << 20, 8 << 20)
    assert (settings.idle_timeout, settings.read_timeout, settings.forward_timeout) == (60, 0, 0)
    assert settings.mode == "proxy"
    forward = settings.forward
    assert forward.targets == (parse_target("3000"), parse_target(":4000/hooks"))
    assert [(r.pattern, r.provider) for r in forward.routes] == [("/stripe/*", "stripe")]
    assert forward.extra_headers == (("X-Env", "dev"),)
    assert (forward.policy.schedule, forward.policy.window) == ((0, 1, 5), 7200)
    verify = settings.verify
    assert (verify.provider, verify.secrets) == ("standard-webhooks", (SECRET,))
    assert (verify.public_url, verify.reject_invalid, verify.resign) == (
        "https://abc.example",
        True,
        True,
    )


def test_secrets_are_read_from_the_environment_variables_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LISTEN_SECRET", SECRET)
    settings = listen_settings(ListenOptions(secret_envs=("LISTEN_SECRET",)))
    assert settings.verify.secrets == (SECRET,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ListenOptions(secret_envs=("WHRELAY_TEST_UNSET",)), "WHRELAY_TEST_UNSET is not set"),
        (ListenOptions(provider="nosuch"), "unknown provider 'nosuch'"),
        (ListenOptions(routes=("/x",)), "is not GLOB=TARGET"),
        (ListenOptions(resign=True), "--resign needs a secret"),
        (ListenOptions(reject_invalid=True), "--reject-invalid needs a secret"),
        (ListenOptions(forward=("",)), "empty target"),
        (ListenOptions(host="a" * 64), "--host"),
        (ListenOptions(port=70000), "--port 70000 is not a TCP port"),
        (ListenOptions(durability="fast"), "--durability 'fast' is not one of the choices"),
        (ListenOptions(max_body="0"), "--max-body must be at least 1 byte"),
        (ListenOptions(max_body="1MiB", body_budget="512k"), "--body-budget must be at least"),
        (ListenOptions(read_timeout="soon"), "not a duration: 'soon'"),
        (ListenOptions(mode="mirror"), "--mode 'mirror' is not one of the choices"),
        (ListenOptions(public_url="abc.example"), "--public-url 'abc.example' is not"),
        (ListenOptions(mode="proxy"), "--mode proxy needs a target"),
        (ListenOptions(retry_schedule=" , "), "--retry-schedule needs at least one delay"),
        (ListenOptions(retry_schedule="1,0"), "the last delay repeats"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_mistake_is_a_usage_error_naming_the_option(
    options: ListenOptions, message: str
) -> None:
    with pytest.raises(UsageError) as raised:
        listen_settings(options)
    assert message in raised.value.message


def test_a_named_database_needs_its_folder_but_the_default_one_does_not(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist") as raised:
        listen_settings(ListenOptions(db=tmp_path / "typo" / "h.db"))
    assert raised.value.hint is not None and "mkdir -p" in raised.value.hint
    default = listen_settings(ListenOptions())
    assert not default.db_path.parent.exists()  # created by the store, when it opens


def test_the_secrets_are_checked_before_the_rest() -> None:
    """Precedence, as listen always had it: a secret that cannot work is named first."""
    wrong = ListenOptions(
        mode="proxy", max_body="0", provider="standard-webhooks", secrets=("whsec_not base64!",)
    )
    with pytest.raises(UsageError, match="cannot be a standard-webhooks key"):
        listen_settings(wrong)


def test_insecure_leaves_every_https_target_unverified_and_a_ca_file_is_checked(
    tmp_path: Path,
) -> None:
    """``--insecure`` marks each https target, a route's too (an http one has nothing to
    verify); ``--ca-file`` must hold a PEM certificate, and is kept as an absolute path."""
    self_signed(tmp_path)
    settings = listen_settings(
        ListenOptions(
            forward=("https://127.0.0.1:3443", "3000"),
            routes=("/r/*=https://localhost:4443",),
            insecure=True,
            ca_file=str(tmp_path / "cert.pem"),
        )
    )
    forward = settings.forward
    assert [(t.url, t.insecure) for t in forward.all_targets] == [
        ("https://127.0.0.1:3443", True),
        ("http://127.0.0.1:3000", False),
        ("https://localhost:4443", True),
    ]
    assert forward.insecure  # kept: listen --tui leaves a target typed in unverified too
    assert settings.ca_file == tmp_path / "cert.pem"
    alone = listen_settings(
        ListenOptions(forward=("https://127.0.0.1:3443,insecure", "https://localhost:4443"))
    )
    assert [t.insecure for t in alone.forward.targets] == [True, False]
    assert not alone.forward.insecure
    assert alone.ca_file is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ListenOptions(
                forward=("https://127.0.0.1:3443",), routes=("/r=https://127.0.0.1:3443,insecure",)
            ),
            "given both with and without ',insecure'",
        ),
        (ListenOptions(forward=("3000,insecure",)), "only an https target"),
        (ListenOptions(ca_file="no-such.pem"), "--ca-file no-such.pem: no such file"),
        (ListenOptions(ca_file=__file__), "holds no PEM certificate"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_tls_mistakes_are_usage_errors(options: ListenOptions, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        listen_settings(options)
    assert message in raised.value.message
