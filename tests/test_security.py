"""Let no one in: only a case's customer threads onto it by case number or changes it, replies go
only to the sender's own address, and an ambiguous sender is handed to a person, never answered."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict

import pytest

from agent_graph.domain import Action, CaseStatus, Direction, OutboxStatus
from agent_graph.errors import PolicyViolation
from agent_graph.intake.parsing import parse_email
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore, NewOutboxItem
from tests.conftest import T0, email
from tests.later_migrations import undo_later_migrations
from tools.send_email import SendEmailArgs, send_email

VICTIM = "Robin Vale <robin@example.net>"
RETURN = "I want to return the bike I bought, it is too big for me."
ORDER = "My order is TB-4321, please go ahead."


def raw_email(from_header: str, body: str, *, subject: str = "Hello", n: int = 1, in_reply_to: str | None = None,
              extra: str = "") -> bytes:
    """An email written byte for byte, so a hostile From header reaches the parser as it was sent."""
    lines = [f"From: {from_header}", "To: help@tidewater.example", f"Subject: {subject}",
             f"Message-ID: <s{n}@sender.example>", "Date: Mon, 02 Mar 2026 09:00:00 +0000"]
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    return ("\n".join(lines) + "\n" + extra + "\n" + body + "\n").encode()


def snapshot(store: CaseStore, case_id: int) -> dict:
    """Everything about a case that another customer's email must not change."""
    return {"case": asdict(store.case(case_id)),
            "fields": store.field_values(case_id),
            "outbox": [asdict(item) for item in store.outbox(case_id)],
            "messages": [m.message_id for m in store.messages(case_id)]}


@pytest.fixture
def victim(make_agent) -> tuple[CaseAgent, int]:
    """Robin's return case, waiting for the order reference the agent asked for."""
    agent = make_agent()
    first = agent.process_email(email(RETURN, subject="Return my bike", sender=VICTIM))
    assert first.outcome.action is Action.REQUEST_INFO
    return agent, first.case_id


def naming_the_case(victim, store: CaseStore, from_header: str, subject: str):
    """An email from ``from_header`` whose subject names the victim's case (``{number}`` in ``subject``):
    it must not join the case, nor change anything of it. The result, and the case number."""
    agent, case_id = victim
    number = store.case(case_id).number
    before = snapshot(store, case_id)
    result = agent.process_email(raw_email(from_header, ORDER, subject=subject.format(number=number)))
    assert result.case_id != case_id
    assert snapshot(store, case_id) == before
    return result, number


def test_a_stranger_naming_a_case_number_gets_a_case_of_their_own(victim, store: CaseStore):
    result, number = naming_the_case(victim, store, "Eve <eve@example.org>", "Re: Return my bike [{number}]")
    own = store.case(result.case_id)
    assert own.customer_email == "eve@example.org" and number not in own.title
    notes = [i for i in store.interactions(own.id) if i.kind == "case_reference_refused"]
    assert [n.detail["referenced_case"] for n in notes] == [number]
    for item in store.outbox(own.id):  # whatever Eve is told is about her own case only
        assert item.to_address == "eve@example.org"
        assert "robin" not in (item.subject + item.body).lower() and number not in item.subject + item.body


def test_the_customer_still_threads_by_case_number_from_a_new_email(victim, store: CaseStore):
    agent, case_id = victim
    number = store.case(case_id).number
    result = agent.process_email(email(ORDER, subject=f"Order ref for {number}", sender="robin@example.net", n=2))
    assert result.case_id == case_id
    assert store.current_fields(case_id)["order_ref"].value == "TB-4321"


def test_a_reply_from_another_address_is_recorded_and_handed_to_a_person(victim, store: CaseStore):
    agent, case_id = victim
    ours = [m for m in store.messages(case_id) if m.direction == Direction.OUTBOUND][-1]
    outbox_before = snapshot(store, case_id)["outbox"]

    result = agent.process_email(raw_email("Sam <sam@example.com>", ORDER, subject="Re: Return my bike",
                                           in_reply_to=ours.message_id))

    assert result.case_id == case_id
    assert result.outcome.action is Action.ROUTE_TO_REP
    assert "not from the case's customer" in result.outcome.note
    assert "order_ref" not in store.current_fields(case_id)
    assert snapshot(store, case_id)["outbox"] == outbox_before
    assert store.case(case_id).status == CaseStatus.WITH_REPRESENTATIVE
    assert any(m.from_address == "sam@example.com" for m in store.messages(case_id))


