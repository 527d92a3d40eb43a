"""The agent behind a real ``langgraph dev`` server: the HTTP flow, Agent Inbox's resume, RemoteGraph.

The fixture starts ``langgraph dev`` on a free port in a temporary folder (its ``.langgraph_api/``
state and its log stay out of the repository), waits for ``GET /ok`` and stops the server's
process group by its PID. The server's graphs are the repository's ``langgraph.json``, with paths
made absolute; its store and catalog come from the environment (``CASE_AGENT_DB``,
``CASE_AGENT_CATALOG``), since Agent Inbox resumes without a run context.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command

from agent_graph.domain import CaseStatus, Direction, OutboxStatus
from agent_graph.intake.building import build_email
from agent_graph.service import thread_id_for
from agent_graph.store import CaseStore
from agent_graph.subagent import CaseRequest, RemoteCaseSubAgent, ResponseType
from tests.conftest import REPO, T0
from tests.langgraph_dev import langgraph_dev

DEMO_CATALOG = REPO / "examples" / "catalog.yaml"
# The demo catalog (examples/catalog.yaml): billing is `confirm`, orders `full`.
DOUBLE_CHARGE = ("Hello,\n\nI've been charged twice for the same order, ORD-640385: two payments of $899.00 on my "
                 "credit card statement. Please fix this.\n\nKenji Watanabe")
LATE_FRIDGE = ("Hi,\n\nMy new fridge was meant to be delivered on Saturday and it never came. "
               "The order number is ORD-205117.\n\nElena")
REFUND_NO_ORDER = ("Hello,\n\nThe coffee machine I bought leaks water all over the counter every time I use it. "
                   "I'd like a refund to my original card, please.\n\nAmira Haddad")
INBOX_FLAGS = {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True}


@dataclass
class Server:
    url: str
    db_url: str
    catalog_path: str
    log: Path
    http: httpx.Client

    @property
    def context(self) -> dict[str, Any]:
        return {"db_url": self.db_url, "catalog_path": self.catalog_path}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}\n{self.log_tail()}"
        return response.json()

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def mail(body: str, *, subject: str, n: int, sender: str, to: str = "support@pinecrest.example",
         in_reply_to: str | None = None) -> bytes:
    return build_email(from_=sender, to=to, subject=subject, body=body, message_id=f"server-{n}@customer.example",
                       date=T0, in_reply_to=in_reply_to, references=[in_reply_to] if in_reply_to else [])


def absolute_config() -> dict[str, Any]:
    """The repository's langgraph.json with its paths made absolute, so the server can run elsewhere."""
    config = json.loads((REPO / "langgraph.json").read_text())
    assert {"case_agent", "mailroom"} <= set(config["graphs"]), "langgraph.json must export case_agent and mailroom"
    config["dependencies"] = [str((REPO / dep).resolve()) for dep in config.get("dependencies", [])]
    graphs = {}
    for name, spec in config["graphs"].items():
        target, variable = spec.rsplit(":", 1)
        graphs[name] = f"{(REPO / target).resolve()}:{variable}" if target.endswith(".py") else spec
    config["graphs"] = graphs
    if "http" in config:
        target, variable = config["http"]["app"].rsplit(":", 1)
        config["http"]["app"] = f"{(REPO / target).resolve()}:{variable}"
    return config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("langgraph-dev")
    db_url = f"sqlite:///{folder / 'cases.db'}"
    variables = {"CASE_AGENT_DB": db_url, "CASE_AGENT_CATALOG": str(DEMO_CATALOG), "CASE_AGENT_BRAIN": "offline",
                 "REFUND_AGENT_DB": str(folder / "orders.db")}
    with langgraph_dev(folder, absolute_config(), variables) as (url, log), \
            httpx.Client(base_url=url, timeout=60) as http:
        yield Server(url=url, db_url=db_url, catalog_path=str(DEMO_CATALOG), log=log, http=http)


@pytest.fixture
def store(server: Server) -> Iterator[CaseStore]:
    opened = CaseStore(server.db_url)
    yield opened
    opened.close()


def receive(server: Server, raw: bytes) -> dict[str, Any]:
    """Step 1: the mailroom stores the email and names its case's thread."""
    return server.post("/runs/wait", {"assistant_id": "mailroom", "input": {"email": raw.decode()},
                                      "context": server.context})


