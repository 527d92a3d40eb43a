"""Confirm-level drafts: the Agent Inbox interrupt, each kind of answer, and exactly-once sending."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent_graph.domain import Action, CaseStatus, Outbound, OutboxStatus
from agent_graph.review import parse_human_response
from agent_graph.state import ReviewKind
from tests.conftest import REPO, email

REPAIR = "Hello, my brakes squeak terribly. Could I bring my bike in for a repair on 10 March 2026? Thanks, Robin"


@pytest.fixture
def pending(make_agent, store):
    agent = make_agent()
    result = agent.process_email(email(REPAIR, subject="Brake repair"))
    assert result.outcome.outbound is Outbound.DRAFTED
    return agent, result.case_id


def test_interrupt_follows_agent_inbox_schema(pending, store):
    agent, case_id = pending
    request = agent.pending_review(case_id)
    assert request["action_request"]["action"] == "send_email"
    assert set(request["action_request"]["args"]) == {"to", "subject", "body"}
    assert request["config"] == {"allow_accept": True, "allow_edit": True, "allow_respond": True,
                                 "allow_ignore": True}
    assert "repair_booking" in request["description"] and "preferred_date: 2026-03-10" in request["description"]
    assert store.case(case_id).status == CaseStatus.PENDING_REVIEW
    assert [i.status for i in store.outbox(case_id)] == [OutboxStatus.PENDING_REVIEW]


@pytest.mark.parametrize("wrap", [lambda r: r, lambda r: [r]])
def test_accept_sends_once(pending, store, wrap):
    agent, case_id = pending
    result = agent.answer_review(case_id, wrap({"type": "accept", "args": None}))
    assert result.outcome.action is Action.SEND_RESOLUTION and result.outcome.outbound is Outbound.SENT
    assert store.case(case_id).status == CaseStatus.RESOLUTION_PROPOSED
    with pytest.raises(ValueError, match="no draft waiting"):
        agent.answer_review(case_id, {"type": "accept", "args": None})
    assert len([m for m in store.messages(case_id) if m.direction == "outbound"]) == 1


def test_edit_sends_the_edited_text_to_the_customer_only(pending, store):
    agent, case_id = pending
    edited = {"action": "send_email", "args": {"to": "attacker@evil.example", "subject": "Booked",
                                               "body": "See you on the 10th."}}
    agent.answer_review(case_id, [{"type": "edit", "args": edited}])
    item = store.outbox(case_id)[-1]
    assert (item.status, item.subject, item.body, item.edited) == (OutboxStatus.SENT, "Booked", "See you on the 10th.", True)
    assert item.to_address == "robin@example.net"


@pytest.mark.parametrize("answer", [{"type": "ignore", "args": None},
                                    {"type": "response", "args": "Call him instead, he is a VIP."}])
def test_ignore_or_feedback_discards_and_routes(pending, store, answer):
    agent, case_id = pending
    result = agent.answer_review(case_id, [answer])
    assert result.outcome.action is Action.ROUTE_TO_REP and result.outcome.outbound is Outbound.NONE
    case = store.case(case_id)
    assert case.status == CaseStatus.WITH_REPRESENTATIVE and case.queue == "workshop-desk"
    assert store.outbox(case_id)[-1].status == OutboxStatus.DISCARDED
    if answer["type"] == "response":
        assert "VIP" in case.routed_reason


def test_new_customer_email_supersedes_the_pending_draft(pending, store):
    agent, case_id = pending
    agent.process_email(email("Actually, please make it 12 March 2026 instead.", subject="Re: Brake repair", n=2,
                              in_reply_to="m1@customer.example"))
    statuses = [i.status for i in store.outbox(case_id)]
    assert statuses == [OutboxStatus.SUPERSEDED, OutboxStatus.PENDING_REVIEW]
    assert store.current_fields(case_id)["preferred_date"].value == "2026-03-12"


def test_malformed_answers_are_refused():
    with pytest.raises(ValueError):
        parse_human_response([{"type": "accept"}, {"type": "accept"}])
    with pytest.raises(ValueError):
        parse_human_response({"args": None})
    assert parse_human_response({"type": "edit", "args": {"args": {"body": "x"}}}).kind is ReviewKind.EDIT


CRASHING_RUN = textwrap.dedent("""
    import os, sys
    from datetime import UTC, datetime
    import yaml
    sys.path.insert(0, {repo!r})
    from agent_graph.catalog import parse_catalog
    from agent_graph.clock import FixedClock
    from agent_graph.context import Context
    from agent_graph.mailbox import LocalMailbox
    from agent_graph.service import CaseAgent, open_checkpointer
    from agent_graph.store import CaseStore
    from tests.conftest import CATALOG_YAML, email, T0

    class CrashAfterDelivery(LocalMailbox):
        def deliver(self, item, sender, at):
            delivered = super().deliver(item, sender, at)
            if os.environ.get("CRASH_AFTER_DELIVERY"):
                os._exit(9)  # the process dies after sending, before the run is checkpointed
            return delivered

    db = "sqlite:///" + sys.argv[2]
    store = CaseStore(db)
    with open_checkpointer(db) as checkpointer:
        agent = CaseAgent(Context(db_url=db, catalog=parse_catalog(yaml.safe_load(CATALOG_YAML)), store=store,
                                  clock=FixedClock(T0), mailbox=CrashAfterDelivery(store)), checkpointer)
        step = sys.argv[1]
        if step == "email":
            agent.process_email(email({repair!r}, subject="Brake repair"))
        elif step == "accept":
            agent.answer_review(1, [{{"type": "accept", "args": None}}])
        elif step == "recover":
            print([r.outcome.action for r in agent.recover()])
