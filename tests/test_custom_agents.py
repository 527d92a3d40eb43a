"""Custom agents per intent (formats.md §1 ``agent``): every response type through the graph with real
agents — in process, behind an HTTP endpoint on loopback — the contract, get_case and the suite.

The agents are the scripted LangGraph graphs of ``evals/custom_agents/scripted_agents.py``; they read
the case through ``get_case`` (in process) or the ``GET /cases/{case}`` route (over HTTP).
"""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from langgraph.graph import END, START, StateGraph
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from agent_graph.catalog import Catalog, CustomAgentRef, load_catalog, parse_catalog
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.custom_agent import (
    AgentAnswer,
    CaseAccessError,
    agent_module,
    conversation_id_for,
    get_case,
    get_case_tool,
)
from agent_graph.domain import CaseStatus, OutboxStatus, ResponseType
from agent_graph.errors import CatalogError
from agent_graph.intake.building import build_email
from agent_graph.nodes.custom_agent import CUSTOM_AGENT_CALL
from agent_graph.replay import run_suite
from agent_graph.server_app import app as case_routes
from agent_graph.service import CaseAgent, TurnResult
from agent_graph.store import CaseStore
from agent_graph.timeline import case_timeline
from tests.conftest import CATALOG_YAML, REPO

SUITE = REPO / "evals" / "custom_agents"
SCRIPTS = agent_module("scripted_agents", SUITE)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REFUND = "Hello,\n\nI sent the rain jacket back last week, please refund me. The order was HO-40211.\n\nRobin"
EXCHANGE = "Hello, could I exchange the fleece for a size larger? Order HO-51877.\n\nSam"

# script -> (action, outbound, status) after the first email, under the returns LOB (full)
EXPECTED = {
    "question": ("request_info", "sent", CaseStatus.AWAITING_CUSTOMER),
    "resolved": ("send_resolution", "sent", CaseStatus.RESOLUTION_PROPOSED),
    "resolve_case": ("send_resolution", "sent", CaseStatus.RESOLVED),
    "unable": ("route_to_rep", "none", CaseStatus.WITH_REPRESENTATIVE),
    "no_action": ("update_only", "none", CaseStatus.NEW),
    "needs_review": ("send_resolution", "drafted", CaseStatus.PENDING_REVIEW),
}
FAILING = {"invalid": "invalid answer", "broken": "RuntimeError: the order system is down",
           "ungrounded": "no email was sent"}


def suite_catalog(**agents: CustomAgentRef) -> Catalog:
    return load_catalog(SUITE / "catalog.yaml").with_agents(agents)


def scripted(script: str, timeout: float = 5.0) -> CustomAgentRef:
    return CustomAgentRef(graph=f"scripted_agents:{script}", timeout=timeout).found_in(SUITE)


def mail(body: str, n: int, subject: str = "Refund for my rain jacket", in_reply_to: str | None = None,
         sender: str = "Robin Vale <robin.vale@example.net>") -> bytes:
    return build_email(from_=sender, to="help@harbor.example", subject=subject, body=body,
                       message_id=f"c{n}@customer.example", date=T0, in_reply_to=in_reply_to,
                       references=[in_reply_to] if in_reply_to else [])


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cases.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[CaseStore]:
    opened = CaseStore(db_url)
    yield opened
    opened.close()


def agent_for(store: CaseStore, catalog: Catalog, **automation: str) -> CaseAgent:
    return CaseAgent(Context(catalog=catalog, store=store, clock=FixedClock(T0), automation=automation))


def calls(store: CaseStore, case_id: int) -> list[dict[str, Any]]:
    return [i.detail for i in store.interactions(case_id) if i.kind == CUSTOM_AGENT_CALL]


def assert_outcome(store: CaseStore, result: TurnResult, expected: tuple[str, str, CaseStatus]) -> None:
    action, outbound, status = expected
    outcome = result.outcome
    assert (outcome.action, outcome.outbound, outcome.status) == (action, outbound, status), outcome.note


# --- the catalog key -----------------------------------------------------------------------------

