"""The sub-agent on a LangGraph server: :class:`RemoteCaseSubAgent` calls the server's ``mailroom``
graph, then its ``case_agent`` graph on the case's thread, through ``RemoteGraph``."""

from __future__ import annotations

import logging
from typing import Any

from agent_graph.domain import Action, Outbound
from agent_graph.review import pending_request
from agent_graph.state import Trigger, TurnOutcome, run_input
from agent_graph.subagent.contract import (
    AGENT_GRAPH_ID,
    MAILROOM_GRAPH_ID,
    CaseRequest,
    CaseResult,
    CaseSnapshot,
    MailroomResult,
    nothing_due_note,
    outside_any_run,
    result_from_outcome,
    state_result,
)

log = logging.getLogger(__name__)

class RemoteCaseSubAgent:
    """The sub-agent on a LangGraph server (``langgraph dev`` / ``make serve``), through ``RemoteGraph``.

    ``context`` is sent with every run (``catalog_path``, ``db_url``, ``automation``); leave it out
    to use the server's environment (``CASE_AGENT_DB``, ``CASE_AGENT_CATALOG``), which is also what
    Agent Inbox's resumes get, as it sends no context.
    """

    def __init__(self, url: str | None = None, *, context: dict[str, Any] | None = None,
                 sync_client: Any = None, agent_graph_id: str = AGENT_GRAPH_ID,
                 mailroom_graph_id: str = MAILROOM_GRAPH_ID):
        from langgraph.pregel.remote import RemoteGraph

        self.context = context
        self.mailroom = RemoteGraph(mailroom_graph_id, url=url, sync_client=sync_client)
        self.agent = RemoteGraph(agent_graph_id, url=url, sync_client=sync_client)

    def handle(self, request: CaseRequest) -> CaseResult:
        log.info("remote sub-agent request: case=%s email=%s", request.case, request.email is not None)
        return outside_any_run(lambda: self._handle(request))

    __call__ = handle

    def _handle(self, request: CaseRequest) -> CaseResult:
        payload = request.model_dump(mode="json", by_alias=True, exclude_none=True)
        located = MailroomResult.model_validate(self.mailroom.invoke(payload, context=self.context))
        snapshot = located.case_record
        if snapshot is None or located.thread_id is None:
            return result_from_outcome(TurnOutcome(action=Action.IGNORE, note=located.note), case_id=None,
                                       case_number=None)
        if located.duplicate:
            return state_result(snapshot, located.note)
        if located.message_pk is not None:
            return self._run(snapshot, located.thread_id, run_input(message_pk=located.message_pk, case_id=snapshot.id))
        if located.follow_up_due:
            return self._run(snapshot, located.thread_id, run_input(trigger=Trigger.TICK, case_id=snapshot.id))
        return state_result(snapshot, nothing_due_note(snapshot.status))

    def _run(self, snapshot: CaseSnapshot, thread_id: str, graph_input: dict[str, Any]) -> CaseResult:
        output = self.agent.invoke(graph_input, {"configurable": {"thread_id": thread_id}}, context=self.context,
                                   version="v2")
        outcome = TurnOutcome.model_validate(output.value.get("outcome") or {"action": None, "status": snapshot.status})
        review = pending_request(output.interrupts)
        if review is not None:
            outcome = outcome.model_copy(update={"outbound": Outbound.DRAFTED})
        return result_from_outcome(outcome, case_id=snapshot.id, case_number=snapshot.number, review_request=review,
                                   language=output.value.get("language") or snapshot.language)
