"""One bad email never stops the others: decoding, the quarantine, `status`, huge bodies."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from agent_graph.intake import MAX_BODY_CHARS
from agent_graph.mailroom import BODY_CUT
from agent_graph.store import CaseStore
from agent_graph.timeline import case_timeline
from tests.conftest import REPO, email
from tests.later_migrations import undo_later_migrations

CLI = [sys.executable, "-m", "agent_graph.cli"]
POISON_SENDER = "poison@customer.example"
RETURN = "Hello, I want to return the bike I bought, order TB-1234, it is too big for me. Robin"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def poison_the_store(path: Path) -> None:
    """A real database failure while an email is stored: SQLite refuses its message row."""
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.from_address = '{POISON_SENDER}' "
                           "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")


def test_a_failing_email_is_quarantined_whole_and_the_next_one_is_processed(make_agent, store: CaseStore,
                                                                           tmp_path: Path):
    agent = make_agent()
    poison_the_store(tmp_path / "cases.db")
    raw = email(RETURN, subject="Return", sender=f"Pat <{POISON_SENDER}>", n=1)

    failed = agent.take_in(raw, "inbox/1.eml")
    after = agent.take_in(email(RETURN, subject="Return", n=2), "inbox/2.eml")

    assert failed.quarantined is not None and failed.case_id is None
    entry = store.quarantined_email(failed.quarantined)
    assert entry is not None and entry.raw == raw and entry.source == "inbox/1.eml" and "poisoned row" in entry.error
    assert [case.customer_email for case in store.list_cases()] == ["robin@example.net"]  # the case opened rolled back
    assert store.message_by_header("m1@customer.example") is None
    assert all(item.to_address != POISON_SENDER for item in store.outbox())
    assert after.case_number == "CAS-000001" and after.quarantined is None  # the number of the rolled-back case


def test_an_email_whose_run_fails_is_quarantined_and_retried_without_recovery_repeating_it(
        make_agent, store: CaseStore, tmp_path: Path):
    agent = make_agent()
    with sqlite3.connect(tmp_path / "cases.db") as connection:  # the reply cannot be drafted: the run fails
        connection.execute("CREATE TRIGGER poison BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'no drafts'); END")
    raw = email(RETURN, subject="Return")

    failed = agent.take_in(raw, "inbox/1.eml")

    assert failed.quarantined is not None and "no drafts" in store.quarantined_email(failed.quarantined).error
    assert store.outbox() == [] and store.unfinished_runs() == [] and agent.recover() == []
    with sqlite3.connect(tmp_path / "cases.db") as connection:
        connection.execute("DROP TRIGGER poison")
    retried = agent.take_in(raw, "inbox/1.eml")
    assert retried.quarantined is None and retried.outcome.outbound == "sent"
    assert [item.to_address for item in store.outbox()] == ["robin@example.net"] and store.quarantined() == []


def test_the_same_email_quarantined_twice_is_one_row(make_agent, store: CaseStore):
    agent = make_agent()
    first = agent.take_in(b"not an email at all", "a.eml")
    second = agent.take_in(b"not an email at all", "b.eml")
    assert first.quarantined == second.quarantined
    (entry,) = store.quarantined()
    assert entry.attempts == 2 and entry.source == "b.eml" and entry.error.startswith("EmailParseError: not an email")


def test_an_email_processed_after_all_leaves_the_quarantine(make_agent, store: CaseStore, clock):
    raw = email(RETURN, subject="Return")
    store.quarantine(raw, "inbox/1.eml", "OperationalError: database is locked", clock.now())
    result = make_agent().take_in(raw, "inbox/1.eml")
    assert result.case_number == "CAS-000001" and result.quarantined is None
    assert store.quarantined() == []


def test_a_body_cut_to_the_cap_is_on_the_case(make_agent, store: CaseStore):
    result = make_agent().process_email(email(RETURN + "\n" + "x" * (MAX_BODY_CHARS + 1), subject="Return"))
    (message,) = store.customer_messages(result.case_id)
    assert len(message.body_text) == MAX_BODY_CHARS
    cut = [entry for entry in case_timeline(store, result.case_id) if entry.what == BODY_CUT]
    assert len(cut) == 1 and f"only the first {MAX_BODY_CHARS:,}" in cut[0].detail


def test_old_database_without_the_quarantine_table_still_opens(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    CaseStore(url).close()
    with sqlite3.connect(tmp_path / "old.db") as connection:
        connection.execute("DROP TABLE quarantine")
        connection.execute("DROP TABLE alembic_version")  # made before migrations
        undo_later_migrations(connection.execute)
    reopened = CaseStore(url)
    assert reopened.count_quarantined() == 0 and reopened.count_cases() == 0
    reopened.close()


def test_process_goes_on_past_bad_emails_and_quarantine_commands(tmp_path: Path):
    db_path = tmp_path / "cli.db"
    db = f"sqlite:///{db_path}"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "1.eml").write_bytes(email(RETURN, subject="Return", n=1))
    (inbox / "2.eml").write_bytes(email(RETURN, subject="Return", n=2, sender="Kim <kim@example.net>")
                                  .replace(b"m2@customer.example", b"m2\xe9\xff@customer.example")
                                  .replace(b"Subject: Return", b"Subject: R\xfcckgabe"))
    (inbox / "3.eml").write_text("this is not an email at all")
    (inbox / "4.eml").write_bytes(b"\xef\xbb\xbf" + email(RETURN, subject="Return", n=4, sender="Sam <sam@example.net>"))
    (inbox / "5.eml").write_bytes(email(RETURN, subject="Return", n=5, sender=f"Pat <{POISON_SENDER}>"))
    CaseStore(db).close()  # creates the store
    poison_the_store(db_path)

    processed = run("process", str(inbox), "--db", db)
    assert processed.returncode == 0, processed.stderr
    assert "3 processed, 2 quarantined" in processed.stdout
    assert "Traceback" not in processed.stderr and "3.eml" in processed.stderr and "5.eml" in processed.stderr
    listed = run("quarantine", "list", "--db", db)
    assert "3.eml" in listed.stdout and "5.eml" in listed.stdout and "poisoned row" in listed.stdout
    status = run("status", "--db", db)
    assert "cases: 3" in status.stdout and "quarantined emails: 2" in status.stdout

    with sqlite3.connect(db_path) as connection:
        connection.execute("DROP TRIGGER poison")
    retried = run("quarantine", "retry", "--all", "--db", db)
    assert "1 processed, 1 still quarantined" in retried.stdout
    (left,) = CaseStore(db).quarantined()
    shown = run("quarantine", "show", str(left.id), "--db", db)
    assert "this is not an email at all" in shown.stdout and "EmailParseError" in shown.stdout
    assert run("quarantine", "drop", str(left.id), "--db", db).returncode == 0
    assert CaseStore(db).count_quarantined() == 0
