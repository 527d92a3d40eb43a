"""How the store's transactions begin on SQLite: a writer takes the write lock at once, a reader
reads one snapshot, and code outside the store (migrations, bulk inserts through ``store.engine``)
gets the writer's kind of transaction too. The store says BEGIN itself (no engine event listener,
which would cost SQLAlchemy's event dispatch on every statement), and ends it itself, on a
connection it keeps between its transactions (not the pool's each time)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

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


def committed_titles(store: CaseStore) -> list[str]:
    """The case titles another connection reads (what the store has committed)."""
    path = store.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as other:
        return [title for (title,) in other.execute("SELECT title FROM cases ORDER BY id")]


def test_transactions_keep_one_connection_instead_of_taking_the_pools_each_time(sqlite_store):
    checkouts: list[object] = []
    event.listen(sqlite_store.engine.pool, "checkout", lambda *args: checkouts.append(args))
    for n in range(3):
        with sqlite_store.unit_of_work():  # a direct statement, and one through SQLAlchemy
            sqlite_store.open_case(lob="orders", customer_email="r@example.net", customer_name=None,
                                   title=f"case {n}", at=T0)
        with sqlite_store.unit_of_work(read_only=True):
            assert len(sqlite_store.list_cases()) == n + 1
        assert sqlite_store.case_by_number(f"CAS-{n + 1:06d}") is not None  # a transaction of its own
    assert len(checkouts) == 1
    assert committed_titles(sqlite_store) == ["case 0", "case 1", "case 2"]
    assert other_writer_can_begin(sqlite_store)


def test_a_unit_that_raises_leaves_nothing_and_the_next_one_starts_clean(sqlite_store):
    with pytest.raises(RuntimeError), sqlite_store.unit_of_work():
        sqlite_store.open_case(lob="orders", customer_email="r@example.net", customer_name=None,
                               title="undone", at=T0)
        raise RuntimeError("the node failed")
    assert other_writer_can_begin(sqlite_store)
    with sqlite_store.unit_of_work():
        assert sqlite_store.list_cases() == []
        sqlite_store.open_case(lob="orders", customer_email="r@example.net", customer_name=None,
                               title="kept", at=T0)
    assert committed_titles(sqlite_store) == ["kept"]
