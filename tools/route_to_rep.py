"""route_to_rep: hand a case to the representatives' queue of its line of business."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent_graph.context import Services
from agent_graph.domain import CaseStatus, OutboxStatus
from agent_graph.store import Case


class RouteToRepArgs(BaseModel):
    case_id: int
    reason: str = Field(min_length=1, description="why a person must take over, shown to the representative")


def route_to_rep(env: Services, args: RouteToRepArgs) -> Case:
    """Any draft still waiting for review is superseded: the representative now owns the case."""
    case = env.store.case(args.case_id)
    lob = env.catalog.lob(case.lob)
    for draft in env.store.pending_drafts(case.id):
        assert draft.id is not None, "a pending draft is stored"
        env.store.set_outbox(draft.id, status=OutboxStatus.SUPERSEDED)
    return env.store.update_case(case.id, env.clock.now(), status=CaseStatus.WITH_REPRESENTATIVE,
                                 queue=lob.queue if lob else None, routed_reason=args.reason,
                                 status_before_review=None)
