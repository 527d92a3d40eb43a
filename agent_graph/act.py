"""Acting on a case by API: ``case-agent act CASE --action resolve|enrich``, the same for other agents.

``resolve`` runs the resolution path now (the intent's custom agent, or its template) with an
automation level for this run only; ``enrich`` reads a stored message of the case (``source``, its
Message-ID) into the case's fields. Each runs once per (case, action, source): a repeated request
answers that it was already done (``nodes/act.py``).

The graph does the work (``trigger: resolve | enrich`` on the case's thread), so the LangGraph
server takes the same input: ``{"trigger": "resolve", "case_id": 12, "automation": "full"}``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from agent_graph.catalog import AutomationLevel
from agent_graph.errors import CaseAgentError
from agent_graph.nodes.intake import act_source_message
from agent_graph.service import CaseAgent, TurnResult
from agent_graph.state import Trigger, run_input
from agent_graph.store import Case, CaseStore
from agent_graph.subagent.contract import CaseResult, MailroomResult, result_from_outcome
from agent_graph.subagent.local import LocalCaseSubAgent
from agent_graph.subagent.mailroom import find_case_ref
from agent_graph.subagent.remote import RemoteCaseSubAgent


class ActAction(StrEnum):
    RESOLVE = "resolve"
    ENRICH = "enrich"


class ActError(CaseAgentError):
    """An act that cannot run as asked (unknown case, a source that is not the case's)."""


class ActRequest(BaseModel):
    case: str | int = Field(description="a case number (CAS-000123) or id")
    action: ActAction
    automation: AutomationLevel | None = Field(default=None, description="for this run only (resolve)")
    source: str | None = Field(default=None, description="Message-ID of a stored message of the case; "
                                                         "required by enrich")


def act_input(store: CaseStore, request: ActRequest) -> tuple[Case, dict[str, object]]:
    """The case and the graph input of an act, checked before anything runs."""
    case = find_case_ref(store, request.case)
    trigger = Trigger(request.action.value)
    graph_input = run_input(trigger=trigger, case_id=case.id, source=request.source, automation=request.automation)
    try:
        act_source_message(store, case.id, trigger, graph_input["source"])  # type: ignore[arg-type]
    except ValueError as exc:
        raise ActError(f"{case.number}: {exc}") from None
    return case, graph_input


def act(agent: CaseAgent, request: ActRequest) -> TurnResult:
    """Run the act on the agent's store, on the case's thread, once the case is free (the CLI's way)."""
    case, graph_input = act_input(agent.env.store, request)
    with agent.slots.held():
        agent._wait_for_case(case, graph_input)  # registered like any run: recovery re-runs a crashed act
        return agent._run(case, graph_input)


def act_through(subagent: LocalCaseSubAgent | RemoteCaseSubAgent, request: ActRequest) -> CaseResult:
    """The sub-agent API's act: in process, or on a LangGraph server (the ``mailroom`` graph looks the
    case up; the ``case_agent`` graph runs the act on the case's thread and checks the source)."""
    if isinstance(subagent, LocalCaseSubAgent):
        turn = act(subagent.agent, request)
        return result_from_outcome(turn.outcome, case_id=turn.case_id, case_number=turn.case_number,
                                   review_request=turn.pending_review)
    located = MailroomResult.model_validate(subagent.mailroom.invoke({"case": str(request.case)},
                                                                     context=subagent.context))
    if located.case_record is None or located.thread_id is None:
        raise ActError(f"no case {request.case!r} on the server: {located.note}")
    snapshot = located.case_record
    return subagent._run(snapshot, located.thread_id, run_input(
        trigger=Trigger(request.action.value), case_id=snapshot.id, source=request.source,
        automation=request.automation))