def broken_agent(agent: Any) -> CatalogError:
    data = yaml.safe_load(CATALOG_YAML)
    data["lines_of_business"][0]["intents"][0]["agent"] = agent
    with pytest.raises(CatalogError) as caught:
        parse_catalog(copy.deepcopy(data), "broken.yaml")
    return caught.value


@pytest.mark.parametrize(("agent", "message"), [
    ({}, "exactly one of graph, remote, http (found none)"),
    ({"graph": "pkg.mod:graph", "http": "http://127.0.0.1:9/agent"}, "found ['graph', 'http']"),
    ({"graph": "no_attribute"}, "intents[0].agent.graph"),
    ({"http": "ftp://example.org/agent"}, "intents[0].agent.http"),
    ({"remote": {"url": "http://127.0.0.1:2024"}}, "intents[0].agent.remote.graph: required key is missing"),
    ({"graph": "pkg.mod:graph", "timeout": 0}, "intents[0].agent.timeout"),
    ({"graph": "pkg.mod:graph", "retries": 3}, "intents[0].agent.retries: unknown key"),
])
def test_agent_key_is_validated_with_the_path_named(agent, message):
    error = broken_agent(agent)
    assert "broken.yaml: lines_of_business[0].intents[0].agent" in str(error)
    assert message in str(error)


def test_agent_key_forms_and_default_timeout():
    data = yaml.safe_load(CATALOG_YAML)
    intents = data["lines_of_business"][0]["intents"]
    intents[0]["agent"] = {"remote": {"url": "http://127.0.0.1:2024", "graph": "refunds"}, "timeout": 5}
    intents[1]["agent"] = {"http": "http://127.0.0.1:8080/agent"}
    catalog = parse_catalog(data, "ok.yaml")
    assert catalog.agent_for("return_bike").remote.graph == "refunds"
    assert catalog.agent_for("delivery_date").timeout == 30.0
    assert catalog.agent_for("repair_booking") is None and catalog.has_agents


# --- the answer contract --------------------------------------------------------------------------

def test_answer_contract():
    answer = AgentAnswer.model_validate({"responseType": "Resolved", "message": "Done.",
                                         "handlingOptions": {"needsReview": True}, "extra": "ignored"})
    assert answer.response_type is ResponseType.RESOLVED and answer.needs_review
    assert not AgentAnswer.model_validate({"responseType": "ResolveCase", "message": "Done.",
                                           "handlingOptions": {"needsReview": True}}).needs_review
    assert AgentAnswer.model_validate({"responseType": "NoAction"}).message == ""
    for bad in ({"responseType": "Refunded", "message": "x"}, {"message": "no type"},
                {"responseType": "Question", "message": "  "}, {"responseType": "Resolved", "message": "x" * 20_001},
                {"responseType": "Resolved", "message": "x", "handlingOptions": {"needsReview": "perhaps"}}):
        with pytest.raises(ValidationError):
            AgentAnswer.model_validate(bad)


# --- in process: every response type ---------------------------------------------------------------

@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_each_response_type_in_process(store, script):
    agent = agent_for(store, suite_catalog(refund_request=scripted(script)))
    result = agent.process_email(mail(REFUND, 1))
    assert_outcome(store, result, EXPECTED[script])
    [call] = calls(store, result.case_id)
    assert call["request"] == {"caseId": "CAS-000001"}
    assert call["answer"]["responseType"] == EXPECTED_TYPES[script]
    assert call["conversation_id"] == conversation_id_for("CAS-000001") and call["latency_ms"] >= 0
    outbox = store.outbox(result.case_id)
    if EXPECTED[script][1] == "none":
        assert outbox == []
    else:
        assert "HO-40211" in outbox[0].body and outbox[0].to_address == "robin.vale@example.net"


EXPECTED_TYPES = {"question": "Question", "resolved": "Resolved", "resolve_case": "ResolveCase",
                  "unable": "UnableToResolve", "no_action": "NoAction", "needs_review": "Resolved"}


