"""``whrelay/core/targets.py``: parsing targets and routes, the loopback policy."""

from __future__ import annotations

import pytest

from whrelay.core.errors import UsageError
from whrelay.core.targets import (
    Route,
    Target,
    check_insecure_agree,
    check_target,
    is_loopback,
    parse_route,
    parse_route_spec,
    parse_target,
    route,
    unverified,
)

# --- parse_target ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url", "scheme", "host", "port", "path", "query"),
    [
        ("3000", "http://127.0.0.1:3000", "http", "127.0.0.1", 3000, "", ""),
        (" 3000 ", "http://127.0.0.1:3000", "http", "127.0.0.1", 3000, "", ""),
        (":3000/hooks", "http://127.0.0.1:3000/hooks", "http", "127.0.0.1", 3000, "/hooks", ""),
        ("/hooks", "http://127.0.0.1:3000/hooks", "http", "127.0.0.1", 3000, "/hooks", ""),
        ("http://localhost:4000", "http://localhost:4000", "http", "localhost", 4000, "", ""),
        ("http://localhost:4000/", "http://localhost:4000", "http", "localhost", 4000, "", ""),
        ("localhost:5000", "http://localhost:5000", "http", "localhost", 5000, "", ""),
        ("http://localhost", "http://localhost:80", "http", "localhost", 80, "", ""),
        (
            "localhost:5000/in?a=1",
            "http://localhost:5000/in?a=1",
            "http",
            "localhost",
            5000,
            "/in",
            "a=1",
        ),
        ("[::1]:3000", "http://[::1]:3000", "http", "::1", 3000, "", ""),
        (
            "https://example.com/x?y=1",
            "https://example.com:443/x?y=1",
            "https",
            "example.com",
            443,
            "/x",
            "y=1",
        ),
        (
            "https://example.com:8443/in",
            "https://example.com:8443/in",
            "https",
            "example.com",
            8443,
            "/in",
            "",
        ),
        ("http://[::1]:3000/", "http://[::1]:3000", "http", "::1", 3000, "", ""),
        (
            ":3000/hooks?token=a",
            "http://127.0.0.1:3000/hooks?token=a",
            "http",
            "127.0.0.1",
            3000,
            "/hooks",
            "token=a",
        ),
    ],
)
def test_parse_target(
    text: str, url: str, scheme: str, host: str, port: int, path: str, query: str
) -> None:
    assert parse_target(text) == Target(url, scheme, host, port, path, query)
    assert str(parse_target(text)) == url


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ftp://127.0.0.1:21/x",
        "ws://127.0.0.1:3000",
        "http://",
        "http:///hooks",
        "http://user:secret@127.0.0.1:3000",
        "http://127.0.0.1:99999",
        "99999",
        "http://127.0.0.1:abc",
        ":",
        ":/hooks",
        ":abc",
        "3000:",
        "3000:/hooks",
        "localhost",
        "localhost:",
        "localhost/hooks",
        "localhost:abc",
        "[::1]",
        "a:b:c",
    ],
)
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_target(text)


@pytest.mark.parametrize("text", ["0", ":0/hooks", "http://127.0.0.1:0"])
def test_parse_target_rejects_port_zero(text: str) -> None:
    # Port 0 is not a port one can connect to; it must not silently become port 80.
    with pytest.raises(UsageError):
        parse_target(text)


# --- Target.url_for ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "path", "query", "expected"),
    [
        # No path in the target: the webhook's path and query are appended.
        ("3000", "/a/b", "x=1&y=2", "http://127.0.0.1:3000/a/b?x=1&y=2"),
        ("3000", "/a/b", "", "http://127.0.0.1:3000/a/b"),
        ("3000", "", "", "http://127.0.0.1:3000/"),
        ("3000", "/", "x=1", "http://127.0.0.1:3000/?x=1"),
        ("http://localhost:4000/", "/hook", "", "http://localhost:4000/hook"),
        ("http://[::1]:3000", "/a", "q", "http://[::1]:3000/a?q"),
        # A path in the target: used as given; the webhook's query is appended.
        (":3000/hooks", "/a/b", "x=1", "http://127.0.0.1:3000/hooks?x=1"),
        (":3000/hooks", "/a/b", "", "http://127.0.0.1:3000/hooks"),
        (":3000/hooks?k=v", "/a", "x=1", "http://127.0.0.1:3000/hooks?k=v&x=1"),
        (":3000/hooks?k=v", "/a", "", "http://127.0.0.1:3000/hooks?k=v"),
        ("http://localhost:4000/in/", "/z", "a=%20", "http://localhost:4000/in/?a=%20"),
    ],
)
def test_url_for(target: str, path: str, query: str, expected: str) -> None:
    assert parse_target(target).url_for(path, query) == expected


def test_url_for_keeps_the_query_of_a_target_without_path() -> None:
    # A user who forwards to 'http://127.0.0.1:3000/?token=abc' expects the token to be sent.
    target = parse_target("http://127.0.0.1:3000/?token=abc")
    assert target.query == "token=abc"
    assert target.url_for("/hook", "x=1") == "http://127.0.0.1:3000/hook?token=abc&x=1"


# --- routes ------------------------------------------------------------------------------------


