"""The store's tables (SQLAlchemy Core) and the rows read from them (plain dataclasses).

The store speaks Core, not the ORM: a profile of the agent showed the ORM's sessions, identity map
and unit-of-work flushes taking half of the CPU of every email, and the agent only ever needs
"read these rows" and "write these values". Rows are snapshots: a change goes through
:class:`~agent_graph.store.repository.CaseStore`, which returns the row as written.
Each row type's fields are its table's columns, in order (``tests/test_store.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from agent_graph.clock import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


metadata = MetaData()

cases = Table(
    "cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(20), unique=True),
    Column("title", String(500), nullable=False, default=""),
    Column("status", String(32), nullable=False, index=True),
    Column("status_before_review", String(32)),
    Column("lob", String(64), nullable=False),
    Column("intent", String(64)),
    Column("intent_confidence", Float),
    Column("customer_email", String(320), nullable=False, index=True),
    Column("customer_name", String(200)),
    Column("queue", String(100)),
    Column("routed_reason", Text),
    Column("info_requests", Integer, nullable=False, default=0),
    Column("follow_ups", Integer, nullable=False, default=0),
    Column("last_outbound_at", UTCDateTime()),
    Column("last_inbound_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Added after the first release, as in messages: the customer's language (ISO 639-1), once told.
    Column("language", String(8)),
    Column("intent_rival", String(64)),
    Column("intent_margin", Float),
    Index("ix_cases_status_last_outbound", "status", "last_outbound_at"),
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), index=True),
    Column("direction", String(10), nullable=False),
    Column("message_id", String(998), nullable=False, unique=True),
    Column("in_reply_to", String(998)),
    Column("references", Text, nullable=False, default=""),
    Column("from_address", String(320), nullable=False),
    Column("from_name", String(200)),
    Column("to_addresses", Text, nullable=False, default=""),
    Column("subject", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False, default=""),
    Column("new_text", Text, nullable=False, default=""),
    Column("automatic_reason", String(200)),
    Column("raw", Text, nullable=False, default=""),
    Column("at", UTCDateTime(), nullable=False),
    Column("processed", Boolean, nullable=False, default=False),
    # Added after the first release: CaseStore adds them to an older database when it opens it.
    Column("sender_doubt", Text),
    Column("claimed_by", String(200)),
    Column("claim_expires_at", UTCDateTime()),
    # Added by migration 0002 (many workers): where it was read, and when its run failed for good.
    Column("source", Text),
    Column("quarantined_at", UTCDateTime()),
    Index("ix_messages_queue", "processed", "direction"),
)

case_fields = Table(
    "case_fields", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("value", Text, nullable=False),
    Column("message_id", Integer, ForeignKey("messages.id")),
    Column("extractor", String(64), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("span", Text),
    Column("set_at", UTCDateTime(), nullable=False),
    # Added by migration 0005: the person who set the value (None: the agent); the agent leaves it alone.
    Column("set_by", String(200)),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("action", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("template_id", String(64)),
    Column("to_address", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("status_after_send", String(32), nullable=False),
    Column("in_reply_to", String(998)),
    Column("references", Text, nullable=False, default=""),
    Column("message_id", String(998), nullable=False, unique=True),
    Column("edited", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    # Delivery through a mail connector, after the case's transaction committed (``delivery.py``).
    # Added after the first release, as in messages.
    Column("delivered_at", UTCDateTime()),
    Column("attempts", Integer),
    Column("next_attempt_at", UTCDateTime()),
    Column("delivery_error", Text),
    # Added by migration 0005: the draft as the agent proposed it, kept when a representative edited it.
    Column("proposed_subject", Text),
    Column("proposed_body", Text),
    # Added by migration 0002: the worker delivering it now (``agent_graph.claims``).
    Column("claimed_by", String(200)),
    Column("claim_expires_at", UTCDateTime()),
    Index("ix_outbox_delivery", "status", "delivered_at"),
)

interactions = Table(
    "interactions", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(20), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("detail", JSON, nullable=False, default=dict),
    # Added by migration 0005 (``agent_graph/interactions.py``): what reports and exports read.
    Column("actor_name", String(200)),
    Column("outbox_id", Integer),
    Column("template_id", String(64)),
    Column("catalog_version", String(40)),
    Column("prompt_version", String(100)),
    Column("edit_size", Integer),
    Column("decision_seconds", Float),
    Column("useful", Boolean),
    Column("comment", Text),
    Column("reason_code", String(64)),
    Index("ix_interactions_at", "at"),
)

active_runs = Table(
    "active_runs", metadata,
    Column("thread_id", String(100), primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("payload", JSON, nullable=False, default=dict),
    # Added after the first release, as in messages.
    Column("owner", String(200)),
    Column("lease_until", UTCDateTime()),
)

mailbox_positions = Table(
    "mailbox_positions", metadata,
    Column("name", String(500), primary_key=True),
    Column("epoch", String(100)),
    Column("position", Text),  # an IMAP UID, or a Graph delta link (a URL with an opaque token)
    Column("last_fetch_at", UTCDateTime()),
    Column("backlog", Integer),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime()),
)

worker_leases = Table(
    "worker_leases", metadata,
    # ``mailbox:NAME`` (who fetches it, on SQLite) or ``clock`` (whose turn the next tick is).
    Column("name", String(600), primary_key=True),
    Column("owner", String(200)),
    Column("lease_until", UTCDateTime()),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("raw", LargeBinary, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("error", Text, nullable=False),
    Column("first_at", UTCDateTime(), nullable=False),
    Column("last_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
)

console_users = Table(
    "console_users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    # argon2id, in the PHC string format (argon2-cffi): algorithm, parameters, salt and hash in one
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

dataverse_operations = Table(
    # What Dataverse still has to be told (--cases dataverse, agent_graph/dataverse/): each one idempotent,
    # run in order per case, retried later when Dataverse is throttling or down.
    "dataverse_operations", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("message_pk", Integer, ForeignKey("messages.id")),
    Column("payload", JSON, nullable=False, default=dict),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
)


@dataclass(slots=True, frozen=True)
class Case:
    id: int
    number: str | None
    title: str
    status: str
    status_before_review: str | None
    lob: str
    intent: str | None
    intent_confidence: float | None
    customer_email: str
    customer_name: str | None
    queue: str | None
    routed_reason: str | None
    info_requests: int
    follow_ups: int
    last_outbound_at: datetime | None
    last_inbound_at: datetime | None
    created_at: datetime
    updated_at: datetime
    language: str | None = None
    intent_rival: str | None = None  # the intent the same values would resolve too, best ranked (Catalog.rivals)
    intent_margin: float | None = None  # intent_confidence minus the rival's, at identification


@dataclass(slots=True, frozen=True)
class CaseField:
    """One value written to a case field, with where it came from. The newest row per name is current."""

    id: int
    case_id: int
    name: str
    value: str
    message_id: int | None
    extractor: str
    confidence: float
    span: str | None
    set_at: datetime
    set_by: str | None = None
    """The person who set the value (``interactions.edit_field``); None when the agent did."""


@dataclass(slots=True, frozen=True)
class Message:
    id: int
    case_id: int | None
    direction: str
    message_id: str
    in_reply_to: str | None
    references: str
    from_address: str
    from_name: str | None
    to_addresses: str
    subject: str
    body_text: str
    new_text: str
    automatic_reason: str | None
    raw: str
    at: datetime
    processed: bool
    sender_doubt: str | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    source: str | None = None
    """Where the email was read (``imap://…/INBOX;UID=7``), for the worker that runs it."""
    quarantined_at: datetime | None = None
    """Set when its run failed and it waits in the quarantine; a retry clears it."""


@dataclass(slots=True, frozen=True, kw_only=True)
class NewOutboxItem:
    """A draft as whoever drafts builds it, before the store keeps it (and gives it an ``id``).
    ``idempotency_key`` makes sending exactly-once across retries."""

    case_id: int
    idempotency_key: str
    action: str
    purpose: str
    template_id: str | None
    to_address: str
    subject: str
    body: str
    status: str
    status_after_send: str
    in_reply_to: str | None
    references: str = ""
    message_id: str
    edited: bool = False
    created_at: datetime


@dataclass(slots=True, frozen=True, kw_only=True)
class OutboxItem(NewOutboxItem):
    """A draft or sent email as the store keeps it, with its delivery state."""

    id: int
    sent_at: datetime | None = None
    """When the agent sent it: the case's transaction committed it to the outbox for delivery."""
    delivered_at: datetime | None = None
    """When the mail connector handed it over (the SMTP server accepted it); None while pending."""
    attempts: int | None = None
    next_attempt_at: datetime | None = None
    delivery_error: str | None = None
    proposed_subject: str | None = None
    """The subject as the agent proposed it, when a representative edited it (else None: as proposed)."""
    proposed_body: str | None = None
    """The body as the agent proposed it, when a representative edited it (else None: as proposed)."""
    claimed_by: str | None = None
    """The worker delivering it now; None when nobody is."""
    claim_expires_at: datetime | None = None


@dataclass(slots=True, frozen=True)
class Interaction:
    """Every agent action and every representative decision, for audit and reporting."""

    id: int
    case_id: int | None
    at: datetime
    actor: str
    kind: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    actor_name: str | None = None
    """Who: the representative's name, or None for the agent and the system."""
    outbox_id: int | None = None
    template_id: str | None = None
    catalog_version: str | None = None
    prompt_version: str | None = None
    edit_size: int | None = None
    """Characters a representative changed in a draft (inserted plus deleted)."""
    decision_seconds: float | None = None
    """Seconds from the draft to the representative's decision on it."""
    useful: bool | None = None
    comment: str | None = None
    reason_code: str | None = None


@dataclass(slots=True, frozen=True)
class ActiveRun:
    """A graph run in progress, which is also the claim on its case: one run per case at a time.
    A row left behind by a crash is run again on the next start.

    Every node is idempotent against the store (drafts and sends are keyed), so running the
    same input again finishes the work without repeating a side effect."""

    thread_id: str
    case_id: int
    started_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    """The worker running it now (``agent_graph.claims``); None when nobody is."""
    lease_until: datetime | None = None


@dataclass(slots=True, frozen=True)
class QuarantinedEmail:
    """An inbound email that could not be processed, kept byte for byte with why.

    One row per distinct raw email (``digest``: SHA-256 of the bytes); every failed attempt
    updates ``error``, ``last_at`` and ``attempts``. Nothing of it is on any case."""

    id: int
    digest: str
    raw: bytes
    source: str
    error: str
    first_at: datetime
    last_at: datetime
    attempts: int


@dataclass(slots=True, frozen=True)
class MailboxPosition:
    """Where a mail connector's reading stopped, so that a restart neither skips nor re-reads.

    ``epoch`` invalidates ``position`` when it changes (IMAP: UIDVALIDITY, and the last UID read)."""

    name: str
    epoch: str | None = None
    position: str | None = None
    last_fetch_at: datetime | None = None
    backlog: int | None = None
    """Emails found at the last fetch and not yet processed."""
    last_error: str | None = None
    last_error_at: datetime | None = None


ROW_TABLES: dict[type, Table] = {Case: cases, CaseField: case_fields, Message: messages, OutboxItem: outbox,
                                 Interaction: interactions, ActiveRun: active_runs,
                                 QuarantinedEmail: quarantine, MailboxPosition: mailbox_positions}
