"""What representatives and the agent did with each other: drafts proposed, reviewed, sent; feedback on
the agent's suggestions; fields a person edited; hand-offs. One typed way to log it, one way to read
it back (the console, ``case-agent export`` and ``case-agent report`` read through :func:`find`).

Rows live in the store's ``interactions`` table beside the agent's other notes (intent identified,
language, acts, custom-agent calls), which keep their own kinds. The catalog's ``record_interactions:
false`` keeps only what a case needs, nothing personal: no row here is written, the draft as proposed
is not kept beside the one sent, and a field a person set is marked as set by a person, unnamed.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent_graph.catalog import Catalog
from agent_graph.context import Services
from agent_graph.domain import Actor
from agent_graph.errors import PolicyViolation
from agent_graph.store import Case, CaseStore, Interaction, OutboxItem

log = logging.getLogger(__name__)

UNNAMED_PERSON = "representative"
"""Who set a field, as the store keeps it when the catalog records nothing personal."""


class InteractionKind(StrEnum):
    """What happened. The agent's own decisions and notes keep the kinds they always had (``Action``
    values, ``intent_identified``, ``language`` …); these are the ones reports and the console read."""

    DRAFT_PROPOSED = "draft_proposed"
    """The agent drafted an email for a representative to review."""
    DRAFT_ACCEPTED = "draft_accepted"
    """A representative approved the draft as it was."""
    DRAFT_EDITED = "draft_edited"
    """A representative edited the draft and approved it (``edit_size``: characters changed)."""
    DRAFT_IGNORED = "draft_ignored"
    """A representative discarded the draft; the case went to a person (``reason_code``)."""
    RESPONDED = "responded"
    """A representative answered the draft with feedback instead; the draft was discarded, the case routed."""
    DRAFT_SENT = "draft_sent"
    """The agent sent an email (approved by a representative or sent alone under full automation)."""
    FEEDBACK = "feedback"
    """Useful / not useful on an agent suggestion, with an optional comment and reason code."""
    FIELD_EDITED = "field_edited"
    """A representative set a case field; the agent leaves it alone (catalog
    ``agent_may_override_human_edits``)."""
    TAKEN_OVER = "taken_over"
    HANDED_BACK = "handed_back"
    ROUTED = "routed"
    """The agent routed the case to a representative; the detail holds the hand-off summary."""

    @property
    def decides_a_draft(self) -> bool:
        return self in _DRAFT_DECISIONS


_DRAFT_DECISIONS = frozenset({InteractionKind.DRAFT_ACCEPTED, InteractionKind.DRAFT_EDITED,
                              InteractionKind.DRAFT_IGNORED, InteractionKind.RESPONDED})


class NewInteraction(BaseModel):
    """One interaction to log. ``actor_name`` names the representative (None for the agent)."""

    model_config = ConfigDict(frozen=True)

    kind: InteractionKind
    case_id: int | None
    actor: Actor
    actor_name: str | None = Field(default=None, max_length=200)
    summary: str = ""
    outbox_id: int | None = None
    template_id: str | None = Field(default=None, max_length=64)
    prompt_version: str | None = Field(default=None, max_length=100)
    edit_size: int | None = Field(default=None, ge=0)
    decision_seconds: float | None = Field(default=None, ge=0)
    useful: bool | None = None
    comment: str | None = Field(default=None, max_length=4000)
    reason_code: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9_]+$")
    detail: dict[str, Any] = Field(default_factory=dict)


class InteractionQuery(BaseModel):
    """Which interactions to read: of one case, in a time window, of some kinds."""

    case_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    kinds: list[str] = Field(default_factory=list)


def log_interaction(env: Services, entry: NewInteraction) -> None:
    """Log an interaction, stamped with the clock, the catalog's version and the brain's prompt version;
    nothing when the catalog's ``record_interactions`` is false."""
    if not env.catalog.record_interactions:
        return
    columns = entry.model_dump(exclude={"kind", "case_id", "actor", "summary", "detail"})
    columns["catalog_version"] = catalog_version(env.catalog)
    # The language-model brain has a prompt version; the offline brain has none.
    columns["prompt_version"] = entry.prompt_version or getattr(env.brain, "prompt_version", None)
    env.store.add_interaction(entry.case_id, entry.actor, entry.kind, entry.summary, env.clock.now(), entry.detail,
                              **columns)
    log.debug("interaction %s on case %s by %s", entry.kind, entry.case_id, entry.actor_name or entry.actor)


def find(store: CaseStore, query: InteractionQuery | None = None) -> list[Interaction]:
    """Interactions oldest first, as ``query`` selects them (every one without a query)."""
    query = query or InteractionQuery()
    return store.interactions(query.case_id, since=query.since, until=query.until, kinds=query.kinds)


_VERSIONS: dict[int, tuple[Catalog, str]] = {}
"""Versions of the catalogs seen, by id (a catalog is immutable; the entry keeps it, so its id is not reused)."""
_VERSIONS_KEPT = 32


def catalog_version(catalog: Catalog) -> str:
    """A short fingerprint of the catalog's content: the same catalog gives the same version, any change another.
    Computed once per catalog: the agent logs several interactions per email."""
    cached = _VERSIONS.get(id(catalog))
    if cached is not None and cached[0] is catalog:
        return cached[1]
    version = hashlib.sha256(catalog.model_dump_json().encode("utf-8")).hexdigest()[:12]
    if len(_VERSIONS) >= _VERSIONS_KEPT:
        _VERSIONS.clear()
    _VERSIONS[id(catalog)] = (catalog, version)
    return version


def edit_size(before: str, after: str) -> int:
    """Characters a person changed from ``before`` to ``after`` (inserted plus deleted)."""
    if before == after:
        return 0
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    return sum((i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal")


def decision_seconds(item: OutboxItem, at: datetime) -> float:
    """Seconds from the draft to a decision on it."""
    return max((at - item.created_at).total_seconds(), 0.0)


def person(env: Services, name: str) -> str:
    """How the store names a person who set something: their name, or unnamed when nothing personal is kept."""
    if not name.strip():
        raise PolicyViolation("a person's name is needed to record what they did")
    return name.strip() if env.catalog.record_interactions else UNNAMED_PERSON


def feedback(env: Services, case: Case, reviewer: str, *, useful: bool | None, comment: str | None = None,
             reason_code: str | None = None, outbox_id: int | None = None) -> None:
    """A representative's feedback on an agent suggestion (a draft, when ``outbox_id`` is given)."""
    words = {True: "useful", False: "not useful", None: "no rating"}[useful]
    log_interaction(env, NewInteraction(kind=InteractionKind.FEEDBACK, case_id=case.id, actor=Actor.REPRESENTATIVE,
                                        actor_name=reviewer, summary=f"{words}" + (f": {comment}" if comment else ""),
                                        outbox_id=outbox_id, useful=useful, comment=comment, reason_code=reason_code))


def draft_decisions(store: CaseStore, since: datetime | None = None) -> list[Interaction]:
    """Representatives' decisions on drafts (accepted, edited, ignored, responded), oldest first."""
    return find(store, InteractionQuery(since=since, kinds=sorted(_DRAFT_DECISIONS)))

