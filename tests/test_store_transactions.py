"""How the store's transactions begin on SQLite: a writer takes the write lock at once, a reader
reads one snapshot, and code outside the store (migrations, bulk inserts through ``store.engine``)
gets the writer's kind of transaction too. The store says BEGIN itself (no engine event listener,
which would cost SQLAlchemy's event dispatch on every statement)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from agent_graph.store import CaseStore
from agent_graph.store.schema import cases

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CaseStore]:
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.db'}")
    yield store
    store.close()


def other_writer_can_begin(store: CaseStore) -> bool:
    """Whether another connection could take the database's write lock right now."""
    path = store.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


def test_a_write_unit_takes_the_write_lock_before_its_first_statement(sqlite_store):
    assert other_writer_can_begin(sqlite_store)
    with sqlite_store.unit_of_work():
        assert not other_writer_can_begin(sqlite_store)
    assert other_writer_can_begin(sqlite_store)


def test_a_read_unit_takes_no_write_lock_and_reads_one_snapshot(sqlite_store):
    case = sqlite_store.open_case(lob="orders", customer_email="r@example.net", customer_name=None,
                                  title="before", at=T0)
    with sqlite_store.unit_of_work(read_only=True):
        assert [c.title for c in sqlite_store.list_cases()] == ["before"]
        assert other_writer_can_begin(sqlite_store)
        path = sqlite_store.engine.url.database
        assert path is not None
        with sqlite3.connect(path) as other:  # another writer commits meanwhile
            other.execute("UPDATE cases SET title = 'after' WHERE id = ?", (case.id,))
        assert [c.title for c in sqlite_store.list_cases()] == ["before"]
    assert [c.title for c in sqlite_store.list_cases()] == ["after"]


def test_transactions_on_the_public_engine_take_the_write_lock_too(sqlite_store):
    with sqlite_store.engine.begin() as connection:
        assert not other_writer_can_begin(sqlite_store)
        connection.execute(select(cases.c.id)).all()
    with sqlite_store.engine.connect() as connection:
        connection.execute(update(cases).values(title="x"))
        assert not other_writer_can_begin(sqlite_store)
        connection.rollback()
