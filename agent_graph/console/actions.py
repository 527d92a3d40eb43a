"""What a representative does to a case from the console, besides answering a review.

Each is one function the console's routes call, recorded through :mod:`agent_graph.interactions`
(who, what, when). Answering a review goes through the agent's one review path
(:meth:`agent_graph.service.CaseAgent.answer_review`), as the CLI and Agent Inbox do: the console
only builds the answer (:func:`agent_graph.review.human_response`).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, ValidationError

from agent_graph.context import Services
from agent_graph.domain import Actor, CaseStatus
from agent_graph.errors import CaseAgentError
from agent_graph.interactions import InteractionKind, InteractionQuery, NewInteraction, find, log_interaction, person
from agent_graph.store import Case, CaseStore
from tools.update_case_fields import EditFieldArgs
from tools.update_case_fields import edit_field as edit_field_tool

DRAFT_TARGET = "draft:"


class ConsoleActionError(CaseAgentError):
    """An action the case does not allow now (a field its intent does not have, a case taken already)."""


class IgnoreReason(StrEnum):
    """Why a representative discarded a draft (its ``reason_code``)."""

    WRONG_INTENT = "wrong_intent"
    WRONG_INFORMATION = "wrong_information"
    NOT_NEEDED = "not_needed"
    HANDLED_ELSEWHERE = "handled_elsewhere"
    NEEDS_A_PERSON = "needs_a_person"
    OTHER = "other"


class Feedback(BaseModel):
    """Useful or not, with an optional comment, on one suggestion of the agent (``target``: which)."""

    target: str = Field(max_length=100, pattern=r"^(draft|interaction|message):\d+$",
                        description="'draft:ID', 'interaction:ID' or 'message:ID' (a timeline entry's ref)")
    useful: bool
    comment: str = Field(default="", max_length=2000)


def editable_fields(env: Services, case: Case) -> list[str]:
    """The fields a representative may set on the case: its intent's attributes and any field it has."""
    intent = env.catalog.intent(case.intent)
    names = [a.name for a in intent.attributes] if intent else []
    return names + [name for name in env.store.current_fields(case.id) if name not in names]


def edit_field(env: Services, case: Case, user: str, name: str, value: str) -> None:
    """Write a field as a person, the CLI's way (``tools.update_case_fields.edit_field``: validated as the
    agent's values are, ``set_by`` the person, recorded); the agent then leaves it alone."""
    try:
        edit_field_tool(env, EditFieldArgs(case_id=case.id, name=name, value=value.strip(), person=user))
    except ValidationError as exc:
        raise ConsoleActionError(f"{name[:64]}: {exc.errors()[0]['msg']}") from None


def take_over(env: Services, case: Case, user: str) -> Case:
    """The representative owns the case: the agent records what the customer writes and answers nothing."""
    if case.status == CaseStatus.WITH_REPRESENTATIVE:
        raise ConsoleActionError(f"{case.number} is with a representative already")
    if case.status == CaseStatus.PENDING_REVIEW:
        raise ConsoleActionError(f"{case.number} has a draft waiting for review: answer it first")
    with env.store.unit_of_work():
        taken = env.store.update_case(case.id, env.clock.now(), status=CaseStatus.WITH_REPRESENTATIVE,
                                      queue=person(env, user)[:100])
        log_interaction(env, NewInteraction(kind=InteractionKind.TAKEN_OVER, case_id=case.id,
                                            actor=Actor.REPRESENTATIVE, actor_name=user, summary="took the case over",
                                            detail={"status_before": case.status, "queue_before": case.queue}))
    return taken


def hand_back(env: Services, case: Case, user: str) -> Case:
    """The agent answers the case again, from the status it had when a person took it over (a case the
    agent routed goes back as new: its next email is decided afresh)."""
    if case.status != CaseStatus.WITH_REPRESENTATIVE:
        raise ConsoleActionError(f"{case.number} is not with a representative (it is {case.status})")
    taken = find(env.store, InteractionQuery(case_id=case.id, kinds=[InteractionKind.TAKEN_OVER]))
    before = taken[-1].detail if taken else {}
    status = before.get("status_before") or CaseStatus.NEW
    with env.store.unit_of_work():
        back = env.store.update_case(case.id, env.clock.now(), status=status, queue=before.get("queue_before"))
        log_interaction(env, NewInteraction(kind=InteractionKind.HANDED_BACK, case_id=case.id,
                                            actor=Actor.REPRESENTATIVE, actor_name=user,
                                            summary=f"handed the case back to the agent ({status})",
                                            detail={"status": status}))
    return back


def give_feedback(env: Services, case: Case, user: str, feedback: Feedback) -> None:
    """Useful / not useful on a suggestion of the agent (a draft: its outbox id is recorded too)."""
    kind, _, number = feedback.target.partition(":")
    verdict = "useful" if feedback.useful else "not useful"
    log_interaction(env, NewInteraction(kind=InteractionKind.FEEDBACK, case_id=case.id, actor=Actor.REPRESENTATIVE,
                                        actor_name=user, summary=f"{feedback.target}: {verdict}"
                                        + (f": {feedback.comment}" if feedback.comment else ""),
                                        outbox_id=int(number) if kind + ":" == DRAFT_TARGET else None,
                                        useful=feedback.useful, comment=feedback.comment or None,
                                        detail={"target": feedback.target}))


def belongs_to(store: CaseStore, case: Case, feedback: Feedback) -> bool:
    """Whether the feedback's target is one of the case's (a draft, interaction or message of it)."""
    kind, _, number = feedback.target.partition(":")
    pk = int(number)
    if kind == "draft":
        return any(item.id == pk for item in store.outbox(case.id))
    if kind == "message":
        return any(message.id == pk for message in store.messages(case.id))
    return any(entry.id == pk for entry in store.interactions(case.id))
