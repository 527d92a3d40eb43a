"""On SQLite the store runs its fixed statements on the driver directly (``_Direct``): every such
SELECT must give the rows SQLAlchemy gives, value for value and type for type, and the agent's
work must leave the same rows in every table as through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, select

from agent_graph.claims import Claimant
from agent_graph.context import Context
from agent_graph.domain import Action, CaseStatus, OutboxStatus
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore, repository
from agent_graph.store.repository import _Direct
from agent_graph.store.schema import NewOutboxItem, metadata
from tests.conftest import T0, email

FIXED_SELECTS = {name: value for name, value in vars(repository).items() if isinstance(value, Select)}


def typed(rows: list[dict[str, Any]]) -> list[list[tuple[str, type, Any]]]:
    return [[(name, type(value), value) for name, value in row.items()] for row in rows]


@pytest.fixture
def busy_store(make_agent, store):
    """A store with cases, messages, fields, sent and pending emails, interactions and a run."""
    make_agent(default="full").process_email(email(
        "Hello, my order TT-240617 has not arrived yet, where is it?", n=1))
    make_agent(default="confirm").process_email(email(
        "I would like to return the kettle I bought, order TT-240618, it leaks.",
        sender="Sam Oak <sam@example.net>", n=2))
    make_agent().process_email(email("Hi, can you help me?", sender="Kim Ash <kim@example.net>", n=3))
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    case = store.list_cases()[0]
    store.add_outbox(NewOutboxItem(
        case_id=case.id, idempotency_key="held-draft", action=Action.REQUEST_INFO, purpose="info",
        template_id=None, to_address=case.customer_email, subject="Re: your order", body="Which order?",
        status=OutboxStatus.PENDING_REVIEW, status_after_send=CaseStatus.AWAITING_CUSTOMER, in_reply_to=None,
        message_id="<held-draft@agent.example>", created_at=at))
    claim = Claimant().claim()
    store.take_lease("mailbox:held-draft", claim)
    store.set_mailbox_position("held-draft", epoch="7", position="42", backlog=3, last_fetch_at=at)
    store.begin_run("held-draft", case.id, at, {"kind": "email"}, claim)
    store.quarantine(b"not an email", "held-draft", "EmailParseError: empty", at + timedelta(minutes=1))
    return store


def test_the_fixed_selects_are_found():
    assert {"_CASE", "_MESSAGE", "_MESSAGES", "_FIELDS", "_PENDING_DRAFTS_OF_CASE"} <= set(FIXED_SELECTS)


# Selects whose parameters SQLAlchemy expands at execution (lists): always run by SQLAlchemy.
EXPANDED = {"_CASES_AWAITING", "_THREAD_CASES"}
# Selects with parameters other than a row id or a key: compared through the agent's whole work below.
OTHER_PARAMETERS = {"_DELIVERY_CLAIMS", "_NEXT_EMAIL"}


@pytest.mark.parametrize("name", sorted(EXPANDED))
def test_a_select_with_expanded_parameters_is_left_to_sqlalchemy(busy_store, name):
    with busy_store.engine.connect() as connection:
        assert _Direct.compile(FIXED_SELECTS[name], connection, frozenset()) is None


@pytest.mark.parametrize("name", sorted(set(FIXED_SELECTS) - EXPANDED - OTHER_PARAMETERS))
def test_a_direct_select_reads_what_sqlalchemy_reads(busy_store, name):
    statement = FIXED_SELECTS[name]
    messages = [m for case in busy_store.list_cases() for m in busy_store.messages(case.id)]
    keys = ([m.message_id for m in messages] + [o.idempotency_key for o in busy_store.outbox()]
            + [c.number for c in busy_store.list_cases()] + [q.digest for q in busy_store.quarantined()]
            + ["held-draft", "mailbox:held-draft", "nothing-by-this-key"])
    with busy_store.engine.connect() as connection:
        direct = _Direct.compile(statement, connection, frozenset())
        assert direct is not None, f"{name} is not run directly: add it to EXPANDED"
        needed = {given for given, _, _, _ in direct.params if given in ("pk", "key")}
        assert not {given for given, required, _, _ in direct.params if required} - needed, \
            f"{name} takes parameters other than pk and key: add it to OTHER_PARAMETERS"
        choices = ([{"pk": pk} for pk in range(1, 12)] if needed == {"pk"} else
                   [{"key": key} for key in keys] if needed == {"key"} else [{}])
        compared = 0
        for params in choices:
            expected = [row._asdict() for row in connection.execute(statement, params)]
            assert typed(direct.run(connection, params, first_only=False).rows) == typed(expected), params
            assert typed(direct.run(connection, params, first_only=True).rows) == typed(expected[:1]), params
            compared += bool(expected)
        assert compared, f"{name}: no parameters matched a row, nothing was compared"


CLAIM_COLUMNS = {"claimed_by", "owner", "claim_expires_at", "lease_until"}
"""Which worker holds a row and until when: a new name per agent and the wall clock's time, so
compared as held or not."""


def _tables(store: CaseStore) -> dict[str, list[list[tuple[str, type, Any]]]]:
    with store.engine.connect() as connection:
        return {table.name: typed([{name: (value is not None) if name in CLAIM_COLUMNS else value
                                    for name, value in row._asdict().items()}
                                   for row in connection.execute(select(table).order_by(*table.primary_key))])
                for table in metadata.sorted_tables}


def _agents_work(catalog, clock, url: str) -> dict[str, list[list[tuple[str, type, Any]]]]:
    """Emails of three customers through the agent (a resolution sent, one held for review and
    answered, a request for information and its answer), then a tick; every table afterwards."""
    store = CaseStore(url)
    try:
        full = CaseAgent(Context(catalog=catalog, store=store, clock=clock, automation={"default": "full"}))
        confirm = CaseAgent(Context(catalog=catalog, store=store, clock=clock, automation={"default": "confirm"}))
        full.process_email(email("Hello, my order TT-240617 has not arrived yet, where is it?", n=1))
        held = confirm.process_email(email("I would like to return the kettle from order TT-240618, it leaks.",
                                           sender="Sam Oak <sam@example.net>", n=2))
        if held.pending_review is not None:
            confirm.answer_review(held.case_id, {"type": "accept", "args": None})
        asked = full.process_email(email("Hi, I want to return something.", sender="Kim Ash <kim@example.net>", n=3))
        last = store.last_message(asked.case_id)
        full.process_email(email("It is order TT-240619, the toaster.", sender="Kim Ash <kim@example.net>", n=4,
                                 in_reply_to=last.message_id if last else None))
        clock.advance(timedelta(days=4))
        full.tick()
        return _tables(store)
    finally:
        store.close()


def test_the_agents_work_leaves_the_same_rows_as_through_sqlalchemy(catalog, clock, tmp_path, monkeypatch):
    direct = _agents_work(catalog, clock, f"sqlite:///{tmp_path / 'direct.db'}")
    assert repository._DIRECT, "the direct path was taken"
    monkeypatch.setattr(repository, "_direct_for", lambda connection, statement, keys: None)
    clock.set(T0)
    through_sqlalchemy = _agents_work(catalog, clock, f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    assert direct == through_sqlalchemy
    assert all(direct[table] for table in ("cases", "messages", "outbox", "interactions", "case_fields"))