def run_agent(server: Server, receipt: dict[str, Any]) -> dict[str, Any]:
    """Step 2: the case agent runs on that thread."""
    return server.post(f"/threads/{receipt['thread_id']}/runs/wait", {
        "assistant_id": "case_agent", "input": {"message_pk": receipt["message_pk"]},
        "context": server.context, "if_not_exists": "create"})


def test_confirm_case_pauses_for_agent_inbox_and_an_edit_resumes_it(server: Server, store: CaseStore):
    receipt = receive(server, mail(DOUBLE_CHARGE, subject="Charged twice", n=101, to="billing@pinecrest.example",
                                   sender="Kenji Watanabe <kenji@example.net>"))
    number = receipt["case_record"]["number"]
    thread_id = receipt["thread_id"]
    assert thread_id == thread_id_for(number) and receipt["case_record"]["lob"] == "billing"

    paused = run_agent(server, receipt)
    (interrupt,) = paused["__interrupt__"]
    (request,) = interrupt["value"]  # a one-element list of HumanInterrupt
    assert request["action_request"]["action"] == "send_email"
    assert set(request["action_request"]["args"]) == {"to", "subject", "body"}
    assert request["config"] == INBOX_FLAGS
    assert request["description"].startswith(f"### Case {number}") and "**Intent:**" in request["description"]

    # What Agent Inbox lists: interrupted threads of the graph, with the interrupt on the thread.
    listed = server.post("/threads/search", {"metadata": {"graph_id": "case_agent"}, "status": "interrupted"})
    assert thread_id in [t["thread_id"] for t in listed]
    thread = server.get(f"/threads/{thread_id}")
    (values,) = thread["interrupts"].values()
    assert values[0]["value"] == [request]

    # Agent Inbox's answer: a list with one HumanResponse, args as strings, and no run context.
    edit = {"type": "edit", "args": {"action": "send_email", "args": {
        "to": request["action_request"]["args"]["to"], "subject": f"Your refund [{number}]",
        "body": "Hello Kenji,\n\nWe have refunded the second payment of $899.00.\n\nPinecrest billing"}}}
    resumed = server.post(f"/threads/{thread_id}/runs/wait", {"assistant_id": "case_agent",
                                                              "command": {"resume": [edit]}})
    assert "__interrupt__" not in resumed
    assert (resumed["outcome"]["action"], resumed["outcome"]["outbound"]) == ("send_resolution", "sent")

    case_id = receipt["case_record"]["id"]
    (item,) = store.outbox(case_id)
    assert (item.status, item.subject, item.edited) == (OutboxStatus.SENT, f"Your refund [{number}]", True)
    assert "refunded the second payment" in item.body
    sent = [m for m in store.messages(case_id) if m.direction == Direction.OUTBOUND]
    assert [m.subject for m in sent] == [f"Your refund [{number}]"]
    assert store.case(case_id).status == CaseStatus.RESOLUTION_PROPOSED

    state = server.get(f"/threads/{thread_id}/state")
    assert state["next"] == [] and state["values"]["outcome"]["status"] == "resolution_proposed"
    assert server.get(f"/threads/{thread_id}")["status"] == "idle"


def test_full_case_runs_to_resolution_proposed_and_its_reply_lands_on_the_same_thread(server: Server,
                                                                                      store: CaseStore):
    sender = "Elena Petrova <elena@example.net>"
    receipt = receive(server, mail(LATE_FRIDGE, subject="Fridge not delivered", n=201, sender=sender))
    done = run_agent(server, receipt)
    assert "__interrupt__" not in done
    assert (done["outcome"]["action"], done["outcome"]["outbound"], done["outcome"]["status"]) == (
        "send_resolution", "sent", "resolution_proposed")
    assert server.get(f"/threads/{receipt['thread_id']}")["status"] == "idle"

    case_id = receipt["case_record"]["id"]
    proposal = [m for m in store.messages(case_id) if m.direction == Direction.OUTBOUND][-1]
    reply = receive(server, mail("Thanks so much, the courier just texted me. All good!", subject="Re: Fridge",
                                 n=202, sender=sender, in_reply_to=proposal.message_id))
    assert reply["thread_id"] == receipt["thread_id"]
    accepted = run_agent(server, reply)
    assert (accepted["outcome"]["action"], accepted["outcome"]["status"]) == ("resolve_case", "resolved")


