"""Enumerations shared by the store, the graph, the tools and the evals."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    NEW = "new"
    AWAITING_CUSTOMER = "awaiting_customer"
    PENDING_REVIEW = "pending_review"
    RESOLUTION_PROPOSED = "resolution_proposed"
    RESOLVED = "resolved"
    WITH_REPRESENTATIVE = "with_representative"
    CLOSED = "closed"


def effective_status(status: str, before_review: str | None) -> CaseStatus:
    """A case waiting for review is, for the customer, still where it was before the draft."""
    if status == CaseStatus.PENDING_REVIEW and before_review:
        return CaseStatus(before_review)
    return CaseStatus(status)


class Action(StrEnum):
    """The agent's decision for one email or one clock tick (formats.md §2 ``action``)."""

    REQUEST_INFO = "request_info"
    SEND_RESOLUTION = "send_resolution"
    RESOLVE_CASE = "resolve_case"
    ROUTE_TO_REP = "route_to_rep"
    FOLLOW_UP = "follow_up"
    CLOSE_CASE = "close_case"
    IGNORE = "ignore"
    UPDATE_ONLY = "update_only"

    @property
    def sends_email(self) -> bool:
        return self in {Action.REQUEST_INFO, Action.SEND_RESOLUTION, Action.FOLLOW_UP}


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class OutboxStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    SENT = "sent"
    """Sent by the agent; delivered by the mail connector once ``delivered_at`` is set."""
    DISCARDED = "discarded"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    """The mail server refused it for good (SMTP 5xx): the case went to a representative."""


class Outbound(StrEnum):
    """What happened to the customer-facing email of a turn (formats.md §2 ``outbound``)."""

    SENT = "sent"
    DRAFTED = "drafted"
    NONE = "none"


class Actor(StrEnum):
    AGENT = "agent"
    REPRESENTATIVE = "representative"
    SYSTEM = "system"


class ResponseType(StrEnum):
    """The five answers of the commercial custom-case-agent contract: what the case agent did (its
    sub-agent API, ``agent_graph.subagent``), and what a custom agent tells the case agent to do
    (``custom_agent.py``)."""

    QUESTION = "Question"
    """Ask the customer for information (a request for what is missing, or a follow-up)."""
    RESOLVED = "Resolved"
    """Propose the resolution to the customer (sent, or drafted for review)."""
    RESOLVE_CASE = "ResolveCase"
    """The case is resolved (the customer accepted; or a custom agent's message closes it)."""
    UNABLE_TO_RESOLVE = "UnableToResolve"
    """Route the case to a representative."""
    NO_ACTION = "NoAction"
    """Nothing for the customer: automatic mail, a duplicate, only fields recorded, nothing due,
    or a case closed after its follow-ups ran out."""
