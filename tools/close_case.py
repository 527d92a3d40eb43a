"""close_case: close a case whose customer stayed silent through every follow-up."""

from __future__ import annotations

from pydantic import BaseModel

from agent_graph.context import Services
from agent_graph.domain import CaseStatus
from agent_graph.errors import PolicyViolation
from agent_graph.store import Case


class CloseCaseArgs(BaseModel):
    case_id: int


def close_case(env: Services, args: CloseCaseArgs) -> Case:
    case = env.store.case(args.case_id)
    follow_up = env.catalog.follow_up
    if follow_up is None or case.follow_ups < follow_up.max_follow_ups:
        raise PolicyViolation(f"case {case.number} has had {case.follow_ups} follow-ups; it closes only after "
                              f"the catalog's last follow-up")
    if case.last_outbound_at is None or env.clock.now() - case.last_outbound_at < follow_up.close_after_last:
        raise PolicyViolation(f"case {case.number}: close_after_last has not elapsed since the last follow-up")
    return env.store.update_case(case.id, env.clock.now(), status=CaseStatus.CLOSED)
