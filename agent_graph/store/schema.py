"""SQLAlchemy 2 tables for cases, their fields, messages, the outbox and interactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from agent_graph.clock import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(32), index=True)
    status_before_review: Mapped[str | None] = mapped_column(String(32))
    lob: Mapped[str] = mapped_column(String(64))
    intent: Mapped[str | None] = mapped_column(String(64))
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    customer_email: Mapped[str] = mapped_column(String(320), index=True)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(100))
    routed_reason: Mapped[str | None] = mapped_column(Text)
    info_requests: Mapped[int] = mapped_column(Integer, default=0)
    follow_ups: Mapped[int] = mapped_column(Integer, default=0)
    last_outbound_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    fields: Mapped[list[CaseField]] = relationship(back_populates="case", order_by="CaseField.id")

    __table_args__ = (Index("ix_cases_status_last_outbound", "status", "last_outbound_at"),)


class CaseField(Base):
    """One value written to a case field, with where it came from. The newest row per name is current."""

    __tablename__ = "case_fields"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    extractor: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    span: Mapped[str | None] = mapped_column(Text)
    set_at: Mapped[datetime]

    case: Mapped[Case] = relationship(back_populates="fields")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    to_addresses: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    new_text: Mapped[str] = mapped_column(Text, default="")
    automatic_reason: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
    processed: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxItem(Base):
    """A draft or sent email. ``idempotency_key`` makes sending exactly-once across retries."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    template_id: Mapped[str | None] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_after_send: Mapped[str] = mapped_column(String(32))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Interaction(Base):
    """Every agent action and every representative decision, for audit and reporting."""

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ActiveRun(Base):
    """A graph run in progress; a row left behind by a crash is run again on the next start.

    Every node is idempotent against the store (drafts and sends are keyed), so running the
    same input again finishes the work without repeating a side effect."""

    __tablename__ = "active_runs"

    thread_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    started_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