def test_the_customer_after_a_colleague_is_decided_on_the_customers_words_only(victim, store: CaseStore):
    """The colleague's email is on the case but never read for values, even when the intent comes later."""
    agent, case_id = victim
    ours = [m for m in store.messages(case_id) if m.direction == Direction.OUTBOUND][-1]
    agent.process_email(raw_email("Sam <sam@example.com>", ORDER, in_reply_to=ours.message_id))
    assert [m.from_address for m in store.customer_messages(case_id)] == ["robin@example.net"]


AMBIGUOUS_FROM = {
    "display name holds another address": '"victim@bank.example" <eve@example.net>',
    "unquoted address before the real one": "victim@bank.example <eve@example.net>",
    "encoded display name holds an address": "=?utf-8?q?victim=40bank.example?= <eve@example.net>",
    "encoded word with CR/LF": "=?utf-8?q?x=0D=0Abcc=3A_victim@bank.example?= <eve@example.net>",
    "two mailboxes": "eve@example.net, victim@bank.example",
    "invalid addr-spec": "Eve <eve@localhost>",
    "unclosed angle bracket": "Eve <eve@example.net",
}


@pytest.mark.parametrize("from_header", AMBIGUOUS_FROM.values(), ids=AMBIGUOUS_FROM.keys())
def test_an_ambiguous_sender_is_stored_and_handed_to_a_person_never_answered(make_agent, store, from_header):
    result = make_agent().process_email(raw_email(from_header, RETURN + " " + ORDER))
    assert result.outcome.action is Action.ROUTE_TO_REP
    assert "ambiguous" in result.outcome.note
    assert store.outbox() == []
    case = store.case(result.case_id)
    assert case.customer_email == "" and case.status == CaseStatus.WITH_REPRESENTATIVE
    assert store.current_fields(case.id) == {}
    assert len(store.messages(case.id)) == 1


def test_an_ambiguous_sender_naming_a_case_number_does_not_join_it(victim, store: CaseStore):
    naming_the_case(victim, store, "robin@example.net <eve@example.org>", "Re: [{number}]")


def test_a_second_from_header_makes_the_sender_ambiguous():
    parsed = parse_email(raw_email("eve@example.org", "hi", extra="From: robin@example.net\n"))
    assert parsed.sender_doubt == "the email has 2 From headers"


@pytest.mark.parametrize("from_header", [
    "Dana Whitfield <dana@customer.example>", '"Whitfield, Dana" <dana@customer.example>',
    "Dana J. Whitfield <dana@customer.example>", "=?utf-8?q?Ren=C3=A9e_M=C3=BCller?= <renee@customer.example>",
    '"dana@customer.example" <dana@customer.example>', "dana@customer.example", "<dana@customer.example>",
    "dana@customer.example (Dana Whitfield)",
])
def test_ordinary_senders_are_not_in_doubt(from_header: str):
    assert parse_email(raw_email(from_header, "hi")).sender_doubt is None


def test_sending_needs_a_customer_address_the_agent_may_write_to(victim, store: CaseStore):
    agent, _ = victim
    case = store.open_case(lob="shop", customer_email="robin@localhost", customer_name=None, title="x", at=T0)
    item = store.add_outbox(NewOutboxItem(
        case_id=case.id, idempotency_key="k1", action=Action.REQUEST_INFO, purpose="request_info", template_id=None,
        to_address="robin@localhost", subject="s", body="b", status=OutboxStatus.APPROVED,
        status_after_send=CaseStatus.AWAITING_CUSTOMER, in_reply_to=None, message_id="o1@tidewater.example",
        created_at=T0))
    with pytest.raises(PolicyViolation, match="no customer address"):
        send_email(agent.env, SendEmailArgs(outbox_id=item.id))


def test_a_database_of_the_first_release_opens_and_gains_the_new_columns(tmp_path, catalog, clock):
    from agent_graph.context import Context

    path = tmp_path / "old.db"
    CaseStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as old:  # the tables as the first release made them
        old.execute("DROP TABLE alembic_version")  # made before migrations
        undo_later_migrations(old.execute)
        for table, column in [("messages", "sender_doubt"), ("messages", "claimed_by"),
                              ("messages", "claim_expires_at"), ("active_runs", "owner"), ("active_runs", "lease_until")]:
            old.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    store = CaseStore(f"sqlite:///{path}")
    result = CaseAgent(Context(catalog=catalog, store=store, clock=clock)).process_email(email(RETURN))
    assert result.outcome.action is Action.REQUEST_INFO
    assert store.message(1).claimed_by is not None
    store.close()