@pytest.mark.parametrize("script", sorted(FAILING))
def test_failures_route_with_the_reason_and_send_nothing(store, script):
    agent = agent_for(store, suite_catalog(refund_request=scripted(script)))
    result = agent.process_email(mail(REFUND, 1))
    assert_outcome(store, result, ("route_to_rep", "none", CaseStatus.WITH_REPRESENTATIVE))
    assert FAILING[script] in result.outcome.note
    assert store.outbox(result.case_id) == [] and store.case(result.case_id).queue == "returns-desk"


def test_timeout_routes_without_waiting_for_the_agent(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("slow", timeout=0.3)))
    started = time.perf_counter()
    result = agent.process_email(mail(REFUND, 1))
    assert time.perf_counter() - started < SCRIPTS.SLOW_SECONDS / 2  # the call was not waited for
    assert_outcome(store, result, ("route_to_rep", "none", CaseStatus.WITH_REPRESENTATIVE))
    assert "no answer within 0.3 s" in result.outcome.note
    [call] = calls(store, result.case_id)
    assert call["answer"] is None and call["error"] == "no answer within 0.3 s"


def test_unloadable_graph_routes(store):
    ref = CustomAgentRef(graph="scripted_agents:nothing_here").found_in(SUITE)
    result = agent_for(store, suite_catalog(refund_request=ref)).process_email(mail(REFUND, 1))
    assert "has no nothing_here" in result.outcome.note and result.outcome.action == "route_to_rep"


def test_question_then_the_answer_calls_the_agent_again_on_the_same_conversation(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("which_item")))
    first = agent.process_email(mail("Hello, I returned my order HO-40211 and I want the refund.", 1))
    assert first.outcome.action == "request_info"
    second = agent.process_email(mail("Only the boots, please.", 2, subject="Re: Refund for my rain jacket",
                                      in_reply_to=store.outbox(first.case_id)[0].message_id))
    assert (second.case_id, second.outcome.action, second.outcome.status) == (
        first.case_id, "send_resolution", CaseStatus.RESOLUTION_PROPOSED)
    assert "refunded the boots of order HO-40211" in store.outbox(first.case_id)[-1].body
    conversations = {c["conversation_id"] for c in calls(store, first.case_id)}
    assert conversations == {conversation_id_for("CAS-000001")} and len(calls(store, first.case_id)) == 2


def test_needs_review_under_full_then_accepted(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("needs_review")))
    result = agent.process_email(mail(REFUND, 1))
    assert result.pending_review is not None and result.outcome.outbound == "drafted"
    answered = agent.answer_review(result.case_id, [{"type": "accept", "args": None}])
    assert (answered.outcome.outbound, answered.outcome.status) == ("sent", CaseStatus.RESOLUTION_PROPOSED)


def test_resolve_case_under_confirm_resolves_only_once_the_draft_is_sent(store):
    agent = agent_for(store, suite_catalog(exchange_request=scripted("resolve_case")))
    result = agent.process_email(mail(EXCHANGE, 1, subject="Exchange the fleece"))
    assert (result.outcome.outbound, result.outcome.status) == ("drafted", CaseStatus.PENDING_REVIEW)
    [draft] = store.outbox(result.case_id)
    assert (draft.status, draft.status_after_send) == (OutboxStatus.PENDING_REVIEW, CaseStatus.RESOLVED)
    answered = agent.answer_review(result.case_id, [{"type": "accept", "args": None}])
    assert (answered.outcome.outbound, answered.outcome.status) == ("sent", CaseStatus.RESOLVED)


def test_a_question_beyond_the_information_request_limit_is_routed(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("question")))
    first = agent.process_email(mail(REFUND, 1))
    for n in (2, 3):
        last = agent.process_email(mail("I still don't know what you mean.", n, subject="Re: Refund for my rain jacket",
                                        in_reply_to=store.outbox(first.case_id)[-1].message_id))
    assert last.outcome.action == "route_to_rep" and "information requests already sent" in last.outcome.note
    assert len([o for o in store.outbox(first.case_id) if o.status == OutboxStatus.SENT]) == 2


