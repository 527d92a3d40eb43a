"""The sub-agent's contract: what another agent sends (:class:`CaseRequest`) and what it gets back
(:class:`CaseResult`), and how a turn's outcome becomes that result.

Modelled on the contract of commercial custom case agents: a ``response_type`` (``Question``,
``Resolved``, ``ResolveCase``, ``UnableToResolve``, ``NoAction``), whether a draft awaits a
representative (``needs_review``), the case number, its status and a short summary. Every way of
calling the sub-agent (in process, remote, tool, subgraph) answers with these types.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from langchain_core.runnables.config import var_child_runnable_config
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_graph.domain import Action, CaseStatus, Outbound, ResponseType
from agent_graph.service import thread_id_for
from agent_graph.state import TurnOutcome

T = TypeVar("T")

AGENT_GRAPH_ID = "case_agent"
MAILROOM_GRAPH_ID = "mailroom"


RESPONSE_TYPES: dict[Action | None, ResponseType] = {
    Action.REQUEST_INFO: ResponseType.QUESTION,
    Action.FOLLOW_UP: ResponseType.QUESTION,
    Action.SEND_RESOLUTION: ResponseType.RESOLVED,
    Action.RESOLVE_CASE: ResponseType.RESOLVE_CASE,
    Action.ROUTE_TO_REP: ResponseType.UNABLE_TO_RESOLVE,
}


class EmailFields(BaseModel):
    """An inbound email given as fields instead of RFC 5322 text."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="the sender, e.g. 'Robin Vale <robin@example.net>'")
    to: str | None = Field(default=None, description="the address it was sent to (default: the catalog's mailbox)")
    subject: str = ""
    body: str
    in_reply_to: str | None = Field(default=None, description="Message-ID of the email this one answers")
    references: list[str] = Field(default_factory=list)
    message_id: str | None = Field(default=None, description="default: derived from the fields, so a retry is "
                                                              "recognised as the same email")
    date: datetime | None = None


class CaseRequest(BaseModel):
    """Hand a case to the agent: an inbound email, a case, or both.

    * ``email`` alone: the email is threaded to its case (In-Reply-To/References, a case number
      in the subject) or opens a new one, and the agent answers it.
    * ``case`` and ``email``: the email belongs to that case even without threading headers
      (an email of another case is refused).
    * ``case`` alone: the agent does what is due on the case now (a follow-up or a closure)
      and reports its state.
    """

    case: str | int | None = Field(default=None, description="a case number (CAS-000123) or a case id")
    email: str | EmailFields | None = Field(default=None, description="raw RFC 5322 text, or the email's fields")

    @model_validator(mode="after")
    def _something_to_do(self) -> CaseRequest:
        if self.case is None and self.email is None:
            raise ValueError("a case request needs a case (number or id), an email, or both")
        return self


class CaseResult(BaseModel):
    """What the case agent did with one request."""

    response_type: ResponseType
    needs_review: bool = Field(description="a drafted email waits for a representative's review")
    case_number: str | None
    case_id: int | None
    status: CaseStatus | None
    summary: str
    action: Action | None = None
    outbound: Outbound = Outbound.NONE
    thread_id: str | None = Field(default=None, description="the case's LangGraph thread")
    language: str | None = Field(default=None, description="the customer's language (ISO 639-1), when known")
    review_request: dict[str, Any] | None = Field(
        default=None, description="the Agent Inbox HumanInterrupt the case is paused on, when known")


class CaseSnapshot(BaseModel):
    """A case as the ``mailroom`` graph reports it."""

    id: int
    number: str
    status: CaseStatus
    title: str
    lob: str
    intent: str | None
    customer_email: str
    customer_name: str | None
    queue: str | None
    fields: dict[str, str]
    pending_review: bool
    language: str | None = None


class MailroomResult(BaseModel):
    """Output of the ``mailroom`` graph: the case an email or a case reference leads to, and its thread."""

    case_record: CaseSnapshot | None = None
    thread_id: str | None = None
    message_pk: int | None = Field(default=None, description="the stored email: the case_agent run's input")
    duplicate: bool = Field(default=False, description="this email was already processed: nothing to run")
    automatic_reason: str | None = None
    follow_up_due: bool = Field(default=False, description="a follow-up or a closure is due on the case now")
    note: str = ""