def test_parse_route() -> None:
    assert parse_route("/stripe/*=3000") == Route("/stripe/*", parse_target("3000"))
    assert parse_route(" /gh/* = :4000/hooks ") == Route("/gh/*", parse_target(":4000/hooks"))
    assert parse_route("/x=http://localhost:5000/in").target.url == "http://localhost:5000/in"


@pytest.mark.parametrize("text", ["3000", "/a", "=3000", "/a=", " = ", "/a=ftp://h/x", "/a=   "])
def test_parse_route_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_route(text)


def test_an_https_target_followed_by_insecure_is_not_verified() -> None:
    """``TARGET,insecure`` marks that one target; its URL (and so its deliveries) is the
    target's own, and an http target, which has no certificate, is refused."""
    marked = parse_target(" https://localhost:3443/hooks?a=1 , insecure ")
    assert (marked.url, marked.insecure) == ("https://localhost:3443/hooks?a=1", True)
    assert marked.shown == "https://localhost:3443/hooks?a=1 (certificate not verified)"
    assert not parse_target("https://localhost:3443").insecure
    assert parse_target("https://localhost:3443/a,b").path == "/a,b"  # a comma in a path stays
    assert unverified(parse_target("https://localhost:3443")) == parse_target(
        "https://localhost:3443,insecure"
    )
    assert unverified(parse_target("3000")) == parse_target("3000")  # nothing to verify
    for text in ("3000,insecure", "http://localhost:3000,insecure"):
        with pytest.raises(UsageError, match="only an https target"):
            parse_target(text)


def test_a_route_takes_insecure_as_an_option_of_its_own() -> None:
    """``--route 'GLOB=TARGET,...,insecure'`` (and a route table's ``insecure = true``)."""
    plain = parse_route("/a/*=https://127.0.0.1:3443,provider=github")
    marked = parse_route("/a/*=https://127.0.0.1:3443,provider=github,insecure")
    assert (plain.target.insecure, marked.target.insecure) == (False, True)
    assert marked.provider == "github"
    assert str(parse_route_spec("/a/*=https://127.0.0.1:3443,insecure")) == (
        "/a/*=https://127.0.0.1:3443,insecure"
    )
    with pytest.raises(UsageError, match="only an https target"):
        parse_route("/a/*=3000,insecure")


def test_one_url_given_both_verified_and_not_is_refused() -> None:
    verified, marked = (
        parse_target("https://127.0.0.1:3443"),
        parse_target("https://127.0.0.1:3443,insecure"),
    )
    check_insecure_agree([verified, parse_target("3000"), verified])
    check_insecure_agree([marked, marked])
    with pytest.raises(UsageError, match="both with and without ',insecure'"):
        check_insecure_agree([verified, marked])


def test_route_first_match_wins() -> None:
    a, b, c, default = (parse_target(p) for p in ("3001", "3002", "3003", "3000"))
    routes = (
        Route("/stripe/*", a),
        Route("/stripe/special", b),
        Route("/github/*", c),
    )
    assert route("/stripe/special", routes, (default,)) == (a,)
    assert route("/stripe/x/y", routes, (default,)) == (a,)  # '*' crosses '/'
    assert route("/github/push", routes, (default,)) == (c,)
    assert route("/other", routes, (default,)) == (default,)
    assert route("/Stripe/x", routes, (default,)) == (default,)  # case-sensitive
    assert route("/other", routes, ()) == ()
    fan_out = (default, b)
    assert route("/other", routes, fan_out) == fan_out
    assert route("/anything", (), fan_out) == fan_out


# --- the loopback policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:127.9.9.9", True),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("169.254.169.254", False),
        ("8.8.8.8", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("0.0.0.0", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("128.0.0.1", False),
        ("garbage", False),
        ("", False),
        ("localhost", False),  # a name, not an address: only resolved addresses count
        ("0x7f.1", False),  # not an address literal either; resolution is check_target's job
        ("127.0.0.1.5", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:80",
        "http://192.168.1.1:8080/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:10.0.0.1]:80",
        "http://[::ffff:169.254.169.254]:80",
        "http://0.0.0.0:3000",
        "http://[::]:3000",
        "http://0x0a000001:80",  # 10.0.0.1 in hex: resolves to a private address
        "http://167772161:80",  # 10.0.0.1 as one number
        "https://172.16.0.1",
    ],
)
def test_check_target_refuses_non_loopback(url: str) -> None:
    target = parse_target(url)
    with pytest.raises(UsageError) as caught:
        check_target(target, allow_remote=False)
    assert "--allow-remote" in (caught.value.hint or "")
    check_target(target, allow_remote=True)  # explicitly allowed: no error


@pytest.mark.parametrize(
    "url",
    [
        "3000",
        "http://127.0.0.1:3000",
        "http://127.1.2.3:3000",
        "http://[::1]:3000",
        "http://[::ffff:127.0.0.1]:3000",
        "http://localhost:3000",
        # Odd spellings getaddrinfo resolves to 127.0.0.1: what would be connected to is
        # loopback, so these are allowed.
        "http://0x7f.1:3000",
        "http://2130706433:3000",
        "http://017700000001:3000",
        "http://127.1:3000",
    ],
)
def test_check_target_allows_loopback(url: str) -> None:
    check_target(parse_target(url), allow_remote=False)


def test_check_target_unresolvable_name() -> None:
    with pytest.raises(UsageError):
        check_target(parse_target("http://no-such-host.invalid:3000"), allow_remote=False)
