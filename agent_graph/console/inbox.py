"""The console's inbox: cases filtered by status, line of business, intent, language and review;
open cases first, the longest-waiting first (since the customer last wrote, or the case was opened),
then the resolved and closed ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select

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


FINISHED = (CaseStatus.RESOLVED, CaseStatus.CLOSED)


@dataclass(frozen=True)
class InboxRow:
    case: Case
    waiting: timedelta | None
    """Since the customer last wrote (or the case was opened); None for a finished case."""

    @property
    def waiting_text(self) -> str:
        if self.waiting is None:
            return "—"
        hours = int(self.waiting.total_seconds() // 3600)
        return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {self.waiting.seconds // 60 % 60} min"


def inbox_rows(store: CaseStore, chosen: InboxFilter, now: datetime) -> list[InboxRow]:
    since = func.coalesce(cases.c.last_inbound_at, cases.c.created_at)
    finished = case((cases.c.status.in_([s.value for s in FINISHED]), 1), else_=0)
    query = select(cases).order_by(finished, since, cases.c.id).limit(MAX_ROWS)  # open cases first
    status = CaseStatus.PENDING_REVIEW if chosen.review else chosen.status
    for column, value in ((cases.c.status, status), (cases.c.lob, chosen.lob), (cases.c.intent, chosen.intent),
                          (cases.c.language, chosen.language)):
        if value:
            query = query.where(column == value)
    with store.engine.connect() as connection:
        found = [Case(*row) for row in connection.execute(query)]  # a row type's fields are its columns
    return [InboxRow(case=c, waiting=None if c.status in FINISHED
                     else max(now - (c.last_inbound_at or c.created_at), timedelta(0))) for c in found]
