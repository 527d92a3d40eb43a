"""Acting on a case by API (``case-agent act``, ``agent_graph.act``), and the demo's refund agent.

Real SQLite stores, the real graph, real (scripted or example) custom agents; the command line in
process through typer's runner, as test_cli does for its configuration errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_graph.act import ActError, ActRequest, act, act_through
from agent_graph.catalog import load_catalog
from agent_graph.cli import app
from agent_graph.custom_agent import agent_module
from agent_graph.domain import CaseStatus, OutboxStatus
from agent_graph.intake.parsing import parse_email
from agent_graph.mailroom import receive
from agent_graph.nodes.custom_agent import CUSTOM_AGENT_CALL
from agent_graph.subagent import LocalCaseSubAgent, ResponseType
from tests.conftest import REPO
from tests.test_custom_agents import EXCHANGE, REFUND, agent_for, calls, mail, scripted, suite_catalog

DEMO = REPO / "examples"


def store_only(agent, raw: bytes) -> str:
    """Store an email on its case without running the agent (a portal form, a note): its Message-ID."""
    email = parse_email(raw, own_addresses=[agent.env.catalog.mailbox])
    with agent.env.store.unit_of_work():
        receive(agent.env.catalog, agent.env.store, agent.env.clock, email)
    return email.message_id


# --- resolve -----------------------------------------------------------------------------------------

def test_resolve_now_with_the_run_automation_and_once_per_key(store):
    agent = agent_for(store, suite_catalog())  # exchanges is confirm; no custom agent: the template path
    first = agent.process_email(mail(EXCHANGE, 1, subject="Exchange the fleece"))
    assert (first.outcome.action, first.outcome.outbound) == ("send_resolution", "drafted")
    resolved = act(agent, ActRequest(case="CAS-000001", action="resolve", automation="full"))
    assert (resolved.outcome.action, resolved.outcome.outbound, resolved.outcome.status) == (
        "send_resolution", "sent", CaseStatus.RESOLUTION_PROPOSED)
    assert [o.status for o in store.outbox(first.case_id)] == [OutboxStatus.SUPERSEDED, OutboxStatus.SENT]
    again = act(agent, ActRequest(case="CAS-000001", action="resolve", automation="full"))
    assert again.outcome.action is None and again.outcome.note.startswith("already done: CAS-000001:act:resolve:-")
    assert len(store.outbox(first.case_id)) == 2
    source = store.messages(first.case_id)[0].message_id
    other = act(agent, ActRequest(case="CAS-000001", action="resolve", automation="full", source=source))
    assert other.outcome.action == "send_resolution" and len(store.outbox(first.case_id)) == 3


def test_resolve_asks_for_what_is_missing(store):
    agent = agent_for(store, suite_catalog())
    case_id = agent.process_email(mail("Please refund the jacket I sent back.", 1)).case_id
    result = act(agent, ActRequest(case="CAS-000001", action="resolve", automation="confirm"))
    assert (result.outcome.action, result.outcome.outbound) == ("request_info", "drafted")
    assert result.pending_review is not None and store.case(case_id).status == CaseStatus.PENDING_REVIEW


def test_resolve_calls_the_custom_agent_once_even_while_its_draft_waits(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("resolved")))
    case_id = agent.process_email(mail(REFUND, 1)).case_id  # full: the agent resolves, sent
    first = act(agent, ActRequest(case="CAS-000001", action="resolve", automation="confirm", source="c1@customer.example"))
    assert (first.outcome.action, first.outcome.outbound) == ("send_resolution", "drafted")
    again = act(agent, ActRequest(case="CAS-000001", action="resolve", automation="confirm",
                                  source="c1@customer.example"))
    assert again.outcome.note.startswith("already done") and again.pending_review is not None
    assert len(calls(store, case_id)) == 2  # the email's call and the act's, not a third
    answered = agent.answer_review(case_id, [{"type": "accept", "args": None}])
    assert answered.outcome.outbound == "sent"


# --- enrich ------------------------------------------------------------------------------------------

def test_enrich_reads_a_stored_message_into_the_fields_and_sends_nothing(store):
    agent = agent_for(store, suite_catalog())
    first = agent.process_email(mail("Please refund the jacket I sent back.", 1))
    reply_to = store.outbox(first.case_id)[0].message_id
    source = store_only(agent, mail("The order is HO-77120.", 2, subject="Re: Refund", in_reply_to=reply_to))
    result = act(agent, ActRequest(case="CAS-000001", action="enrich", source=f"<{source}>"))
    assert (result.outcome.action, result.outcome.outbound) == ("update_only", "none")
    assert {n: f.value for n, f in store.current_fields(first.case_id).items()} == {"order_number": "HO-77120"}
    assert not store.message_by_header(source).processed  # read, not answered: the agent may still answer it
    assert len(store.outbox(first.case_id)) == 1
    again = act(agent, ActRequest(case="CAS-000001", action="enrich", source=source))
    assert again.outcome.note.startswith("already done: CAS-000001:act:enrich:")


def test_act_refusals(store):
    agent = agent_for(store, suite_catalog())
    agent.process_email(mail(REFUND, 1))
    agent.process_email(mail(EXCHANGE, 2, subject="Exchange the fleece", sender="sam@example.org"))
    with pytest.raises(ActError, match="enrich needs a source"):
        act(agent, ActRequest(case="CAS-000001", action="enrich"))
    with pytest.raises(ActError, match="CAS-000001: 'c2@customer.example' is not a stored message of the case"):
        act(agent, ActRequest(case="CAS-000001", action="enrich", source="c2@customer.example"))
    with pytest.raises(Exception, match="no case 'CAS-000042'"):
        act(agent, ActRequest(case="CAS-000042", action="resolve"))


def test_act_through_the_subagent_api(store):
    subagent = LocalCaseSubAgent(agent_for(store, suite_catalog(exchange_request=scripted("question"))))
    subagent.agent.process_email(mail(EXCHANGE, 1, subject="Exchange the fleece"))
    result = act_through(subagent, ActRequest(case="CAS-000001", action="resolve", automation="full"))
    assert (result.response_type, result.needs_review, result.status) == (
        ResponseType.QUESTION, False, CaseStatus.AWAITING_CUSTOMER)
    repeated = act_through(subagent, ActRequest(case="CAS-000001", action="resolve", automation="full"))
    assert repeated.response_type is ResponseType.NO_ACTION and "already done" in repeated.summary


def test_cli_act_and_show(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    (tmp_path / "in.eml").write_bytes(mail(EXCHANGE, 1, subject="Exchange the fleece"))
    catalog = str(REPO / "evals/custom_agents/catalog.yaml")
    runner = CliRunner()
    assert runner.invoke(app, ["process", str(tmp_path / "in.eml"), "--db", db, "--catalog", catalog]).exit_code == 0
    done = runner.invoke(app, ["act", "CAS-000001", "--action", "resolve", "--automation", "full", "--db", db,
                               "--catalog", catalog])
    assert done.exit_code == 0 and "send_resolution · outbound sent" in done.stdout
    again = runner.invoke(app, ["act", "CAS-000001", "--action", "resolve", "--automation", "full", "--db", db,
                                "--catalog", catalog])
    assert again.exit_code == 0 and "already done" in again.stdout
    for args, problem in ((["--action", "close"], "choose resolve or enrich"),
                          (["--action", "resolve", "--automation", "disabled"], "choose full or confirm"),
                          (["--action", "enrich"], "enrich needs a source")):
        refused = runner.invoke(app, ["act", "CAS-000001", *args, "--db", db, "--catalog", catalog])
        assert refused.exit_code == 2 and problem in refused.stderr
    shown = runner.invoke(app, ["show", "CAS-000001", "--db", db])
    assert "act resolve asked at automation full" in shown.stdout


# --- the demo's refund agent -------------------------------------------------------------------------

@pytest.fixture
def refund_desk(tmp_path, monkeypatch):
    monkeypatch.setenv("REFUND_AGENT_DB", str(tmp_path / "orders.db"))
    desk = agent_module("refund_agent", DEMO)
    assert desk.main(["reset"]) == 0
    return desk


def demo_mail(body: str, n: int, sender: str, subject: str = "Refund please", in_reply_to: str | None = None):
    from agent_graph.intake.building import build_email
    from tests.test_custom_agents import T0

    return build_email(from_=sender, to="billing@pinecrest.example", subject=subject, body=body,
                       message_id=f"d{n}@customer.example", date=T0, in_reply_to=in_reply_to,
                       references=[in_reply_to] if in_reply_to else [])


def test_refund_agent_refunds_once_and_says_so(store, refund_desk):
    agent = agent_for(store, load_catalog(DEMO / "catalog.yaml"), billing="full")
    result = agent.process_email(demo_mail("Hello, the coffee machine leaks. I want a refund, order ORD-774031.", 1,
                                           "Amira Haddad <amira.haddad@example.net>"))
    assert (result.outcome.action, result.outcome.outbound) == ("send_resolution", "sent")
    assert "We have refunded the coffee machine from order ORD-774031" in store.outbox(result.case_id)[0].body
    [row] = refund_desk.refunds()
    assert (row["number"], row["item"], row["amount"], row["case_number"]) == ("ORD-774031", "coffee machine",
                                                                              "129.00", result.case_number)
    act(agent, ActRequest(case=result.case_number, action="resolve", source="d1@customer.example"))
    assert len(refund_desk.refunds()) == 1  # asked again for the same case: the same answer, no second refund


def test_refund_agent_asks_which_item_then_refunds_it(store, refund_desk):
    agent = agent_for(store, load_catalog(DEMO / "catalog.yaml"), billing="full")
    first = agent.process_email(demo_mail("Hi, I want a refund for order ORD-318804 please.", 1,
                                          "Noor Bakr <noor@example.net>"))
    assert first.outcome.action == "request_info" and "the kettle or the toaster" in store.outbox(first.case_id)[0].body
    assert refund_desk.refunds() == []
    second = agent.process_email(demo_mail("Just the toaster, it burns everything.", 2, "noor@example.net",
                                           "Re: Refund please", store.outbox(first.case_id)[0].message_id))
    assert second.outcome.action == "send_resolution" and [r["item"] for r in refund_desk.refunds()] == ["toaster"]


@pytest.mark.parametrize(("body", "sender", "reason"), [
    ("Refund order ORD-120456 please, the blender is noisy.", "noor@example.net", "past the 30-day return window"),
    ("Refund order ORD-774031 please.", "mallory@example.net", "belongs to another customer"),
    ("Refund order ORD-640385, I changed my mind.", "kenji.watanabe@example.net", "has not been delivered"),
    ("Refund order ORD-999999 please.", "noor@example.net", "is not in the order system"),
])
def test_refund_agent_refuses_what_it_may_not_refund(store, refund_desk, body, sender, reason):
    agent = agent_for(store, load_catalog(DEMO / "catalog.yaml"), billing="full")
    result = agent.process_email(demo_mail(f"Hello, {body}", 1, sender))
    assert result.outcome.action == "route_to_rep" and reason in result.outcome.note
    assert store.outbox(result.case_id) == [] and refund_desk.refunds() == []
    assert [i.kind for i in store.interactions(result.case_id)].count(CUSTOM_AGENT_CALL) == 1
