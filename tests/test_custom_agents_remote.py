"""Custom agents on a real ``langgraph dev`` server, called through ``RemoteGraph`` (formats.md §1
``agent.remote``): every response type, one server thread per case, and the server's case route.

The server serves the scripted agents of ``evals/custom_agents/scripted_agents.py`` as graphs and
``agent_graph/server_app.py`` as its HTTP app; the agents read the case with ``get_case`` from the
server's store (``CASE_AGENT_DB``), the same SQLite file the case agent in this process writes.
When ``langgraph dev`` cannot start within the bounded time, the tests are skipped with its log.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agent_graph.act import ActRequest, act_through
from agent_graph.catalog import CustomAgentRef
from agent_graph.custom_agent import conversation_id_for
from agent_graph.domain import CaseStatus
from agent_graph.store import CaseStore
from agent_graph.subagent import RemoteCaseSubAgent, ResponseType
from tests.conftest import REPO
from tests.langgraph_dev import langgraph_dev
from tests.test_custom_agents import (
    EXCHANGE,
    EXPECTED,
    EXPECTED_TYPES,
    REFUND,
    SCRIPTS,
    SUITE,
    agent_for,
    assert_outcome,
    calls,
    mail,
    suite_catalog,
)

SERVED = [*sorted(EXPECTED), "which_item", "invalid", "slow"]


@dataclass
class Server:
    url: str
    db_url: str


def server_config() -> dict[str, Any]:
    return {
        "dependencies": [str(REPO)],
        "graphs": {**{f"scripted_{name}": f"{SUITE / 'scripted_agents.py'}:{name}" for name in SERVED},
                   "case_agent": f"{REPO / 'agent_graph' / 'graph.py'}:graph",
                   "mailroom": f"{REPO / 'agent_graph' / 'subagent' / 'mailroom.py'}:mailroom_graph"},
        "http": {"app": f"{REPO / 'agent_graph' / 'server_app.py'}:app"},
        "env": {},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("langgraph-dev-agents")
    db_url = f"sqlite:///{folder / 'cases.db'}"
    CaseStore(db_url).close()  # the schema exists before the server reads it
    variables = {"CASE_AGENT_DB": db_url, "CASE_AGENT_CATALOG": str(SUITE / "catalog.yaml"),
                 "CASE_AGENT_BRAIN": "offline"}
    with ExitStack() as stack:
        try:
            url, _ = stack.enter_context(langgraph_dev(folder, server_config(), variables))
        except (FileNotFoundError, RuntimeError) as exc:
            warnings.warn(f"langgraph dev did not start: {exc}", stacklevel=1)
            pytest.skip(f"SKIPPED LOUDLY: langgraph dev did not start, no RemoteGraph test ran: {exc}")
        yield Server(url=url, db_url=db_url)


@pytest.fixture
def store(server: Server) -> Iterator[CaseStore]:
    opened = CaseStore(server.db_url)
    yield opened
    opened.close()


def remote(server: Server, name: str, timeout: float = 30) -> CustomAgentRef:
    return CustomAgentRef(remote={"url": server.url, "graph": f"scripted_{name}"}, timeout=timeout)


@pytest.mark.parametrize(("n", "script"), list(enumerate(sorted(EXPECTED), start=100)))
def test_each_response_type_through_remote_graph(server, store, n, script):
    agent = agent_for(store, suite_catalog(refund_request=remote(server, script)))
    result = agent.process_email(mail(REFUND, n, sender=f"customer{n}@example.net"))
    assert_outcome(store, result, EXPECTED[script])
    [call] = calls(store, result.case_id)
    assert call["agent"] == f"remote scripted_{script} at {server.url}"
    assert call["answer"]["responseType"] == EXPECTED_TYPES[script]
    thread = httpx.get(f"{server.url}/threads/{conversation_id_for(result.case_number)}").json()
    assert thread["values"]["caseId"] == result.case_number  # the conversation is the server's thread


def test_the_conversation_is_one_server_thread_per_case(server, store):
    agent = agent_for(store, suite_catalog(refund_request=remote(server, "which_item")))
    first = agent.process_email(mail("Hello, I returned my order HO-40211 and I want the refund.", 200,
                                     sender="dana@example.net"))
    assert first.outcome.action == "request_info"
    second = agent.process_email(mail("Only the jacket, please.", 201, subject="Re: Refund for my rain jacket",
                                      sender="dana@example.net",
                                      in_reply_to=store.outbox(first.case_id)[0].message_id))
    assert (second.outcome.action, second.outcome.status) == ("send_resolution", CaseStatus.RESOLUTION_PROPOSED)
    assert "refunded the jacket of order HO-40211" in store.outbox(first.case_id)[-1].body
    thread_id = conversation_id_for(first.case_number)
    assert {c["conversation_id"] for c in calls(store, first.case_id)} == {thread_id}
    runs = httpx.get(f"{server.url}/threads/{thread_id}/runs").json()
    assert len(runs) == 2


@pytest.mark.parametrize(("n", "script", "timeout", "reason"), [
    (300, "invalid", 30, "invalid answer"),
    (301, "slow", 1, "no answer within 1 s"),
])
def test_remote_failures_route_and_send_nothing(server, store, n, script, timeout, reason):
    agent = agent_for(store, suite_catalog(refund_request=remote(server, script, timeout)))
    result = agent.process_email(mail(REFUND, n, sender=f"customer{n}@example.net"))
    assert_outcome(store, result, ("route_to_rep", "none", CaseStatus.WITH_REPRESENTATIVE))
    assert reason in result.outcome.note and store.outbox(result.case_id) == []


def test_unknown_remote_graph_routes(server, store):
    agent = agent_for(store, suite_catalog(refund_request=remote(server, "nobody")))
    result = agent.process_email(mail(REFUND, 400, sender="customer400@example.net"))
    assert result.outcome.action == "route_to_rep" and "nothing was sent" in result.outcome.note


def test_server_case_route(server, store):
    agent = agent_for(store, suite_catalog())
    result = agent.process_email(mail(REFUND, 500, sender="Lee Park <lee@example.net>"))
    case = httpx.get(f"{server.url}/cases/{result.case_number}").json()
    assert case["number"] == result.case_number and case["customer"] == {"email": "lee@example.net", "name": "Lee Park"}
    assert case["fields"] == {"order_number": "HO-40211"} and case["newTexts"][0]["text"] == REFUND.strip()
    assert httpx.get(f"{server.url}/cases/CAS-999999").status_code == 404
    assert SCRIPTS.answer_for("resolved", case)["message"] == "We have refunded order HO-40211 in full."


def test_act_on_the_server_through_the_remote_subagent(server, store):
    """The act goes to the server's case_agent graph (trigger resolve) on the case's thread."""
    agent = agent_for(store, suite_catalog())
    first = agent.process_email(mail(EXCHANGE, 600, subject="Exchange the fleece", sender="ana@example.org"))
    assert first.outcome.outbound == "drafted"  # exchanges is confirm
    subagent = RemoteCaseSubAgent(server.url, context={"db_url": server.db_url,
                                                       "catalog_path": str(SUITE / "catalog.yaml")})
    request = ActRequest(case=first.case_number, action="resolve", automation="full")
    result = act_through(subagent, request)
    assert (result.response_type, result.needs_review, result.status) == (
        ResponseType.RESOLVED, False, CaseStatus.RESOLUTION_PROPOSED)
    assert act_through(subagent, request).response_type is ResponseType.NO_ACTION