def test_disabled_automation_routes_before_any_call(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("resolved")), returns="disabled")
    result = agent.process_email(mail(REFUND, 1))
    assert result.outcome.action == "route_to_rep" and calls(store, result.case_id) == []


def test_the_call_is_on_the_timeline(store):
    agent = agent_for(store, suite_catalog(refund_request=scripted("resolved")))
    result = agent.process_email(mail(REFUND, 1))
    [entry] = [e for e in case_timeline(store, result.case_id) if e.what == CUSTOM_AGENT_CALL]
    assert entry.detail.startswith("graph scripted_agents:resolved answered Resolved in ")
    assert "We have refunded order HO-40211 in full." in entry.detail


# --- get_case ---------------------------------------------------------------------------------------

def nosy_answer(state: dict[str, Any]) -> dict[str, Any]:
    """Reads its own case, then tries to read another one."""
    get_case(state["caseId"])
    get_case("CAS-000001")
    return {"responseType": "NoAction"}


nosy = StateGraph(dict).add_node("answer", nosy_answer).add_edge(START, "answer").add_edge("answer", END).compile()


def test_get_case_shows_only_the_case_the_agent_was_called_for(store):
    catalog = suite_catalog(refund_request=scripted("resolved"), exchange_request=CustomAgentRef(
        graph="tests.test_custom_agents:nosy"))
    agent = agent_for(store, catalog)
    agent.process_email(mail(REFUND, 1))
    result = agent.process_email(mail(EXCHANGE, 2, subject="Exchange the fleece", sender="sam@example.org"))
    assert result.outcome.action == "route_to_rep"
    assert "CaseAccessError: this custom agent was called for another case" in result.outcome.note


def test_get_case_outside_a_call_reads_the_store_of_the_context(store, db_url):
    agent_for(store, suite_catalog()).process_email(mail(REFUND, 1))
    context = Context(db_url=db_url, catalog_path=str(SUITE / "catalog.yaml"))
    view = get_case("CAS-000001", context).as_json()
    assert view["number"] == "CAS-000001" and view["intent"] == "refund_request"
    assert view["fields"] == {"order_number": "HO-40211"}
    assert view["customer"] == {"email": "robin.vale@example.net", "name": "Robin Vale"}
    assert [t["text"] for t in view["newTexts"]] == [REFUND.strip()]
    assert set(view) == {"number", "status", "intent", "fields", "customer", "newTexts"}
    assert get_case("1", context).number == "CAS-000001"
    with pytest.raises(CaseAccessError):
        get_case("CAS-000002", context)
    assert get_case_tool.name == "get_case" and "case_id" in get_case_tool.args


