"""request_info: draft the email asking the customer for exactly what the case still lacks."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent_graph.context import Services
from agent_graph.domain import Action
from agent_graph.errors import PolicyViolation
from agent_graph.store import OutboxItem
from tools.draft_email import DraftEmailArgs, draft_email


class RequestInfoArgs(BaseModel):
    case_id: int
    missing: list[str] = Field(default_factory=list, description="required attributes to ask for; empty when the intent is unknown")
    idempotency_key: str = Field(min_length=1)
    for_review: bool
    message: str | None = Field(default=None, description="a custom agent's question, asked in its own words "
                                                          "(missing may then be empty)")


def request_info(env: Services, args: RequestInfoArgs) -> OutboxItem:
    """Refuses to ask for anything but the intent's missing required attributes, or beyond the limit."""
    with env.store.unit_of_work(read_only=True):
        existing = env.store.outbox_by_key(args.idempotency_key)
        case = env.store.case(args.case_id)
        present = set(env.store.current_fields(case.id))
    if existing is not None:
        return existing
    limit = env.catalog.limits.max_info_requests
    if case.info_requests >= limit:
        raise PolicyViolation(f"case {case.number} already had {case.info_requests} information requests "
                              f"(limit {limit}); route it to a representative instead")
    intent = env.catalog.intent(case.intent)
    if intent is not None:
        allowed = {a.name for a in intent.required_attributes} - present
        extra = set(args.missing) - allowed
        if extra or not (args.missing or args.message):
            raise PolicyViolation(f"case {case.number} can only be asked for its missing required attributes "
                                  f"{sorted(allowed)}, not {sorted(extra) or 'nothing'}")
    elif args.missing:
        raise PolicyViolation(f"case {case.number} has no intent: there are no attributes to ask for")
    return draft_email(env, DraftEmailArgs(case_id=case.id, action=Action.REQUEST_INFO,
                                           idempotency_key=args.idempotency_key, missing=args.missing,
                                           for_review=args.for_review, message=args.message))
