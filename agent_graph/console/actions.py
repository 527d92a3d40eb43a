"""What a representative does to a case from the console, besides answering a review.

Each is one function the console's routes call, and each is recorded as an interaction of the
representative (who, what, when). Answering a review goes through the agent's one review path
(:meth:`agent_graph.service.CaseAgent.answer_review`), as the CLI and Agent Inbox do.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from agent_graph.brain.types import ExtractedValue
from agent_graph.catalog import Catalog
from agent_graph.clock import Clock
from agent_graph.domain import Actor, CaseStatus
from agent_graph.errors import CaseAgentError
from agent_graph.store import Case, CaseStore

PERSON = "person"
"""The provenance (``extractor``) of a field a representative wrote: ``person:NAME``."""


class ConsoleActionError(CaseAgentError):
    """An action the case does not allow now (a field its intent does not have, a case taken already)."""


class IgnoreReason(StrEnum):
    """Why a representative discarded a draft (recorded with the ignore)."""

    WRONG_INTENT = "wrong_intent"
    WRONG_INFORMATION = "wrong_information"
    NOT_NEEDED = "not_needed"
    HANDLED_ELSEWHERE = "handled_elsewhere"
    NEEDS_A_PERSON = "needs_a_person"
    OTHER = "other"


class Feedback(BaseModel):
    """Useful or not, with an optional comment, on one suggestion of the agent (``target``: what it was)."""

    target: str = Field(max_length=100, description="'draft:ID', 'interaction:ID' or 'message:ID'")
    useful: bool
    comment: str = Field(default="", max_length=2000)


def edited_fields(catalog: Catalog, store: CaseStore, case: Case) -> list[str]:
    """The fields a representative may set on the case: its intent's attributes and any field it has."""
    intent = catalog.intent(case.intent)
    names = [a.name for a in intent.attributes] if intent else []
    return names + [name for name in store.current_fields(case.id) if name not in names]


def edit_field(catalog: Catalog, store: CaseStore, clock: Clock, case: Case, user: str, name: str,
               value: str) -> None:
    """Write a field as a person: a new row of the field's history, provenance ``person:USER``."""
    value = value.strip()
    if name not in edited_fields(catalog, store, case):
        raise ConsoleActionError(f"{case.number} has no field {name[:64]!r} (its intent's attributes and its fields)")
    if not value:
        raise ConsoleActionError(f"{name}: give a value (a field cannot be emptied, only corrected)")
    now = clock.now()
    previous = store.current_fields(case.id).get(name)
    with store.unit_of_work():
        store.write_fields(case.id, [ExtractedValue(name=name, value=value, span=value, confidence=1.0,
                                                    extractor=f"{PERSON}:{user}"[:64])], None, now)
        store.record(case.id, Actor.REPRESENTATIVE, "field_edited", f"{user} set {name} = {value}", now,
                     {"user": user, "field": name, "value": value,
                      "previous": previous.value if previous else None})


def take_over(store: CaseStore, clock: Clock, case: Case, user: str) -> Case:
    """The representative owns the case: the agent records what the customer writes and answers nothing."""
    if case.status == CaseStatus.WITH_REPRESENTATIVE:
        raise ConsoleActionError(f"{case.number} is with a representative already")
    if case.status == CaseStatus.PENDING_REVIEW:
        raise ConsoleActionError(f"{case.number} has a draft waiting for review: answer it first")
    now = clock.now()
    with store.unit_of_work():
        taken = store.update_case(case.id, now, status=CaseStatus.WITH_REPRESENTATIVE, queue=f"{PERSON}:{user}"[:100])
        store.record(case.id, Actor.REPRESENTATIVE, "taken_over", f"{user} took the case over", now,
                     {"user": user, "status_before": case.status, "queue_before": case.queue})
    return taken


def hand_back(store: CaseStore, clock: Clock, case: Case, user: str) -> Case:
    """The agent answers the case again, from the status it had when a person took it over (a case the
    agent routed goes back as new: its next email is decided afresh)."""
    if case.status != CaseStatus.WITH_REPRESENTATIVE:
        raise ConsoleActionError(f"{case.number} is not with a representative (it is {case.status})")
    taken = [i for i in store.interactions(case.id) if i.kind == "taken_over"]
    before = taken[-1].detail if taken else {}
    status = before.get("status_before") or CaseStatus.NEW
    now = clock.now()
    with store.unit_of_work():
        back = store.update_case(case.id, now, status=status, queue=before.get("queue_before"))
        store.record(case.id, Actor.REPRESENTATIVE, "handed_back", f"{user} handed the case back to the agent "
                     f"({status})", now, {"user": user, "status": status})
    return back


def record_feedback(store: CaseStore, clock: Clock, case: Case, user: str, feedback: Feedback) -> None:
    verdict = "useful" if feedback.useful else "not useful"
    store.record(case.id, Actor.REPRESENTATIVE, "feedback",
                 f"{user}: {feedback.target} {verdict}" + (f" — {feedback.comment}" if feedback.comment else ""),
                 clock.now(), {"user": user, **feedback.model_dump()})


def record_ignore_reason(store: CaseStore, clock: Clock, case: Case, user: str, reason: IgnoreReason,
                         comment: str) -> None:
    store.record(case.id, Actor.REPRESENTATIVE, "draft_ignored_reason", f"{user}: {reason.value}"
                 + (f" — {comment}" if comment else ""), clock.now(),
                 {"user": user, "reason_code": reason.value, "comment": comment})