# --- over HTTP: a plain JSON endpoint on loopback --------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_agents(monkeypatch, db_url) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server on 127.0.0.1 with the case route (``agent_graph.server_app``) and scripted agents that
    read the case through it over HTTP, as an agent in another process would. Yields its URL and the
    requests the agents received."""
    monkeypatch.setenv("CASE_AGENT_DB", db_url)
    monkeypatch.setenv("CASE_AGENT_CATALOG", str(SUITE / "catalog.yaml"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    received: list[dict[str, Any]] = []

    async def agent(request: Request) -> JSONResponse:
        payload = await request.json()
        received.append(payload)
        async with httpx.AsyncClient() as client:
            case = (await client.get(f"{base}/cases/{payload['caseId']}")).json()
        script = request.path_params["script"]
        if script == "slow":
            await asyncio.sleep(SCRIPTS.SLOW_SECONDS)
            script = "resolved"
        if script == "not_an_answer":
            return JSONResponse(["not", "an", "answer"])
        if script == "server_error":
            return JSONResponse({"detail": "boom"}, status_code=500)
        return JSONResponse(SCRIPTS.answer_for(script, case))

    app = Starlette(routes=[Route("/agents/{script}", agent, methods=["POST"]), Mount("/", app=case_routes)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the test HTTP server did not start within 10 s"
    yield base, received
    server.should_exit = True
    thread.join(5)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_each_response_type_over_http(store, http_agents, script):
    base, received = http_agents
    ref = CustomAgentRef(http=f"{base}/agents/{script}", timeout=5)
    result = agent_for(store, suite_catalog(refund_request=ref)).process_email(mail(REFUND, 1))
    assert_outcome(store, result, EXPECTED[script])
    assert received == [{"caseId": "CAS-000001", "conversationId": conversation_id_for("CAS-000001")}]
    [call] = calls(store, result.case_id)
    assert call["agent"] == f"http {base}/agents/{script}" and call["answer"]["responseType"] == EXPECTED_TYPES[script]


@pytest.mark.parametrize(("script", "reason"), [("slow", "no answer within 0.5 s"),
                                                ("not_an_answer", "invalid answer"),
                                                ("server_error", "HTTPStatusError")])
def test_http_failures_route_with_the_reason(store, http_agents, script, reason):
    base, _ = http_agents
    ref = CustomAgentRef(http=f"{base}/agents/{script}", timeout=0.5)
    result = agent_for(store, suite_catalog(refund_request=ref)).process_email(mail(REFUND, 1))
    assert_outcome(store, result, ("route_to_rep", "none", CaseStatus.WITH_REPRESENTATIVE))
    assert reason in result.outcome.note and store.outbox(result.case_id) == []


def test_http_endpoint_that_nobody_serves_routes(store):
    ref = CustomAgentRef(http=f"http://127.0.0.1:{free_port()}/agent", timeout=2)
    result = agent_for(store, suite_catalog(refund_request=ref)).process_email(mail(REFUND, 1))
    assert result.outcome.action == "route_to_rep" and "ConnectError" in result.outcome.note


def test_case_route_serves_one_case_and_refuses_unknown_ones(store, http_agents):
    base, _ = http_agents
    agent_for(store, suite_catalog()).process_email(mail(REFUND, 1))
    case = httpx.get(f"{base}/cases/CAS-000001").json()
    assert case["number"] == "CAS-000001" and case["fields"] == {"order_number": "HO-40211"}
    assert httpx.get(f"{base}/cases/CAS-000009").status_code == 404
    assert httpx.get(f"{base}/cases").status_code == 404


# --- the replay suite -------------------------------------------------------------------------------

def test_custom_agent_suite_succeeds_fully_and_safely():
    report = run_suite(SUITE)
    failures = [(t.thread, t.turn, [f.model_dump() for f in t.failures]) for t in report.results if not t.ok]
    assert report.threads >= 8 and report.errors == [] and failures == [] and report.unsafe == 0


def test_check_catalog_lists_agents_and_warns_about_one_that_does_not_load(tmp_path):
    from typer.testing import CliRunner

    from agent_graph.cli import app

    shown = CliRunner().invoke(app, ["check-catalog", str(REPO / "examples/catalog.yaml")])
    assert shown.exit_code == 0 and "custom agent: refund_request -> graph refund_agent:graph (timeout 10 s)" in shown.stdout
    assert "warning" not in shown.stdout
    typo = tmp_path / "catalog.yaml"
    typo.write_text((REPO / "examples/catalog.yaml").read_text().replace("refund_agent:graph", "refund_agnt:graph"))
    warned = CliRunner().invoke(app, ["check-catalog", str(typo)])
    assert warned.exit_code == 0 and "agent module refund_agnt is not on the Python path" in warned.stdout


def test_the_subagent_api_reports_what_the_custom_agent_led_to(store):
    from agent_graph.subagent import CaseRequest, LocalCaseSubAgent

    for n, (script, expected) in enumerate([("resolve_case", ResponseType.RESOLVE_CASE),
                                            ("question", ResponseType.QUESTION),
                                            ("unable", ResponseType.UNABLE_TO_RESOLVE)], start=1):
        subagent = LocalCaseSubAgent(agent_for(store, suite_catalog(refund_request=scripted(script))))
        result = subagent.handle(CaseRequest(email=mail(REFUND, n, sender=f"c{n}@example.net").decode()))
        assert result.response_type is expected and not result.needs_review
