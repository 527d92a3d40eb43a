"""draft_email: render an email for a case into the outbox, for review or for sending."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent_graph.catalog import TemplatePurpose
from agent_graph.composing import ComposeContext, compose_email, outbound_message_id
from agent_graph.context import Services
from agent_graph.domain import Action, Actor, CaseStatus, OutboxStatus, effective_status
from agent_graph.errors import PolicyViolation
from agent_graph.interactions import InteractionKind, NewInteraction, log_interaction
from agent_graph.store import Case, Message, NewOutboxItem, OutboxItem
from agent_graph.template_engine import RenderedEmail

PURPOSE_OF_ACTION = {
    Action.REQUEST_INFO: TemplatePurpose.REQUEST_INFO,
    Action.SEND_RESOLUTION: TemplatePurpose.RESOLUTION,
    Action.FOLLOW_UP: TemplatePurpose.FOLLOW_UP,
}


class DraftEmailArgs(BaseModel):
    case_id: int
    action: Action = Field(description="request_info, send_resolution or follow_up")
    idempotency_key: str = Field(min_length=1, description="the same key always yields the same draft")
    missing: list[str] = Field(default_factory=list)
    for_review: bool = Field(description="hold the draft for a representative instead of approving it")
    message: str | None = Field(default=None, description="words already written (a custom agent's) for the "
                                                          "email to say; the brain is not asked")
    resolves: bool = Field(default=False, description="sending the email resolves the case (a custom agent's "
                                                      "ResolveCase); only with send_resolution")


def status_after_sending(action: Action, current: CaseStatus) -> CaseStatus:
    if action is Action.SEND_RESOLUTION:
        return CaseStatus.RESOLUTION_PROPOSED
    if action is Action.FOLLOW_UP and current is CaseStatus.RESOLUTION_PROPOSED:
        return CaseStatus.RESOLUTION_PROPOSED
    return CaseStatus.AWAITING_CUSTOMER


def draft_email(env: Services, args: DraftEmailArgs) -> OutboxItem:
    """Raises TemplateRenderError (nothing stored) when the template cannot be filled for this case."""
    if args.action not in PURPOSE_OF_ACTION:
        raise PolicyViolation(f"'{args.action.value}' does not send an email")
    if args.resolves and args.action is not Action.SEND_RESOLUTION:
        raise PolicyViolation(f"only a resolution can resolve the case, not '{args.action.value}'")
    with env.store.unit_of_work(read_only=True):
        existing = env.store.outbox_by_key(args.idempotency_key)
        if existing is not None:
            return existing
        case = env.store.case(args.case_id)
        fields = env.store.field_values(case.id)
        customer_mail = env.store.customer_messages(case.id)
    # Worded outside any transaction: a language model may take seconds here.
    follow_up_number = case.follow_ups + 1 if args.action is Action.FOLLOW_UP else 0
    missing = args.missing
    base_status = effective_status(case.status, case.status_before_review)
    if args.action is Action.FOLLOW_UP and base_status is CaseStatus.AWAITING_CUSTOMER:
        intent = env.catalog.intent(case.intent)
        missing = intent.missing_from(fields) if intent else []  # a follow-up asks again
    email = compose_email(env.catalog, env.brain, ComposeContext(case, fields, [m.new_text for m in customer_mail]),
                          PURPOSE_OF_ACTION[args.action], missing, follow_up_number, args.message)
    last_inbound = customer_mail[-1] if customer_mail else None
    with env.store.unit_of_work():
        return _store_draft(env, args, case, email, last_inbound)


def _store_draft(env: Services, args: DraftEmailArgs, case: Case, email: RenderedEmail,
                 last_inbound: Message | None) -> OutboxItem:
    references = f"{last_inbound.references} {last_inbound.message_id}".strip() if last_inbound else ""
    now = env.clock.now()
    base_status = effective_status(case.status, case.status_before_review)
    item = env.store.add_outbox(NewOutboxItem(
        case_id=case.id, idempotency_key=args.idempotency_key, action=args.action,
        purpose=PURPOSE_OF_ACTION[args.action], template_id=email.template_id, to_address=case.customer_email,
        subject=email.subject, body=email.body,
        status=OutboxStatus.PENDING_REVIEW if args.for_review else OutboxStatus.APPROVED,
        status_after_send=CaseStatus.RESOLVED if args.resolves else status_after_sending(args.action, base_status),
        in_reply_to=last_inbound.message_id if last_inbound else None, references=references,
        message_id=outbound_message_id(case.number or str(case.id), args.idempotency_key, env.catalog.mailbox),
        created_at=now,
    ))
    if args.for_review:
        env.store.update_case(case.id, now, status=CaseStatus.PENDING_REVIEW, status_before_review=base_status)
        log_interaction(env, NewInteraction(kind=InteractionKind.DRAFT_PROPOSED, case_id=case.id, actor=Actor.AGENT,
                                            summary=f"{args.action.value} drafted for review: {item.subject}",
                                            outbox_id=item.id, template_id=item.template_id,
                                            detail={"action": args.action, "missing": args.missing}))
    return item
