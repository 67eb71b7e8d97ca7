"""``whrelay list``: filters, the table, NDJSON, limits, bytes that are not UTF-8."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.captures import SECOND, T0, capture
from tests.helpers.commands import assert_clean_error, err, ok, out, seed
from tests.helpers.processes import run_whrelay
from whrelay.core.errors import ExitCode
from whrelay.core.models import Capture, RawHeaders
from whrelay.storage import Store

STRIPE_JSON: RawHeaders = (
    (b"Content-Type", b"application/json"),
    (b"Stripe-Signature", b"t=1,v1=abc"),
)


def list_json(db: Path, *args: str) -> list[dict[str, object]]:
    result = ok("list", "--json", "--db", str(db), *args)
    return [json.loads(line) for line in result.stdout.splitlines()]


LONG_PATH = "/webhooks/stripe/account/acct_1234567890/events/" + "very/long/" * 6 + "end"

NOT_UTF8 = os.fsdecode(b"\xff\xfe")
"""What ``$'\\xff\\xfe'`` on a command line arrives as: lone surrogates standing for the bytes."""


def test_list_before_any_database_says_so_and_creates_nothing(isolated_env: Path) -> None:
    result = run_whrelay("list")
    line = assert_clean_error(result, (ExitCode.UNAVAILABLE,))
    assert line == f"whrelay: error: there is no database at {isolated_env / 'whrelay.db'}"
    assert "whrelay listen' creates it" in err(result)
    assert not isolated_env.exists()  # a reader never creates a database (or its folder)


def test_list_on_an_empty_database_says_nothing_matches(tmp_path: Path) -> None:
    Store(tmp_path / "empty.db").close()
    result = ok("list", "--db", str(tmp_path / "empty.db"))
    assert result.stdout == b""
    assert "No webhooks match" in err(result)


def test_list_json_on_an_empty_database_prints_nothing(isolated_env: Path) -> None:
    Store(isolated_env / "whrelay.db").close()
    result = ok("list", "--json")
    assert result.stdout == b""


def test_list_json_is_ndjson_with_the_summary_fields(history: Path) -> None:
    rows = list_json(history)
    assert [r["id"] for r in rows] == [5, 4, 3, 2, 1]
    required = {
        "id",
        "received_at",
        "method",
        "path",
        "query",
        "provider",
        "event_type",
        "provider_id",
        "size",
    }
    for row in rows:
        assert required <= row.keys()
    oldest = rows[-1]
    assert oldest["received_at"] == "2026-11-18T11:06:40.000000Z"
    assert (oldest["method"], oldest["path"], oldest["query"]) == (
        "POST",
        "/hooks/stripe",
        "acct=1",
    )
    assert (oldest["provider"], oldest["event_type"], oldest["provider_id"]) == (
        "stripe",
        "charge.succeeded",
        "evt_1",
    )
    assert oldest["size"] == len(b'{"id": "evt_1", "type": "charge.succeeded"}')
    assert rows[2]["size"] == 0
    assert rows[2]["provider"] is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--provider", "stripe"), [5, 1]),
        (("--method", "post"), [5, 2, 1]),
        (("--method", "GET"), [3]),
        (("--path", "/hooks/*"), [5, 4, 2, 1]),
        (("--search", "evt_2"), [5]),
        (("--search", "needle"), [4]),
        (("--search", "github"), [2]),
        (("--since", "2026-11-18T11:06:42Z"), [5, 4, 3]),
        (("--since", "2026-11-18T11:06:42"), [5, 4, 3]),
        (("--since", "2026-11-18T12:06:42+01:00"), [5, 4, 3]),
        (("--since", "1h"), []),
        (("--limit", "2"), [5, 4]),
        (("--limit", "0"), [5, 4, 3, 2, 1]),
        (("--provider", "stripe", "--since", "2026-11-18T11:06:41Z"), [5]),
        (("--event", "invoice.paid"), [5]),
        (("--event", "invoice"), []),
        (("--event", "charge.*"), [1]),
        (("--event", "push"), [2]),
        (("--event", "*"), [5, 2, 1]),
    ],
)
def test_list_filters_through_the_cli(
    history: Path, args: tuple[str, ...], expected: list[int]
) -> None:
    assert [r["id"] for r in list_json(history, *args)] == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--event", "charge.*"), [1]),
        (("--event", "invoice.paid", "--provider", "stripe"), [5]),
        (("--search", "needle", "--method", "put"), [4]),
        (("--method", "GET"), [3]),
    ],
)
def test_replay_and_export_select_as_list_does(
    history: Path, args: tuple[str, ...], expected: list[int]
) -> None:
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        replayed = run_whrelay("replay", *args, "--to", str(target.port), "--db", str(history))
        assert len(target.requests) == len(expected)
    assert replayed.returncode == 0, err(replayed)
    sent = [json.loads(line)["id"] for line in out(
        ok("replay", *args, "--to", "9", "--dry-run", "--json", "--db", str(history))
    ).splitlines()]  # fmt: skip
    assert sent == expected[::-1]  # oldest first
    exported = ok("export", *args, "--db", str(history))
    assert [json.loads(line)["id"] for line in out(exported).splitlines()] == expected[::-1]
    assert sent == [row["id"] for row in list_json(history, *args)][::-1]


def test_list_table(history: Path) -> None:
    result = ok("list", "--db", str(history))
    lines = out(result).splitlines()
    assert lines[0].split()[:3] == ["ID", "RECEIVED", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == ["5", "4", "3", "2", "1"]
    assert "/hooks/stripe?acct=1" in lines[-1]
    assert "charge.succeeded" in lines[-1]
    assert "2026-11-18 11:06:40" in lines[-1]


def test_list_piped_keeps_every_row_whole(tmp_path: Path) -> None:
    db = tmp_path / "long.db"
    seed(db, capture(LONG_PATH, headers=STRIPE_JSON, body=b'{"type": "payment_intent.ok"}'))
    lines = out(ok("list", "--db", str(db))).splitlines()
    assert lines[0].split() == [
        "ID", "RECEIVED", "(UTC)", "METHOD", "PATH", "EVENT", "SIZE", "SIGNATURE", "DELIVERY"
    ]  # fmt: skip
    assert lines[1].split()[0] == "1"
    assert LONG_PATH in lines[1]
    assert "stripe/payment_intent.ok" in lines[1]


def test_list_search_for_bytes_that_are_not_utf8_finds_them_in_bodies(tmp_path: Path) -> None:
    """The store is byte-exact, so a search is too: what was typed (here not UTF-8) is
    looked for as the bytes it is, in the body as received."""
    db = tmp_path / "bytes.db"
    seed(
        db,
        capture("/a", body=b"\x00\xff\xfe\x01"),
        capture("/b", body=b"\xff \xfe"),
        capture("/c", body="ÿþ".encode()),  # the same characters, as UTF-8
    )
    found = out(ok("list", "--search", NOT_UTF8, "--json", "--db", str(db))).splitlines()
    assert [json.loads(row)["path"] for row in found] == ["/a"]
    utf8 = out(ok("list", "--search", "ÿþ", "--json", "--db", str(db))).splitlines()
    assert [json.loads(row)["path"] for row in utf8] == ["/c"]


def test_list_path_and_method_that_are_not_utf8(history: Path) -> None:
    """A path glob of other bytes matches none (received paths are ASCII); a method that is
    not an HTTP token is bad input."""
    result = ok("list", "--path", "/" + NOT_UTF8 + "*", "--db", str(history))
    assert result.stdout == b""
    assert b"No webhooks match" in result.stderr
    line = assert_clean_error(run_whrelay("list", "--method", NOT_UTF8, "--db", str(history)))
    assert line == "whrelay: error: --method '\\udcff\\udcfe' is not an HTTP method"
    line = assert_clean_error(run_whrelay("list", "--method", "PO ST", "--db", str(history)))
    assert "is not an HTTP method" in line
    replayed = run_whrelay("replay", "--since", "1h", "--path", NOT_UTF8, "--db", str(history))
    assert replayed.returncode == ExitCode.OK, err(replayed)
    assert b"No webhooks match" in replayed.stderr


def test_list_says_when_it_stopped_at_the_limit(history: Path) -> None:
    cut = ok("list", "--limit", "2", "--db", str(history))
    assert [line.split()[0] for line in out(cut).splitlines()[1:]] == ["5", "4"]
    assert "(the newest 2; --limit 0 lists them all)" in err(cut)
    whole = ok("list", "--limit", "0", "--db", str(history))
    assert "--limit 0" not in err(whole)
    assert ok("list", "--limit", "5", "--json", "--db", str(history)).stderr == b""


def test_list_piped_keeps_the_id_beside_a_path_of_8_kb(tmp_path: Path) -> None:
    db = tmp_path / "huge.db"
    path = "/" + "p" * 8000
    seed(db, capture(path, headers=STRIPE_JSON, body=b'{"type": "x.y"}'), capture("/short"))
    lines = out(ok("list", "--db", str(db))).splitlines()
    assert lines[0].split()[:1] == ["ID"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    assert path in lines[2]


def test_list_checks_the_provider_and_hints_at_a_path_without_slash(history: Path) -> None:
    unknown = run_whrelay("list", "--provider", "nonsense", "--db", str(history))
    assert unknown.returncode == ExitCode.USAGE
    assert "unknown provider 'nonsense'" in err(unknown)
    assert "stripe" in err(unknown)
    upper = ok("list", "--provider", "Stripe", "--json", "--db", str(history))
    assert [json.loads(line)["id"] for line in upper.stdout.splitlines()] == [5, 1]
    slashless = ok("list", "--path", "hooks/*", "--db", str(history))
    assert "hint: paths start with '/': --path '/hooks/*'" in err(slashless)


def test_list_notes_the_limit_only_when_it_cut_something_off(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    from whrelay.storage import Store

    with Store(db) as store:
        store.insert_webhooks(
            [
                Capture("POST", f"/p{i}", "q=%1b", (), b"body", "1.1", None, 1_700_000_000 + i)
                for i in range(3)
            ]
        )
    exactly = run_whrelay("list", "--limit", "3", "--db", str(db))
    assert b"--limit 0" not in exactly.stderr
    fewer = run_whrelay("list", "--limit", "2", "--db", str(db))
    assert b"(the newest 2; --limit 0 lists them all)" in fewer.stderr
    found = run_whrelay("list", "--search", "q=%1b", "--json", "--db", str(db))
    assert len(found.stdout.splitlines()) == 3  # the query is searched too


def _forwarded(store: Store, answers_by_target: list[tuple[list[int | None], str]]) -> int:
    """A webhook with a delivery per item: the answers of its attempts (a status, or ``None``
    for a refused connection), then the delivery's state. Its id."""
    import sqlite3

    from whrelay.core.models import Attempt, DeliveryState, Trigger
    from whrelay.storage.store import record_attempt

    targets = [f"http://127.0.0.1:{9 + n}" for n in range(len(answers_by_target))]
    [summary] = store.insert_webhooks([capture()], [targets])

    def settle(db: sqlite3.Connection) -> None:
        deliveries = store.deliveries(summary.id)
        for delivery, (answers, state) in zip(deliveries, answers_by_target, strict=True):
            for n, status in enumerate(answers, 1):
                trigger = Trigger.FIRST if n == 1 else Trigger.RETRY
                error = None if status else "refused"
                attempt = Attempt(
                    summary.id,
                    delivery.id,
                    trigger,
                    delivery.target,
                    (),
                    T0 + n,
                    1,
                    status,
                    error=error,
                )
                due = T0 + 60 * SECOND if state == "pending" else None
                now_state = DeliveryState(state if n == len(answers) else "pending")
                record_attempt(db, attempt, state=now_state, next_attempt_at=due, now_us=T0 + n)

    store.run(settle)
    return summary.id


