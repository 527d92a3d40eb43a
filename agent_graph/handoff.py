"""The hand-off summary: when a case goes to a representative, what they need to take it over in one read
— what the customer wants, what is known, what is still missing, what the agent tried, and why the
case was routed.

The facts come from the store and the catalog, never from a model: :func:`handoff_facts`. The words
come from the offline engine (:func:`offline_wording`), or from the brain when it can word a
hand-off (:class:`HandoffWriter`; the offline brain cannot); a brain that fails falls back to the
offline words, and the summary says why (``fallback``). The summary is kept in the ``routed``
interaction's detail and shown by ``case-agent show`` and the console.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agent_graph.catalog import Catalog, TemplatePurpose
from agent_graph.domain import Direction, OutboxStatus
from agent_graph.errors import CaseAgentError
from agent_graph.store import Case, CaseStore

log = logging.getLogger(__name__)

EXCERPT_CHARS = 240


class HandoffFacts(BaseModel):
    """What a representative needs to take a case over, as facts."""

    case_number: str | None
    wants: str = Field(description="what the customer wants: the intent, or their own words when it is not known")
    known: dict[str, str] = Field(default_factory=dict, description="the case's fields")
    missing: list[str] = Field(default_factory=list, description="required attributes without a value")
    tried: list[str] = Field(default_factory=list, description="what the agent and representatives did")
    why: str = Field(description="why the case was routed")


class HandoffSummary(BaseModel):
    facts: HandoffFacts
    text: str
    worded_by: str = Field(description="'offline', or the brain that worded it")
    fallback: str | None = Field(default=None, description="why the brain's words were not used, when it tried")

    @property
    def provenance(self) -> str:
        """Who worded the summary, and why not the brain when it tried (shown beside the summary)."""
        if self.fallback:
            return f"worded offline: the brain's words were not used ({self.fallback})"
        return "worded offline" if self.worded_by == "offline" else f"worded by {self.worded_by}"


@runtime_checkable
class HandoffWriter(Protocol):
    """A brain that can word a hand-off summary for a representative (the offline brain cannot)."""

    def word_handoff(self, facts: HandoffFacts) -> str: ...


def handoff_facts(store: CaseStore, catalog: Catalog, case: Case, why: str) -> HandoffFacts:
    """The facts of a case for its hand-off, read from the store (no model involved)."""
    intent = catalog.intent(case.intent)
    fields = store.field_values(case.id)
    if intent is not None:
        wants = f"{intent.name} ({intent.id})" + (f": {intent.description}" if intent.description else "")
    else:
        first = next(iter(store.customer_messages(case.id)), None)
        words = _excerpt(first.new_text or first.body_text) if first is not None else ""
        wants = f"not identified; the customer wrote: \u201c{words}\u201d" if words else f"not identified ({case.title})"
    return HandoffFacts(case_number=case.number, wants=wants, known=fields,
                        missing=intent.missing_from(fields) if intent else [], tried=_tried(store, case), why=why)


def _tried(store: CaseStore, case: Case) -> list[str]:
    sent = [m for m in store.messages(case.id) if m.direction == Direction.OUTBOUND]
    drafts = store.outbox(case.id)
    purposes = {item.message_id: item.purpose for item in drafts}
    counts: dict[str, int] = {}
    for message in sent:
        purpose = purposes.get(message.message_id, TemplatePurpose.GENERIC)
        counts[purpose] = counts.get(purpose, 0) + 1
    names = {TemplatePurpose.REQUEST_INFO: "request(s) for information sent", TemplatePurpose.FOLLOW_UP:
             "follow-up(s) sent", TemplatePurpose.RESOLUTION: "resolution(s) proposed"}
    tried = [f"{count} {names.get(TemplatePurpose(purpose), 'email(s) sent')}" for purpose, count in counts.items()]
    discarded = [item for item in drafts if item.status == OutboxStatus.DISCARDED]
    if discarded:
        tried.append(f"{len(discarded)} draft(s) discarded by a representative")
    return tried or ["nothing was sent to the customer"]


def offline_wording(facts: HandoffFacts) -> str:
    """The summary in plain sentences, from the facts alone."""
    known = "; ".join(f"{name}: {value}" for name, value in facts.known.items()) or "nothing yet"
    lines = [f"Customer wants: {facts.wants}.", f"Known: {known}."]
    if facts.missing:
        lines.append(f"Still missing: {', '.join(facts.missing)}.")
    lines += [f"Tried: {'; '.join(facts.tried)}.", f"Routed because: {facts.why}."]
    return "\n".join(line.replace("..", ".") for line in lines)


def handoff_summary(facts: HandoffFacts, brain: object | None = None) -> HandoffSummary:
    """Word the facts: with the brain when it can word a hand-off, else (or when it fails) offline."""
    fallback = None
    if isinstance(brain, HandoffWriter):
        try:
            text = brain.word_handoff(facts).strip()
        except CaseAgentError as exc:
            fallback = str(exc)
            log.warning("the brain could not word the hand-off of %s (%s): the offline words are used",
                        facts.case_number, exc)
        else:
            if text:
                return HandoffSummary(facts=facts, text=text, worded_by=type(brain).__name__)
            fallback = "the brain gave an empty summary"
    return HandoffSummary(facts=facts, text=offline_wording(facts), worded_by="offline", fallback=fallback)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "\u2026"