class SubAgent(Protocol):
    def handle(self, request: CaseRequest) -> CaseResult: ...

SENT_WORDING = {
    Action.REQUEST_INFO: "asked the customer for the information still missing",
    Action.FOLLOW_UP: "sent the customer a follow-up",
    Action.SEND_RESOLUTION: "sent the customer the resolution",
}
DRAFT_WORDING = {
    Action.REQUEST_INFO: "drafted a request for the missing information",
    Action.FOLLOW_UP: "drafted a follow-up",
    Action.SEND_RESOLUTION: "drafted the resolution",
}
OTHER_WORDING = {
    Action.RESOLVE_CASE: "the customer accepted the resolution; the case is resolved",
    Action.ROUTE_TO_REP: "handed the case to a representative",
    Action.CLOSE_CASE: "closed the case: the follow-ups went unanswered",
    Action.UPDATE_ONLY: "recorded the new details; the case stays with a representative",
}


def summarize(outcome: TurnOutcome, case_number: str | None, needs_review: bool) -> str:
    """One line for a copilot's user: what happened, and what waits for whom."""
    action = outcome.action
    if action in DRAFT_WORDING and needs_review:
        text = f"{DRAFT_WORDING[action]}; it waits for a representative's review"
    elif action in SENT_WORDING and outcome.outbound is Outbound.SENT:
        text = SENT_WORDING[action]
    elif action in OTHER_WORDING:
        text = OTHER_WORDING[action]
    elif outcome.note:
        text = outcome.note
    else:
        text = "nothing to do"
    if action is Action.ROUTE_TO_REP and outcome.note:
        text += f" ({_shorten(outcome.note)})"
    return f"{case_number}: {text}" if case_number else text[:1].upper() + text[1:]


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def result_from_outcome(outcome: TurnOutcome, *, case_id: int | None, case_number: str | None,
                        review_request: dict[str, Any] | None = None, language: str | None = None) -> CaseResult:
    needs_review = (review_request is not None or outcome.outbound is Outbound.DRAFTED
                    or outcome.status is CaseStatus.PENDING_REVIEW)
    response_type = RESPONSE_TYPES.get(outcome.action, ResponseType.NO_ACTION)
    if outcome.action is Action.SEND_RESOLUTION and outcome.status is CaseStatus.RESOLVED:
        response_type = ResponseType.RESOLVE_CASE  # a custom agent's ResolveCase: sent, and resolved
    return CaseResult(
        response_type=response_type, needs_review=needs_review,
        case_number=case_number, case_id=case_id, status=outcome.status,
        summary=summarize(outcome, case_number, needs_review), action=outcome.action, outbound=outcome.outbound,
        thread_id=thread_id_for(case_number) if case_number else None, review_request=review_request,
        language=language,
    )


def state_result(snapshot: CaseSnapshot, note: str, review_request: dict[str, Any] | None = None) -> CaseResult:
    """NoAction: the case as it stands."""
    outcome = TurnOutcome(action=None, status=snapshot.status, note=note)
    result = result_from_outcome(outcome, case_id=snapshot.id, case_number=snapshot.number,
                                 review_request=review_request, language=snapshot.language)
    return result.model_copy(update={"needs_review": result.needs_review or snapshot.pending_review})


def nothing_due_note(status: CaseStatus) -> str:
    if status is CaseStatus.PENDING_REVIEW:
        return "a draft waits for a representative's review; nothing else to do"
    return f"nothing due (status {status.value})"


def outside_any_run(fn: Callable[[], T]) -> T:
    """Call ``fn`` detached from an enclosing LangGraph run (a copilot's node or tool).

    A graph invoked inside a node picks up the caller's run config from a context variable;
    what it inherits decides whether it runs as the caller's subgraph, in the caller's
    checkpoint namespace, with its interrupt pausing the caller. The case agent must instead run
    on the case's own thread, and report a draft awaiting review as ``needs_review``. LangGraph
    1.2 already starts a fresh lineage for an explicit ``thread_id``; detaching keeps that
    guarantee whatever the version. The price: the case agent's run is traced on its own."""
    context = contextvars.copy_context()

    def detached() -> T:
        var_child_runnable_config.set(None)
        return fn()

    return context.run(detached)