def test_a_webhook_s_delivery_status_is_the_same_in_list_show_and_the_tui(tmp_path: Path) -> None:
    """One order of states and one last answer for each: the error of a last attempt that got
    no answer, not an earlier attempt's status."""
    import re

    from whrelay.tui import adapter
    from whrelay.tui.history import delivery_cell

    db = tmp_path / "states.db"
    expected: dict[int, tuple[str, bool]] = {}
    cases: list[tuple[list[tuple[list[int | None], str]], str]] = [
        ([([200], "delivered")], "delivered 200"),
        ([([503], "pending")], "pending 503"),
        ([([500, None], "failed")], "failed refused"),
        ([([None, None], "failed")], "failed refused"),
        ([([500], "cancelled")], "cancelled 500"),
        ([([500], "cancelled"), ([None], "pending")], "pending refused"),
        ([([200], "delivered"), ([500], "failed")], "failed 500"),
        ([], "-"),
    ]
    with Store(db) as store:
        for answers, shown in cases:
            webhook_id = _forwarded(store, answers) if answers else seed(db, capture())[0].id
            expected[webhook_id] = (shown, len(answers) == 1)
    listed = {}
    for row in list_json(db):
        state, answer = row["delivery_state"], row["delivery_answer"]
        listed[row["id"]] = "-" if state is None else f"{state} {answer}" if answer else state
    with Store(db, readonly=True) as store:
        tui = {row.id: delivery_cell(row)[0] for row in adapter.rows(store, None, "older", 50)}
    assert listed == tui == {webhook_id: shown for webhook_id, (shown, _) in expected.items()}
    line = re.compile(r"^(\w+) +\S+  \d+ attempt\(s\)(?:  last (?:status|error) (\S+))?", re.M)
    for webhook_id, (shown, one_delivery) in expected.items():
        deliveries = line.findall(out(ok("show", str(webhook_id), "--db", str(db))))
        said = {f"{state} {answer}" if answer else state for state, answer in deliveries}
        assert shown in said or (shown == "-" and not deliveries), (webhook_id, said)
        assert len(said) == 1 or not one_delivery
