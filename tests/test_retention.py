"""Retention (``case-agent prune``): checkpoints of finished cases go, and with --personal-data the personal
data of closed cases, on SQLite and PostgreSQL. Real store, real checkpointers, real delivery to a folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy import update
from typer.testing import CliRunner

from agent_graph.catalog import Catalog
from agent_graph.cli import app
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.delivery import Deliverer
from agent_graph.domain import Action, CaseStatus, OutboxStatus
from agent_graph.mail import open_sender
from agent_graph.retention import PERSONAL_DATA_REMOVED, PruneReport, Pruner, parse_period
from agent_graph.service import CaseAgent, open_checkpointer, thread_id_for
from agent_graph.store import CaseStore, schema
from tests.conftest import T0, email

pytestmark = pytest.mark.both_databases

RETURN_COMPLETE = "Hi, I want to return the bike I bought, the frame is too big. My order is TB-1234. Thanks, Robin"
RETURN_MISSING = "Hi, I want to return the bike I bought last week, the frame is too big for me."
CLOSED_CUSTOMER = "Quinn Marsh <quinn.marsh@example.org>"
RESOLVED_CUSTOMER = "Robin Vale <robin@example.net>"
OPEN_CUSTOMER = "Ada Stone <ada.stone@example.com>"
P90D = timedelta(days=90)


class World:
    """The agent on a real store and checkpointer, delivering to a folder, on a clock the test moves."""

    def __init__(self, agent: CaseAgent, checkpointer: BaseCheckpointSaver, clock: FixedClock, outbox: Path):
        self.agent, self.checkpointer, self.clock = agent, checkpointer, clock
        self.store = agent.env.store
        self.deliverer = Deliverer(agent.env, open_sender(str(outbox)))

    def email(self, body: str, sender: str, n: int, **kwargs: object) -> int:
        result = self.agent.process_email(email(body, subject="Return", sender=sender, n=n, at=self.clock.now(),
                                                **kwargs))  # type: ignore[arg-type]
        self.deliverer.deliver_due()
        assert result.case_id is not None
        return result.case_id

    def tick(self) -> None:
        self.agent.tick()
        self.deliverer.deliver_due()

    def checkpointed(self, case_id: int) -> bool:
        number = self.store.case(case_id).number or ""
        return self.checkpointer.get_tuple({"configurable": {"thread_id": thread_id_for(number)}}) is not None

    def prune(self, now: datetime, personal_data: bool = False, dry_run: bool = False) -> PruneReport:
        return Pruner(self.store, self.checkpointer).prune(P90D, now, personal_data=personal_data, dry_run=dry_run)


@pytest.fixture
def world(catalog: Catalog, store: CaseStore, tmp_path: Path) -> Iterator[World]:
    clock = FixedClock(T0)
    (tmp_path / "sent").mkdir()
    with open_checkpointer(store.url) as checkpointer:
        yield World(CaseAgent(Context(catalog=catalog, store=store, clock=clock), checkpointer), checkpointer,
                    clock, tmp_path / "sent")


def cases_of(world: World) -> tuple[int, int, int]:
    """A resolved case (at T0), a case closed after its follow-ups ran out (T0 + 7 days), and one still
    waiting for its customer (opened at T0 + 7 days)."""
    resolved = world.email(RETURN_COMPLETE, RESOLVED_CUSTOMER, 1)
    proposal = [item for item in world.store.outbox(resolved) if item.status == OutboxStatus.SENT][-1]
    world.email("Perfect, thank you!", RESOLVED_CUSTOMER, 2, in_reply_to=proposal.message_id)
    closed = world.email(RETURN_MISSING, CLOSED_CUSTOMER, 3)
    for days in (2, 2, 3):
        world.clock.advance(timedelta(days=days))
        world.tick()
    waiting = world.email(RETURN_MISSING, OPEN_CUSTOMER, 4)
    statuses = [world.store.case(pk).status for pk in (resolved, closed, waiting)]
    assert statuses == [CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.AWAITING_CUSTOMER]
    assert all(world.checkpointed(pk) for pk in (resolved, closed, waiting))
    return resolved, closed, waiting


def test_checkpoints_of_finished_cases_go_after_the_period_and_the_cases_still_take_mail(world: World):
    resolved, closed, waiting = cases_of(world)
    dry = world.prune(T0 + timedelta(days=95), dry_run=True)
    assert (dry.finished_cases, dry.checkpoint_threads) == (1, 1)
    assert world.checkpointed(resolved), "a dry run removes nothing"

    # 95 days after T0: only the resolved case is finished and older than 90 days
    report = world.prune(T0 + timedelta(days=95))
    assert (report.finished_cases, report.checkpoint_threads) == (1, 1)
    assert [world.checkpointed(pk) for pk in (resolved, closed, waiting)] == [False, True, True]
    assert world.prune(T0 + timedelta(days=95)).checkpoint_threads == 0, "a second prune finds nothing more"

    # 200 days after: the closed case too; the case waiting for its customer stays, however old
    report = world.prune(T0 + timedelta(days=200))
    assert (report.finished_cases, report.checkpoint_threads) == (2, 1)
    assert [world.checkpointed(pk) for pk in (resolved, closed, waiting)] == [False, False, True]
    assert world.store.case(resolved).customer_email == "robin@example.net", "no personal data removed unasked"

    # a pruned case still takes mail: its graph thread starts afresh from the store
    world.clock.set(T0 + timedelta(days=201))
    last = world.store.outbox(resolved)[-1]
    world.email("Hello again, the bike arrived back with you?", RESOLVED_CUSTOMER, 5, in_reply_to=last.message_id)
    assert world.store.last_message(resolved) is not None
    assert world.checkpointed(resolved)


def test_personal_data_of_closed_cases_goes_what_reports_count_stays(world: World):
    resolved, closed, waiting = cases_of(world)
    with world.store.engine.begin() as connection:  # a draft a representative edited, a comment on it
        connection.execute(update(schema.outbox).where(schema.outbox.c.case_id == closed).values(
            proposed_subject="Your order for Quinn", proposed_body="Dear Quinn Marsh, as proposed"))
        connection.execute(update(schema.interactions).where(schema.interactions.c.case_id == closed).values(
            comment="Quinn rang about this"))
    before = {pk: (world.store.case(pk), len(world.store.messages(pk)), len(world.store.field_history(pk)),
                   len(world.store.outbox(pk)), len(world.store.interactions(pk))) for pk in (resolved, closed, waiting)}
    by_status = world.store.count_cases_by_status()
    world.store.quarantine(b"From: nobody\r\n\r\nunreadable", "inbox/1.eml", "EmailParseError: no sender", T0)

    dry = world.prune(T0 + timedelta(days=200), personal_data=True, dry_run=True)
    assert (dry.closed_cases, dry.quarantined) == (1, 1)
    assert world.store.case(closed).customer_email == "quinn.marsh@example.org"

    report = world.prune(T0 + timedelta(days=200), personal_data=True)
    assert (report.closed_cases, report.quarantined) == (1, 1)
    case, messages, fields, outbox, interactions = before[closed]
    assert (report.emails, report.field_values, report.outbox_items, report.interactions) == (
        messages, fields, outbox, interactions)

    # what reports count stays
    assert world.store.count_cases_by_status() == by_status
    pruned = world.store.case(closed)
    assert (pruned.number, pruned.status, pruned.lob, pruned.intent, pruned.follow_ups, pruned.created_at,
            pruned.updated_at) == (case.number, case.status, case.lob, case.intent, case.follow_ups,
                                   case.created_at, case.updated_at)
    assert (len(world.store.messages(closed)), len(world.store.field_history(closed)),
            len(world.store.outbox(closed))) == (messages, fields, outbox)
    assert [i.kind for i in world.store.interactions(closed)][-1] == PERSONAL_DATA_REMOVED
    assert Action.CLOSE_CASE in [i.kind for i in world.store.interactions(closed)]

    # the personal data does not
    texts = [pruned.title, pruned.customer_email, pruned.customer_name or ""]
    for message in world.store.messages(closed):
        texts += [message.from_address, message.from_name or "", message.to_addresses, message.subject,
                  message.body_text, message.new_text, message.raw]
    texts += [field.value + (field.span or "") for field in world.store.field_history(closed)]
    texts += [item.to_address + item.subject + item.body + (item.proposed_subject or "") + (item.proposed_body or "")
              for item in world.store.outbox(closed)]
    texts += [i.summary + (str(i.detail) if i.detail else "") + (i.comment or "")
              for i in world.store.interactions(closed) if i.kind != PERSONAL_DATA_REMOVED]
    assert not [text for text in texts if text], "every personal text of the closed case is blank"
    assert world.store.count_quarantined() == 0

    # other cases keep theirs; a second prune leaves the closed case be
    assert world.store.case(resolved).customer_email == "robin@example.net"
    assert world.store.case(waiting).customer_email == "ada.stone@example.com"
    assert world.store.messages(resolved)[0].body_text
    again = world.prune(T0 + timedelta(days=200), personal_data=True)
    assert (again.closed_cases, again.emails) == (0, 0)


def test_prune_on_the_command_line(world: World):
    cases_of(world)
    db = world.store.url
    out = CliRunner().invoke(app, ["prune", "--older-than", "P90D", "--dry-run", "--now", "2026-09-30T00:00:00Z",
                                   "--db", db])
    assert out.exit_code == 0, out.output
    assert "2 finished case(s)" in out.output and "would remove the graph threads of 2 case(s)" in out.output
    out = CliRunner().invoke(app, ["prune", "--older-than", "P90D", "--personal-data", "--now",
                                   "2026-09-30T00:00:00Z", "--db", db])
    assert out.exit_code == 0, out.output
    assert "removed the graph threads of 2 case(s)" in out.output
    assert "personal data: removed that of 1 closed case(s)" in out.output
    bad = CliRunner().invoke(app, ["prune", "--older-than", "90 days", "--db", db])
    assert bad.exit_code == 2 and "not a positive ISO-8601 duration such as P90D" in bad.output


@pytest.mark.parametrize("text,days", [("P90D", 90), ("p12w", 84), ("P1Y", 365)])
def test_periods(text: str, days: int):
    assert parse_period(text) == timedelta(days=days)
