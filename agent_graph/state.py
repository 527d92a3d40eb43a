"""The graph's state: one run handles one inbound email or one clock tick for one case.

Durable facts (the case, its fields, its mail) live in the store; the state carries what
this run decided, so that a paused or crashed run resumes where it stopped.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from agent_graph.brain.base import Understanding
from agent_graph.catalog import AutomationLevel
from agent_graph.domain import Action, CaseStatus, Outbound


class Trigger(StrEnum):
    EMAIL = "email"
    TICK = "tick"
    RESOLVE = "resolve"
    """``case-agent act --action resolve``: run the resolution path on the case now."""
    ENRICH = "enrich"
    """``case-agent act --action enrich``: read a stored message into the case's fields."""

    @property
    def acts(self) -> bool:
        """Another system asked the agent to act on the case (``agent_graph/act.py``)."""
        return self in (Trigger.RESOLVE, Trigger.ENRICH)


class Delivery(StrEnum):
    """How the email of a plan reaches the customer."""

    SEND = "send"
    REVIEW = "review"
    NONE = "none"


class CaseUpdate(BaseModel):
    """What the understanding node changed on the case with this email; the decision table reads it."""

    new_intent: str | None = Field(default=None, description="the intent this email identified or replaced")
    written: list[str] = Field(default_factory=list, description="fields this email wrote")


class Proposal(BaseModel):
    """What the decision table proposes, before the guard applies policy."""

    action: Action
    missing: list[str] = Field(default_factory=list)
    reason: str = ""


class Plan(BaseModel):
    """What the guard allows: the action that will be carried out, and how."""

    action: Action
    delivery: Delivery = Delivery.NONE
    missing: list[str] = Field(default_factory=list)
    reason: str = ""
    held_for_review: bool = Field(default=False, description="sent under full automation, but held for review "
                                                             "(limits.send_confidence)")
    message: str | None = Field(default=None, description="a custom agent's words: the email says them "
                                                          "(nodes/custom_agent.py)")
    resolves: bool = Field(default=False, description="the case is resolved once the email is sent "
                                                      "(a custom agent's ResolveCase)")


class ReviewKind(StrEnum):
    ACCEPT = "accept"
    EDIT = "edit"
    RESPONSE = "response"
    IGNORE = "ignore"


class ReviewDecision(BaseModel):
    """A representative's answer to a pending draft (Agent Inbox ``HumanResponse``)."""

    kind: ReviewKind
    subject: str | None = None
    body: str | None = None
    text: str | None = None
    reviewer: str | None = Field(default=None, max_length=200, description="who answered (recorded)")
    useful: bool | None = Field(default=None, description="feedback: was the draft useful")
    comment: str | None = Field(default=None, max_length=4000, description="feedback in words")
    reason_code: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9_]+$",
                                    description="why the draft was ignored, e.g. wrong_intent")


class TurnOutcome(BaseModel):
    """What this run did, as a replay expectation sees it."""

    action: Action | None
    outbound: Outbound = Outbound.NONE
    status: CaseStatus | None = None
    outbox_id: int | None = None
    note: str = ""
    held_for_review: bool = False


class AgentInput(BaseModel):
    """What starts a run: an inbound email (raw, or already stored) or a clock tick for a case."""

    raw_email: str | None = Field(default=None, description="an inbound email, RFC 5322 text")
    message_pk: int | None = Field(default=None, description="an inbound email already stored")
    case_id: int | None = None
    trigger: Trigger = Trigger.EMAIL
    automation: AutomationLevel | None = Field(default=None, description="override for this run")
    source: str | None = Field(default=None, description="an act's stored message (its Message-ID): what enrich "
                                                         "reads; part of what makes an act run once")

    @field_validator("source")
    @classmethod
    def _bare_message_id(cls, value: str | None) -> str | None:
        """A Message-ID as the store keeps it, with or without its angle brackets."""
        return value.strip().strip("<>").strip() or None if value is not None else None


class AgentState(AgentInput):
    automatic_reason: str | None = None
    duplicate: bool = False
    stranger: str | None = None
    """Why this email may not speak for the case's customer (``intake.stranger_reason``), or None."""
    understanding: Understanding | None = None
    update: CaseUpdate = Field(default_factory=CaseUpdate)
    language: str | None = None
    """The customer's language (ISO 639-1) once the email is read: the case's, as the understanding node left it."""
    language_unrecognised: bool = False
    """The email is long enough to tell a language, yet neither it nor the case's earlier mail told one."""
    proposal: Proposal | None = None
    plan: Plan | None = None
    draft_id: int | None = None
    review: ReviewDecision | None = None
    outcome: TurnOutcome | None = None

    @property
    def known_case_id(self) -> int:
        """The case the run is about, for every node after ``ingest``: a tick or an act names it, and
        ingest threads an email to one (or sets the email aside before any node asks)."""
        assert self.case_id is not None, "no case_id in the state: only nodes after ingest may ask for it"
        return self.case_id


RUN_FIELDS = tuple(name for name in AgentState.model_fields if name not in AgentInput.model_fields)


def cleared_run_fields() -> dict[str, object]:
    """A thread carries state from run to run: each run starts from a clean slate."""
    return {name: AgentState.model_fields[name].get_default(call_default_factory=True) for name in RUN_FIELDS}


def run_input(**values: object) -> dict[str, object]:
    """A complete input: every input field set, so nothing of the thread's previous run leaks in."""
    return AgentInput.model_validate(values).model_dump(mode="json")
