"""The sub-agent contract: each response_type, the ways to hand it a case, the tool and the subgraph."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any, TypedDict

import pytest
from langchain_core.messages import ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from agent_graph.context import Context
from agent_graph.domain import Action, CaseStatus, Outbound, OutboxStatus
from agent_graph.service import thread_id_for
from agent_graph.subagent import (
    CaseRequest,
    CaseResult,
    EmailFields,
    LocalCaseSubAgent,
    ResponseType,
    SubAgentError,
    case_agent_subgraph,
    case_agent_tool,
)
from agent_graph.subagent.contract import MailroomResult
from agent_graph.subagent.mailroom import mailroom_graph
from tests.conftest import REPO, email

RETURN_COMPLETE = ("Hi, I want to return the bike I bought, the frame is too big for me. "
                   "My order is TB-1234. Thanks, Robin")
RETURN_MISSING = "Hi, I want to return the bike I bought last week, the frame is too big for me."
REPAIR = "Hello, my brakes squeak terribly. Could I bring my bike in for a repair on 10 March 2026? Thanks, Robin"


@pytest.fixture
def make_subagent(make_agent):
    def _make(**automation: str) -> LocalCaseSubAgent:
        return LocalCaseSubAgent(make_agent(**automation))
    return _make


def handle(subagent: LocalCaseSubAgent, **request: Any) -> CaseResult:
    return subagent.handle(CaseRequest(**request))


def last_sent(store, case_id):
    return [i for i in store.outbox(case_id) if i.status == OutboxStatus.SENT][-1]


# --- each response_type ------------------------------------------------------------------------

def test_question_when_information_is_missing(make_subagent, store):
    result = handle(make_subagent(), email=email(RETURN_MISSING, subject="Return").decode())
    assert (result.response_type, result.needs_review, result.status) == (
        ResponseType.QUESTION, False, CaseStatus.AWAITING_CUSTOMER)
    assert result.case_number == "CAS-000001" and result.thread_id == thread_id_for("CAS-000001")
    assert "asked the customer" in result.summary and result.summary.startswith("CAS-000001")


def test_resolved_when_the_resolution_is_sent(make_subagent):
    result = handle(make_subagent(), email=email(RETURN_COMPLETE, subject="Return").decode())
    assert (result.response_type, result.needs_review, result.outbound, result.status) == (
        ResponseType.RESOLVED, False, Outbound.SENT, CaseStatus.RESOLUTION_PROPOSED)


def test_resolved_and_needs_review_when_the_resolution_is_drafted(make_subagent, store):
    result = handle(make_subagent(), email=email(REPAIR, subject="Brake repair").decode())
    assert (result.response_type, result.needs_review, result.status) == (
        ResponseType.RESOLVED, True, CaseStatus.PENDING_REVIEW)
    assert result.review_request["action_request"]["action"] == "send_email"
    assert "review" in result.summary
    assert [i.status for i in store.outbox(result.case_id)] == [OutboxStatus.PENDING_REVIEW]


def test_resolve_case_when_the_customer_accepts(make_subagent, store):
    subagent = make_subagent()
    first = handle(subagent, email=email(RETURN_COMPLETE, subject="Return").decode())
    proposal = last_sent(store, first.case_id)
    reply = email("Got it, thanks a lot!", subject="Re: Return", n=2, in_reply_to=proposal.message_id)
    result = handle(subagent, email=reply.decode())
    assert (result.response_type, result.case_number, result.status) == (
        ResponseType.RESOLVE_CASE, first.case_number, CaseStatus.RESOLVED)


def test_unable_to_resolve_when_routed(make_subagent, store):
    result = handle(make_subagent(shop="disabled"), email=email(RETURN_COMPLETE, subject="Return").decode())
    assert (result.response_type, result.needs_review, result.status) == (
        ResponseType.UNABLE_TO_RESOLVE, False, CaseStatus.WITH_REPRESENTATIVE)
    assert "representative" in result.summary


@pytest.mark.parametrize("headers", [{"Auto-Submitted": "auto-replied"}, None])
def test_no_action_for_automatic_mail_and_duplicates(make_subagent, headers):
    subagent = make_subagent()
    first = handle(subagent, email=email(RETURN_MISSING, subject="Return").decode())
    if headers:  # an out-of-office reply on the case
        result = handle(subagent, email=email("I am away until Monday.", subject=f"Re: Return [{first.case_number}]",
                                              n=2, headers=headers).decode())
        assert "automatic mail" in result.summary
    else:  # the same email again
        result = handle(subagent, email=email(RETURN_MISSING, subject="Return").decode())
    assert (result.response_type, result.case_number, result.status) == (
        ResponseType.NO_ACTION, first.case_number, CaseStatus.AWAITING_CUSTOMER)


def test_case_alone_runs_what_is_due(make_subagent, clock, store):
    subagent = make_subagent()
    first = handle(subagent, email=email(RETURN_MISSING, subject="Return").decode())
    nothing = handle(subagent, case=first.case_number)
    assert (nothing.response_type, nothing.status) == (ResponseType.NO_ACTION, CaseStatus.AWAITING_CUSTOMER)
    assert "nothing due" in nothing.summary
    clock.advance(timedelta(days=3))
    follow_up = handle(subagent, case=first.case_id)
    assert (follow_up.response_type, follow_up.action, follow_up.outbound) == (
        ResponseType.QUESTION, Action.FOLLOW_UP, Outbound.SENT)


def test_case_alone_reports_a_pending_draft(make_subagent):
    subagent = make_subagent()
    first = handle(subagent, email=email(REPAIR, subject="Brake repair").decode())
    result = handle(subagent, case=first.case_number.lower())
    assert (result.response_type, result.needs_review, result.status) == (
        ResponseType.NO_ACTION, True, CaseStatus.PENDING_REVIEW)
    assert result.review_request == first.review_request


# --- how the email and the case are given ---------------------------------------------------------

def test_structured_fields_work_like_raw_email_and_retries_are_recognised(make_subagent, store):
    subagent = make_subagent()
    fields = EmailFields(**{"from": "Robin Vale <robin@example.net>", "subject": "Return", "body": RETURN_COMPLETE})
    result = handle(subagent, email=fields)
    assert result.response_type is ResponseType.RESOLVED
    message = store.messages(result.case_id)[0]
    assert message.to_addresses == "help@tidewater.example" and message.from_address == "robin@example.net"
    again = handle(subagent, email={"from": "Robin Vale <robin@example.net>", "subject": "Return",
                                    "body": RETURN_COMPLETE})
    assert again.response_type is ResponseType.NO_ACTION and again.case_number == result.case_number
    assert len(store.outbox(result.case_id)) == 1


def test_an_email_given_with_its_case_joins_that_case(make_subagent, store):
    subagent = make_subagent()
    first = handle(subagent, email=email(RETURN_MISSING, subject="Return").decode())
    unthreaded = email("It is order TB-4321.", subject="my order", n=2)
    result = handle(subagent, case=first.case_number, email=unthreaded.decode())
    assert result.case_number == first.case_number and result.response_type is ResponseType.RESOLVED
    assert store.current_fields(first.case_id)["order_ref"].value == "TB-4321"


def test_refuses_unknown_cases_and_emails_of_another_case(make_subagent):
    subagent = make_subagent()
    with pytest.raises(SubAgentError, match="no case 'CAS-000042'"):
        handle(subagent, case="CAS-000042")
    first = handle(subagent, email=email(RETURN_MISSING, subject="Return").decode())
    second = handle(subagent, email=email(REPAIR, subject="Brake repair", n=2).decode())
    with pytest.raises(SubAgentError, match=f"belongs to case {first.case_number}"):
        handle(subagent, case=second.case_number, email=email(RETURN_MISSING, subject="Return").decode())
    with pytest.raises(ValueError, match="needs a case"):
        CaseRequest()


def test_mailroom_graph_threads_emails_to_the_case_thread(catalog, store, clock):
    context = Context(catalog=catalog, store=store, clock=clock)
    out = MailroomResult.model_validate(mailroom_graph.invoke(
        {"email": {"from": "robin@example.net", "subject": "Return", "body": RETURN_MISSING}}, context=context))
    assert out.case_record.number == "CAS-000001" and out.thread_id == thread_id_for("CAS-000001")
    assert out.message_pk is not None and not out.duplicate
    looked_up = MailroomResult.model_validate(mailroom_graph.invoke({"case": "CAS-000001"}, context=context))
    assert looked_up.thread_id == out.thread_id and looked_up.message_pk is None
    assert looked_up.case_record.status is CaseStatus.NEW


# --- LangChain tool and LangGraph subgraph ------------------------------------------------------

def test_langchain_tool_returns_json_content_and_the_typed_result(make_subagent):
    tool = case_agent_tool(make_subagent())
    assert {"case", "raw_email", "sender", "body"} <= set(tool.args)
    message = tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name,
                           "args": {"sender": "Robin Vale <robin@example.net>", "subject": "Return",
                                    "body": RETURN_COMPLETE}})
    assert isinstance(message, ToolMessage) and isinstance(message.artifact, CaseResult)
    assert message.artifact.response_type is ResponseType.RESOLVED
    assert '"response_type":"Resolved"' in message.content
    with pytest.raises(SubAgentError, match="sender and body"):
        tool.invoke({"body": "no sender"})


class CopilotState(TypedDict, total=False):
    email: str
    result: CaseResult
    reply: str


def test_subgraph_node_reports_a_review_without_pausing_the_parent(make_subagent):
    def after(state: CopilotState) -> dict[str, str]:
        return {"reply": f"{state['result'].response_type}: {state['result'].summary}"}

    builder = StateGraph(CopilotState)
    builder.add_node("case_agent", case_agent_subgraph(make_subagent()))
    builder.add_node("after", after)
    builder.add_edge(START, "case_agent")
    builder.add_edge("case_agent", "after")
    builder.add_edge("after", END)
    parent = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "copilot-1"}}
    out = parent.invoke({"email": email(REPAIR, subject="Brake repair").decode()}, config)
    assert "__interrupt__" not in out and parent.get_state(config).next == ()
    assert out["result"].needs_review and out["result"].response_type is ResponseType.RESOLVED
    assert out["reply"].startswith("Resolved: CAS-000001")


def test_custom_copilot_example_runs_offline():
    done = subprocess.run([sys.executable, str(REPO / "examples" / "custom_copilot.py")], cwd=REPO,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    for response_type in ("Question", "Resolved", "UnableToResolve", "ResolveCase"):
        assert f"response_type={response_type}" in done.stdout
