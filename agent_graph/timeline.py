"""A case's history as one timeline: emails, field changes, decisions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from agent_graph.domain import Direction, OutboxStatus
from agent_graph.handoff import HandoffSummary
from agent_graph.interactions import InteractionKind
from agent_graph.store import CaseStore


class TimelineEntry(BaseModel):
    at: datetime
    who: str
    what: str
    detail: str
    order: int = 0
    ref: str | None = None
    """What the entry is, for feedback on it: ``message:ID``, ``interaction:ID`` or ``draft:ID``."""


def case_timeline(store: CaseStore, case_id: int) -> list[TimelineEntry]:
    case = store.case(case_id)
    entries: list[TimelineEntry] = []
    for m in store.messages(case_id):
        if m.direction == Direction.INBOUND:
            what = "automatic mail" if m.automatic_reason else "email in"
            entries.append(TimelineEntry(at=m.at, who=m.from_address, what=what, order=0,
                                         detail=f"{m.subject} — {_short(m.new_text)}"))
        else:
            entries.append(TimelineEntry(at=m.at, who="agent", what="email out", order=3, ref=f"message:{m.id}",
                                         detail=f"to {m.to_addresses}: {m.subject} — {_short(m.body_text)}"))
    for f in store.field_history(case_id):
        entries.append(TimelineEntry(at=f.set_at, who=f.set_by or "agent", what="field", order=1,
                                     detail=f"{f.name} = {f.value} ({f.extractor}, {f.confidence:.2f})"))
    for i in store.interactions(case_id):
        if i.kind == "update_case_fields":
            continue
        entries.append(TimelineEntry(at=i.at, who=i.actor_name or i.actor, what=i.kind, detail=i.summary, order=2,
                                     ref=f"interaction:{i.id}"))
    for d in store.outbox(case_id):
        if d.status == OutboxStatus.FAILED:
            entries.append(TimelineEntry(at=d.sent_at or d.created_at, who="system", what="not delivered", order=4,
                                         detail=f"{d.subject}: {d.delivery_error}"))
        elif d.status == OutboxStatus.SENT and d.delivered_at is None and d.attempts:
            entries.append(TimelineEntry(at=d.sent_at or d.created_at, who="system", what="delivery pending",
                                         order=4, detail=f"{d.subject}: {d.attempts} attempt(s), last error: {d.delivery_error}"))
        elif d.status != OutboxStatus.SENT:
            entries.append(TimelineEntry(at=d.created_at, who="agent", what=f"draft ({d.status})", order=2,
                                         ref=f"draft:{d.id}",
                                         detail=f"{d.subject} [{d.template_id or 'built-in'}]"))
    entries.sort(key=lambda e: (e.at, e.order))
    if not entries:
        entries.append(TimelineEntry(at=case.created_at, who="system", what="opened", detail=case.title))
    return entries


def _short(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def latest_handoff(store: CaseStore, case_id: int) -> HandoffSummary | None:
    """The hand-off summary of the case's last routing, as its ``routed`` interaction keeps it; None when the
    case was never routed (or the catalog records no interactions)."""
    routed = store.interactions(case_id, kinds=[InteractionKind.ROUTED])
    stored = routed[-1].detail.get("handoff") if routed else None
    return HandoffSummary.model_validate(stored) if stored else None
