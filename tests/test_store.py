"""The store on a real SQLite file: records match their tables, units commit whole, writers queue."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from agent_graph.brain.types import ExtractedValue
from agent_graph.claims import Claimant
from agent_graph.domain import Action, CaseStatus, Direction, OutboxStatus
from agent_graph.store import CaseStore, NewOutboxItem, OutboxItem
from agent_graph.store.schema import ROW_TABLES
from tests.later_migrations import undo_later_migrations

pytestmark = [pytest.mark.timeout(180, method="thread"),  # threads share the store: fail, never hang
              pytest.mark.both_databases]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("row_type", list(ROW_TABLES), ids=lambda r: r.__name__)
def test_each_row_type_has_its_tables_columns(row_type):
    assert sorted(f.name for f in dataclasses.fields(row_type)) == sorted(c.name for c in ROW_TABLES[row_type].columns)


@pytest.mark.parametrize("row_type", [r for r in ROW_TABLES if r is not OutboxItem], ids=lambda r: r.__name__)
def test_a_row_type_lists_its_columns_in_table_order(row_type):
    """A row can be built by position (the inbox and the Dataverse sync build ``Case(*row)``). Not
    ``OutboxItem``: its ``id`` comes after the fields of the ``NewOutboxItem`` it extends, and it is only
    ever built by name."""
    assert [f.name for f in dataclasses.fields(row_type)] == [c.name for c in ROW_TABLES[row_type].columns]


def _case(store: CaseStore, email: str = "robin@example.net"):
    return store.open_case(lob="orders", customer_email=email, customer_name="Robin", title="Where is it", at=T0)


def _draft(case_id: int, key: str, action: Action = Action.REQUEST_INFO) -> NewOutboxItem:
    return NewOutboxItem(case_id=case_id, idempotency_key=key, action=action, purpose="info", template_id=None,
                      to_address="robin@example.net", subject="Re: Where is it", body="Which order?",
                      status=OutboxStatus.APPROVED, status_after_send=CaseStatus.AWAITING_CUSTOMER,
                      in_reply_to=None, message_id=f"<{key}@agent.example>", created_at=T0)


def test_a_new_case_gets_its_number_defaults_and_aware_times(store):
    case = _case(store)
    assert case.number == f"CAS-{case.id:06d}"
    assert (case.status, case.info_requests, case.follow_ups, case.intent) == (CaseStatus.NEW, 0, 0, None)
    assert store.case(case.id).created_at == T0 and store.case(case.id).created_at.tzinfo is not None
    assert store.case_by_number(case.number.lower()) == case


def test_update_case_returns_the_case_as_written(store):
    case = _case(store)
    later = datetime(2026, 3, 3, tzinfo=UTC)
    updated = store.update_case(case.id, later, status=CaseStatus.RESOLVED, intent="where_is_my_order")
    assert (updated.status, updated.intent, updated.updated_at) == (CaseStatus.RESOLVED, "where_is_my_order", later)
    assert store.case(case.id) == updated
    with pytest.raises(LookupError):
        store.update_case(case.id + 100, later, status=CaseStatus.CLOSED)


def test_a_failing_unit_of_work_writes_nothing(store):
    case = _case(store)
    with pytest.raises(RuntimeError), store.unit_of_work():
        store.update_case(case.id, T0, status=CaseStatus.CLOSED)
        store.write_fields(case.id, [ExtractedValue(name="order_number", value="A1", span="A1",
                                                    extractor="pattern", confidence=1.0)], None, T0)
        raise RuntimeError("the node failed half way")
    assert store.case(case.id).status == CaseStatus.NEW
    assert store.current_fields(case.id) == {}


def test_current_fields_keep_the_newest_value_per_name(store):
    case = _case(store)
    for value in ("A1", "A2"):
        store.write_fields(case.id, [ExtractedValue(name="order_number", value=value, span=value,
                                                    extractor="pattern", confidence=0.9)], None, T0)
    assert store.current_fields(case.id)["order_number"].value == "A2"
    assert [f.value for f in store.field_history(case.id)] == ["A1", "A2"]


def test_a_delivery_is_recorded_once(store):
    case = _case(store)
    item = store.add_outbox(_draft(case.id, "k1"))
    assert store.add_outbox(_draft(case.id, "k1")).id == item.id  # same key: the stored draft
    for _ in range(2):
        sent = store.mark_sent(item.id, T0, "raw source")
    assert sent.status == OutboxStatus.SENT and store.outbox_item(item.id) == sent
    outbound = [m for m in store.messages(case.id) if m.direction == Direction.OUTBOUND]
    assert [m.message_id for m in outbound] == ["<k1@agent.example>"]
    after = store.case(case.id)
    assert (after.status, after.info_requests, after.last_outbound_at) == (CaseStatus.AWAITING_CUSTOMER, 1, T0)
    assert store.last_message(case.id) == outbound[0]


def test_writers_on_many_threads_lose_nothing(store):
    def open_and_note(n: int) -> int:
        case = _case(store, f"customer{n}@example.net")
        store.add_interaction(case.id, "agent", "note", f"note {n}", T0)
        return case.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(open_and_note, range(80)))
    assert len(set(ids)) == 80 and store.count_cases() == 80
    assert len(store.interactions()) == 80


def test_a_run_is_remembered_until_it_ends(store):
    case = _case(store)
    store.begin_run("thread-1", case.id, T0, {"kind": "email", "input": {"message_pk": 1}})
    store.begin_run("thread-1", case.id, T0, {"kind": "email", "input": {"message_pk": 2}})
    assert [(r.thread_id, r.payload["input"]["message_pk"]) for r in store.unfinished_runs()] == [("thread-1", 1)]
    store.end_run("thread-1")
    assert store.unfinished_runs() == []


def test_mail_sent_before_delivery_was_a_step_counts_as_delivered_in_an_older_store(tmp_path):
    """`case-agent run` must not send again what an earlier release sent (it had no delivered_at)."""
    import sqlite3

    path = tmp_path / "old.db"
    store = CaseStore(f"sqlite:///{path}")
    case = _case(store)
    sent = store.mark_sent(store.add_outbox(_draft(case.id, "k1")).id, T0, "raw source")
    waiting = store.add_outbox(_draft(case.id, "k2"))
    store.close()
    with sqlite3.connect(path) as connection:  # the outbox as the earlier release made it
        connection.execute("DROP TABLE alembic_version")  # made before migrations
        undo_later_migrations(connection.execute)
        connection.execute("DROP INDEX ix_outbox_delivery")
        for column in ("delivered_at", "attempts", "next_attempt_at", "delivery_error"):
            connection.execute(f"ALTER TABLE outbox DROP COLUMN {column}")
    reopened = CaseStore(f"sqlite:///{path}")
    assert reopened.outbox_item(sent.id).delivered_at == T0
    assert reopened.outbox_item(waiting.id).delivered_at is None  # a draft is not delivered
    assert reopened.undelivered() == [] and reopened.claim_deliveries(Claimant().claim(), T0) == []
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'ix_outbox_delivery'").fetchone()
    reopened.close()