""")


def test_killed_between_approval_and_sending_resumes_and_sends_once(tmp_path: Path):
    script = tmp_path / "run.py"
    script.write_text(CRASHING_RUN.format(repo=str(REPO), repair=REPAIR))
    db = tmp_path / "crash.db"

    def run(step: str, crash: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, "CRASH_AFTER_DELIVERY": "1" if crash else ""}
        return subprocess.run([sys.executable, str(script), step, str(db)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    assert run("email").returncode == 0
    crashed = run("accept", crash=True)
    assert crashed.returncode == 9, crashed.stderr
    recovered = run("recover")
    assert recovered.returncode == 0, recovered.stderr
    assert "SEND_RESOLUTION" in recovered.stdout or "send_resolution" in recovered.stdout

    from agent_graph.store import CaseStore

    store = CaseStore(f"sqlite:///{db}")
    sent = [m for m in store.messages(1) if m.direction == "outbound"]
    assert len(sent) == 1
    assert store.case(1).status == CaseStatus.RESOLUTION_PROPOSED
    assert store.unfinished_runs() == []
    store.close()


def test_accepting_again_after_a_crash_finishes_the_send_and_says_so(tmp_path: Path):
    """`review CASE --accept` run again after the process died between approval and sending: the
    interrupted run is finished (the email sent once), and the command says so and exits 0."""
    from tests.conftest import CATALOG_YAML

    script = tmp_path / "run.py"
    script.write_text(CRASHING_RUN.format(repo=str(REPO), repair=REPAIR))
    db = tmp_path / "crash.db"
    catalog = tmp_path / "tidewater.yaml"
    catalog.write_text(CATALOG_YAML)

    def run(*args: str, crash: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, "CRASH_AFTER_DELIVERY": "1" if crash else ""}
        return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=180, check=False)

    assert run(str(script), "email", str(db)).returncode == 0
    assert run(str(script), "accept", str(db), crash=True).returncode == 9
    again = run("-m", "agent_graph.cli", "review", "CAS-000001", "--accept", "--db", f"sqlite:///{db}",
                "--catalog", str(catalog), "--now", "2026-03-02T09:00:00Z")
    assert again.returncode == 0, again.stderr
    assert "resumed an unfinished run: CAS-000001 · send_resolution · outbound sent" in again.stdout
    assert "CAS-000001: the review answered before the interruption is now carried out" in again.stdout
    from agent_graph.store import CaseStore

    store = CaseStore(f"sqlite:///{db}")
    assert len([m for m in store.messages(1) if m.direction == "outbound"]) == 1
    store.close()
