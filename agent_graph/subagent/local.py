"""The sub-agent in process: :class:`LocalCaseSubAgent` around a :class:`~agent_graph.service.CaseAgent`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from agent_graph.context import Context
from agent_graph.domain import CaseStatus
from agent_graph.intake.parsing import parse_email
from agent_graph.mailroom import receive
from agent_graph.service import CaseAgent, TurnResult, open_checkpointer
from agent_graph.store import Case, CaseStore
from agent_graph.subagent.contract import (
    CaseRequest,
    CaseResult,
    nothing_due_note,
    outside_any_run,
    result_from_outcome,
    state_result,
)
from agent_graph.subagent.mailroom import case_snapshot, email_source, find_case_ref

log = logging.getLogger(__name__)

def _result_from_turn(turn: TurnResult, store: CaseStore) -> CaseResult:
    outcome = turn.outcome
    if outcome.status is None and turn.case_id is not None:
        outcome = outcome.model_copy(update={"status": CaseStatus(store.case(turn.case_id).status)})
    return result_from_outcome(outcome, case_id=turn.case_id, case_number=turn.case_number,
                               review_request=turn.pending_review,
                               language=store.case(turn.case_id).language if turn.case_id is not None else None)


class LocalCaseSubAgent:
    """The sub-agent over a :class:`CaseAgent` in this process."""

    def __init__(self, agent: CaseAgent):
        self.agent = agent

    def handle(self, request: CaseRequest) -> CaseResult:
        log.info("sub-agent request: case=%s email=%s", request.case, request.email is not None)
        return outside_any_run(lambda: self._handle(request))

    __call__ = handle

    def _handle(self, request: CaseRequest) -> CaseResult:
        env = self.agent.env
        case = find_case_ref(env.store, request.case) if request.case is not None else None
        if request.email is None:
            assert case is not None
            return self._due_on(case)
        raw = email_source(request.email, env.catalog.mailbox, env.clock.now())
        if case is not None:  # store it on that case first: process_email then finds it there
            email = parse_email(raw, own_addresses=[env.catalog.mailbox])
            with env.store.unit_of_work():
                receive(env.catalog, env.store, env.clock, email, case=case)
        return _result_from_turn(self.agent.process_email(raw), env.store)

    def _due_on(self, case: Case) -> CaseResult:
        turns = self.agent.tick([case.id])
        if turns:
            return _result_from_turn(turns[0], self.agent.env.store)
        snapshot = case_snapshot(self.agent.env, self.agent.env.store.case(case.id))
        return state_result(snapshot, nothing_due_note(snapshot.status), self.agent.pending_review(case.id))


@contextmanager
def open_subagent(context: Context) -> Iterator[LocalCaseSubAgent]:
    """A sub-agent whose pauses are checkpointed beside a SQLite store, as the CLI's are:
    a draft it leaves can then be answered with ``case-agent review``."""
    with open_checkpointer(context.db_url) as checkpointer:
        yield LocalCaseSubAgent(CaseAgent(context, checkpointer))