def test_run_context_overrides_the_automation_level(server: Server):
    receipt = receive(server, mail(LATE_FRIDGE, subject="Fridge still missing", n=251,
                                   sender="Olu Ade <olu@example.net>"))
    paused = server.post(f"/threads/{receipt['thread_id']}/runs/wait", {
        "assistant_id": "case_agent", "input": {"message_pk": receipt["message_pk"]},
        "context": {**server.context, "automation": {"orders": "confirm"}}, "if_not_exists": "create"})
    assert paused["outcome"]["outbound"] == "drafted" and len(paused["__interrupt__"]) == 1


def test_remote_subagent_and_remote_graph_against_the_server(server: Server, store: CaseStore):
    # the clock pinned within the demo order's return window (examples/refund_agent.py)
    subagent = RemoteCaseSubAgent(server.url, context={**server.context, "now": T0.isoformat()})
    sender = "Amira Haddad <amira.haddad@example.net>"  # the refund agent refunds ORD-774031 to her only
    asked = subagent.handle(CaseRequest(email=mail(REFUND_NO_ORDER, subject="Refund for the coffee machine", n=301,
                                                   sender=sender).decode()))
    assert (asked.response_type, asked.needs_review, asked.status) == (
        ResponseType.QUESTION, True, CaseStatus.PENDING_REVIEW)
    assert asked.review_request["config"] == INBOX_FLAGS and asked.thread_id == thread_id_for(asked.case_number)

    case_agent = RemoteGraph("case_agent", url=server.url)
    config = {"configurable": {"thread_id": asked.thread_id}}
    assert case_agent.get_state(config).next == ("review",)
    resumed = case_agent.invoke(Command(resume=[{"type": "accept", "args": None}]), config, context=server.context)
    assert resumed["outcome"]["outbound"] == "sent"
    assert store.case(asked.case_id).status == CaseStatus.AWAITING_CUSTOMER

    looked_up = subagent.handle(CaseRequest(case=asked.case_number))
    assert (looked_up.response_type, looked_up.needs_review, looked_up.status) == (
        ResponseType.NO_ACTION, False, CaseStatus.AWAITING_CUSTOMER)
    answered = subagent.handle(CaseRequest(email={
        "from": sender, "to": "support@pinecrest.example", "subject": f"Re: Refund [{asked.case_number}]",
        "body": "Thank you! It's ORD-774031.\n\nAmira"}))
    assert (answered.response_type, answered.case_number, answered.needs_review) == (
        ResponseType.RESOLVED, asked.case_number, True), answered.summary


def test_studio_can_read_the_graph_schemas(server: Server):
    """Studio renders its forms from these; the context's injected objects must stay out of them."""
    for graph_id in ("case_agent", "mailroom"):
        (assistant,) = server.post("/assistants/search", {"graph_id": graph_id})
        schemas = server.get(f"/assistants/{assistant['assistant_id']}/schemas")
        context = schemas["context_schema"]["properties"]
        assert {"catalog_path", "db_url", "automation"} <= set(context) and "store" not in context


def test_docs_walkthrough_works_as_written(server: Server):
    """docs/server.md's curl walkthrough and langgraph_sdk example, run against this server."""
    text = (REPO / "docs" / "server.md").read_text()
    curl = "\n".join(re.findall(r"```bash\n(.*?)```", between(text, "curl-walkthrough"), flags=re.DOTALL))
    assert curl.count("curl ") >= 5
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", curl.replace("http://localhost:2024", server.url)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "interrupted" in done.stdout and "resolution_proposed" in done.stdout

    sdk = "\n".join(re.findall(r"```python\n(.*?)```", between(text, "sdk-walkthrough"), flags=re.DOTALL))
    done = subprocess.run([sys.executable, "-c", sdk.replace("http://localhost:2024", server.url)],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "awaiting_customer" in done.stdout


def between(text: str, marker: str) -> str:
    return text.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
