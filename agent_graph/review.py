"""The review contract with a human-in-the-loop inbox (LangChain's Agent Inbox schema), and the one
place a representative's decision on a draft is carried out and recorded — whether it came from the
CLI, Agent Inbox or the console.

A ``HumanResponse`` may carry, beside Agent Inbox's ``type`` and ``args``, who answered
(``reviewer``) and feedback on the draft (``useful``, ``comment``, ``reason_code``): the CLI and the
console send them; Agent Inbox does not, and its answers are recorded without a name.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agent_graph.context import Services
from agent_graph.domain import Action, Actor, OutboxStatus
from agent_graph.interactions import InteractionKind, NewInteraction, decision_seconds, edit_size, log_interaction
from agent_graph.state import Plan, ReviewDecision, ReviewKind
from agent_graph.store import Case, OutboxItem

REVIEW_ACTION = "send_email"

DECISION_KINDS = {ReviewKind.ACCEPT: InteractionKind.DRAFT_ACCEPTED, ReviewKind.EDIT: InteractionKind.DRAFT_EDITED,
                  ReviewKind.RESPONSE: InteractionKind.RESPONDED, ReviewKind.IGNORE: InteractionKind.DRAFT_IGNORED}
"""How each review answer is recorded."""

FEEDBACK_KEYS = ("reviewer", "useful", "comment", "reason_code")


def pending_request(interrupts: Any) -> dict[str, Any] | None:
    """The HumanInterrupt a paused run waits on, from its interrupts (objects, or dicts as the
    LangGraph server sends them; the interrupt value is a one-element list); None when not paused."""
    for interrupt in interrupts or ():
        value = interrupt.value if hasattr(interrupt, "value") else interrupt.get("value")
        request = value[0] if isinstance(value, list) and value else value
        return request if isinstance(request, dict) else None
    return None


def inbox_request(env: Services, case: Case, item: OutboxItem, plan: Plan | None) -> dict[str, Any]:
    """A ``HumanInterrupt``: the email the agent wants to send, what the reviewer may do, and why."""
    fields = env.store.current_fields(case.id)
    intent = env.catalog.intent(case.intent)
    lines = [
        f"### Case {case.number}: {case.title}",
        f"- **Customer:** {case.customer_name or ''} <{case.customer_email}>".replace("**  <", "** <"),
        f"- **Line of business:** {case.lob}",
        f"- **Intent:** {intent.name + ' (' + intent.id + ')' if intent else 'not identified'}",
        f"- **Language:** {case.language or env.catalog.default_language + ' (not detected: the default)'}",
        f"- **Proposed action:** {item.action}" + (f" ({plan.reason})" if plan and plan.reason else ""),
        f"- **Template:** {item.template_id or 'built-in wording'}",
    ]
    if fields:
        lines.append("\n**Case fields**\n")
        lines += [f"- {name}: {row.value} _(from {row.extractor})_" for name, row in fields.items()]
    lines.append("\nAccept to send as drafted, edit the subject or body, respond with feedback (the draft is "
                 "discarded and the case goes to a representative), or ignore to discard the draft and route "
                 "the case.")
    return {
        "action_request": {"action": REVIEW_ACTION,
                           "args": {"to": item.to_address, "subject": item.subject, "body": item.body}},
        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True},
        "description": "\n".join(lines),
    }


def parse_human_response(answer: Any) -> ReviewDecision:
    """Accept a ``HumanResponse`` alone or as a one-element list (as Agent Inbox sends it).

    ``edit`` carries ``{"action": ..., "args": {"subject": ..., "body": ...}}`` (string values);
    any ``to`` in the edited args is ignored: the recipient is always the case's customer.
    """
    if isinstance(answer, list):
        if len(answer) != 1:
            raise ValueError(f"expected one review answer, got {len(answer)}")
        answer = answer[0]
    if not isinstance(answer, dict) or "type" not in answer:
        raise ValueError("a review answer is a HumanResponse: {'type': 'accept'|'edit'|'response'|'ignore', 'args': ...}")
    kind = ReviewKind(answer["type"])
    args = answer.get("args")
    given: dict[str, Any] = {"kind": kind, **{key: answer[key] for key in FEEDBACK_KEYS if answer.get(key) is not None}}
    if kind is ReviewKind.EDIT:
        edited = args.get("args", args) if isinstance(args, dict) else {}
        given.update(subject=_text(edited.get("subject")), body=_text(edited.get("body")))
    elif kind is ReviewKind.RESPONSE:
        given.update(text=_text(args) or "")
    try:
        return ReviewDecision.model_validate(given)
    except ValidationError as exc:
        raise ValueError(f"a review answer's feedback is not valid: {exc.errors()[0]['loc'][0]}: "
                         f"{exc.errors()[0]['msg']}") from None


def carry_out(env: Services, case: Case, item: OutboxItem, decision: ReviewDecision) -> dict[str, Any]:
    """Apply a representative's decision to the draft and log it: approve it as it is, approve it edited
    (the draft as proposed is kept beside it), or discard it and route the case. Returns the graph's
    state update."""
    now = env.clock.now()
    size: int | None = 0 if decision.kind is ReviewKind.ACCEPT else None
    if decision.kind is ReviewKind.EDIT:
        subject, body = decision.subject or item.subject, decision.body or item.body
        size = edit_size(item.subject, subject) + edit_size(item.body, body)
        proposed = ({"proposed_subject": item.subject, "proposed_body": item.body}
                    if env.catalog.record_interactions else {})
        env.store.set_outbox(item.id, status=OutboxStatus.APPROVED, edited=True, subject=subject, body=body,
                             **proposed)
    elif decision.kind is ReviewKind.ACCEPT:
        env.store.set_outbox(item.id, status=OutboxStatus.APPROVED)
    else:
        env.store.set_outbox(item.id, status=OutboxStatus.DISCARDED)
    log_interaction(env, NewInteraction(
        kind=DECISION_KINDS[decision.kind], case_id=case.id, actor=Actor.REPRESENTATIVE, actor_name=decision.reviewer,
        summary=review_summary(decision), outbox_id=item.id, template_id=item.template_id, edit_size=size,
        decision_seconds=decision_seconds(item, now), useful=decision.useful,
        comment=decision.comment or decision.text, reason_code=decision.reason_code,
        detail={"action": item.action}))
    if decision.kind in (ReviewKind.ACCEPT, ReviewKind.EDIT):
        return {"review": decision}
    reason = (f"representative feedback on the draft: {decision.text}" if decision.kind is ReviewKind.RESPONSE
              else "the representative discarded the draft")
    return {"review": decision, "plan": Plan(action=Action.ROUTE_TO_REP, reason=reason)}


def review_summary(decision: ReviewDecision) -> str:
    if decision.kind is ReviewKind.RESPONSE:
        return f"feedback: {decision.text}"
    summary = {ReviewKind.ACCEPT: "accepted the draft", ReviewKind.EDIT: "edited and approved the draft",
               ReviewKind.IGNORE: "discarded the draft"}[decision.kind]
    return summary + (f" ({decision.reason_code})" if decision.reason_code else "")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def human_response(pending: dict[str, Any], kind: ReviewKind, *, subject: str | None = None,
                   body: str | None = None, text: str | None = None, reviewer: str | None = None,
                   reason_code: str | None = None, comment: str | None = None,
                   useful: bool | None = None) -> dict[str, Any]:
    """The ``HumanResponse`` a representative gives to ``pending`` (the request a case waits on):
    ``edit`` replaces the subject and/or body given (the rest of the draft stays), ``response``
    carries ``text``. Who answered, and why a draft was ignored, ride along beside Agent Inbox's
    ``type`` and ``args``, with the reviewer's feedback (``useful``). The CLI's ``review`` and the
    web console build their answers here."""
    extra: dict[str, Any] = {key: value for key, value in (("reviewer", reviewer), ("reason_code", reason_code),
                                                           ("comment", comment)) if value}
    if useful is not None:
        extra["useful"] = useful
    if kind is ReviewKind.EDIT:
        args = dict(pending["action_request"]["args"])
        args.update({name: value for name, value in (("subject", subject), ("body", body)) if value is not None})
        return {"type": kind.value, "args": {"action": pending["action_request"]["action"], "args": args}, **extra}
    if kind is ReviewKind.RESPONSE:
        return {"type": kind.value, "args": text or "", **extra}
    return {"type": kind.value, "args": None, **extra}
