"""Schema migrations (Alembic), on SQLite and on PostgreSQL: a new database is made at the newest
revision and equals the schema; a database made before migrations is upgraded with its rows; a
database of a newer release is refused untouched; ``case-agent migrate`` says what it did, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from agent_graph.cli import app
from agent_graph.context import Context
from agent_graph.domain import Action, OutboxStatus
from agent_graph.errors import StoreUnavailable
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore, NewOutboxItem
from agent_graph.store.migration import MIGRATIONS, Before, current_revision, head
from agent_graph.store.schema import metadata
from tests.conftest import REPO, T0, email
from tests.later_migrations import undo_later_migrations

pytestmark = pytest.mark.both_databases

BEFORE_MIGRATIONS = REPO / "tests/fixtures/store-before-migrations.sql"
"""A database the release before migrations made (``sqlite3 .dump``): two cases, one of them with a
draft waiting for review, and a quarantined email."""

ADDED_AFTER_THE_FIRST_RELEASE = [("messages", "sender_doubt"), ("messages", "claimed_by"),
                                 ("messages", "claim_expires_at"), ("active_runs", "owner"),
                                 ("active_runs", "lease_until"), ("outbox", "delivered_at"), ("outbox", "attempts"),
                                 ("outbox", "next_attempt_at"), ("outbox", "delivery_error"), ("cases", "language")]

def _migrate(db: str) -> str:
    result = CliRunner().invoke(app, ["migrate", "--db", db])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _as_the_first_release_made_it(connection: Connection) -> None:
    """No version table, nor the tables, columns and indexes added since the first release."""
    connection.execute(text("DROP TABLE alembic_version"))
    connection.execute(text("DROP TABLE quarantine"))
    connection.execute(text("DROP INDEX ix_outbox_delivery"))
    undo_later_migrations(lambda sql: connection.execute(text(sql)))
    for table, column in ADDED_AFTER_THE_FIRST_RELEASE:
        connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))


def test_the_head_the_store_knows_is_alembics_head():
    """migration.HEAD lets a database at the newest revision open without importing Alembic: it must be
    what Alembic reads from the migration files (a new migration without a new HEAD fails here)."""
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(MIGRATIONS)).get_heads() == [head()]


def test_a_new_database_is_made_at_the_newest_revision_and_equals_the_schema(db_url: str):
    store = CaseStore(db_url)
    assert store.migration.before is Before.NEW and store.migration.to_revision == head()
    with store.engine.connect() as connection:
        assert current_revision(connection) == head()
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    store.close()
    assert f"at revision {head()}, the newest: nothing to do" in _migrate(db_url)


def test_a_database_of_the_first_release_is_upgraded_with_its_rows(db_url: str, catalog, clock):
    store = CaseStore(db_url)
    agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock))
    first = agent.process_email(email("I want to return the bike I bought, my order is TB-1234.", subject="Return"))
    assert first.outcome.action is Action.SEND_RESOLUTION
    draft = store.add_outbox(NewOutboxItem(
        case_id=first.case_id, idempotency_key="k-draft", action=Action.FOLLOW_UP, purpose="follow_up",
        template_id=None, to_address="robin@example.net", subject="Still there?", body="…",
        status=OutboxStatus.PENDING_REVIEW, status_after_send="awaiting_customer", in_reply_to=None,
        message_id="draft@tidewater.example", created_at=T0))
    with store.engine.begin() as connection:
        _as_the_first_release_made_it(connection)
    store.close()

    printed = _migrate(db_url)
    assert "brought a case database made before migrations to the baseline, keeping its rows" in printed
    reopened = CaseStore(db_url)
    assert reopened.migration.before is Before.VERSIONED and not reopened.migration.changed
    (sent,) = [item for item in reopened.outbox(first.case_id) if item.status == OutboxStatus.SENT]
    assert sent.delivered_at == sent.sent_at  # sent before delivery was a step: not sent again by `run`
    assert reopened.outbox_item(draft.id).delivered_at is None
    assert reopened.count_cases() == 1 and len(reopened.messages(first.case_id)) == 2
    assert reopened.count_quarantined() == 0  # the table is back
    with reopened.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    again = CaseAgent(Context(catalog=catalog, store=reopened, clock=clock)).process_email(
        email("Thanks, and when will my other bike be delivered? Order TB-2222.", subject="Delivery", n=2,
              sender="Ann Lee <ann@example.org>"))
    assert again.case_number == "CAS-000002" and reopened.message(3).claimed_by is not None
    reopened.close()


def test_a_database_of_a_newer_release_is_refused_untouched(db_url: str):
    store = CaseStore(db_url)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    store.close()
    with pytest.raises(StoreUnavailable, match="revision '0999', which this release of case-agent does not know"):
        CaseStore(db_url)
    refused = CliRunner().invoke(app, ["migrate", "--db", db_url])
    assert refused.exit_code == 2 and "upgraded by a newer release" in " ".join(refused.output.split())


def test_the_database_the_release_before_migrations_made_is_upgraded(tmp_path: Path, catalog, clock):
    path = tmp_path / "old.db"
    db_url = f"sqlite:///{path}"
    with sqlite3.connect(path) as old:
        old.executescript(BEFORE_MIGRATIONS.read_text())
    assert "made before migrations" in _migrate(db_url)
    assert "nothing to do" in _migrate(db_url)
    store = CaseStore(db_url)
    assert [case.status for case in store.list_cases()] == ["resolution_proposed", "pending_review"]
    assert [draft.case_id for draft in store.pending_drafts()] == [2] and len(store.quarantined()) == 1
    reply = CaseAgent(Context(catalog=catalog, store=store, clock=clock)).process_email(
        email("Thanks, that works for me.", subject="Re: Return", n=3, in_reply_to="m1@customer.example"))
    assert reply.case_number == "CAS-000001"
    store.close()
