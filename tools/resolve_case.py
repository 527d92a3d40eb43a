"""resolve_case: set a case Resolved — only on the customer's acceptance of a proposed resolution."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent_graph.context import Services
from agent_graph.domain import CaseStatus, Direction
from agent_graph.errors import PolicyViolation
from agent_graph.store import Case


class ResolveCaseArgs(BaseModel):
    case_id: int
    accepting_message_pk: int = Field(description="the customer's email that accepts the proposed resolution")


def resolve_case(env: Services, args: ResolveCaseArgs) -> Case:
    case = env.store.case(args.case_id)
    if case.status == CaseStatus.RESOLVED:
        return case
    proposed = case.status == CaseStatus.RESOLUTION_PROPOSED or (
        case.status == CaseStatus.PENDING_REVIEW and case.status_before_review == CaseStatus.RESOLUTION_PROPOSED)
    if not proposed:
        raise PolicyViolation(f"case {case.number} is '{case.status}': only a proposed resolution can be accepted")
    message = env.store.message(args.accepting_message_pk)
    is_customer_reply = (
        message.case_id == case.id and message.direction == Direction.INBOUND and not message.automatic_reason
        and message.from_address.lower() == case.customer_email.lower()
        and (case.last_outbound_at is None or message.at >= case.last_outbound_at)
    )
    if not is_customer_reply:
        raise PolicyViolation(f"message {message.id} is not the customer's reply to the proposed resolution of "
                              f"case {case.number}")
    return env.store.update_case(case.id, env.clock.now(), status=CaseStatus.RESOLVED, status_before_review=None)
