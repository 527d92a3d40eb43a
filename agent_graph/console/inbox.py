"""The console's inbox: cases filtered by status, line of business, intent, language and review,
the longest-waiting first (waiting since the customer last wrote, or since the case was opened)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from agent_graph.domain import CaseStatus
from agent_graph.store import Case, CaseStore
from agent_graph.store.schema import cases

MAX_ROWS = 500


class InboxFilter(BaseModel):
    """The inbox's query string; an empty value is no filter."""

    model_config = ConfigDict(extra="ignore")

    status: CaseStatus | None = None
    lob: str | None = Field(default=None, max_length=64)
    intent: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)
    review: bool = Field(default=False, description="only cases with a draft waiting for review")


@dataclass(frozen=True)
class InboxRow:
    case: Case
    waiting: timedelta

    @property
    def waiting_text(self) -> str:
        hours = int(self.waiting.total_seconds() // 3600)
        return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {int(self.waiting.seconds // 60) % 60} min"


def inbox_rows(store: CaseStore, chosen: InboxFilter, now: datetime) -> list[InboxRow]:
    since = func.coalesce(cases.c.last_inbound_at, cases.c.created_at)
    query = select(cases).order_by(since, cases.c.id).limit(MAX_ROWS)
    status = CaseStatus.PENDING_REVIEW if chosen.review else chosen.status
    for column, value in ((cases.c.status, status), (cases.c.lob, chosen.lob), (cases.c.intent, chosen.intent),
                          (cases.c.language, chosen.language)):
        if value:
            query = query.where(column == value)
    with store.engine.connect() as c:
        found = [Case(*row) for row in c.execute(query)]  # a record's fields are its columns
    return [InboxRow(case=case, waiting=max(now - (case.last_inbound_at or case.created_at), timedelta(0)))
            for case in found]
