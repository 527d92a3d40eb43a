"""The one place that reads and writes cases, messages, the outbox and interactions."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
import threading
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from agent_graph.brain.types import ExtractedValue
from agent_graph.domain import Action, Actor, CaseStatus, Direction, OutboxStatus
from agent_graph.intake import InboundEmail
from agent_graph.store.schema import ActiveRun, Base, Case, CaseField, Interaction, Message, OutboxItem

log = logging.getLogger(__name__)

CASE_NUMBER_FORMAT = "CAS-{:06d}"
T = TypeVar("T")
READ_ONLY = "case_agent_read_only"


def make_engine(url: str) -> Engine:
    """An engine; for SQLite: WAL, a busy timeout and ``BEGIN IMMEDIATE`` so writers queue, not lose updates."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    pool: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {"pool_size": 10, "max_overflow": 40}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _get(session: Session, model: type[T], pk: int) -> T:
    found = session.get(model, pk)
    if found is None:
        raise LookupError(f"no {model.__tablename__} row with id {pk}")  # type: ignore[attr-defined]
    return found


class CaseStore:
    """Cases and mail in a SQL database (SQLite by default). The schema is created on first use."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self._unit: ContextVar[Session | None] = ContextVar(f"case_store_unit_{id(self)}", default=None)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                           expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction; on SQLite it takes the write lock at once, so writers queue.

        Inside :meth:`unit_of_work` it joins that unit's transaction."""
        current = self._unit.get()
        if current is not None:
            yield current
            current.flush()  # ids and defaults are visible to the caller at once, as outside a unit
            return
        with self._writer(), self._sessions.begin() as session:
            yield session

    def _writer(self) -> AbstractContextManager[Any]:
        """SQLite has one writer at a time; threads of this process queue on a lock instead of
        polling the database's busy handler (which sleeps up to 100 ms between tries)."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction that never waits for the write lock (or the current unit's)."""
        current = self._unit.get()
        if current is not None:
            yield current
            return
        with self._read_sessions.begin() as session:
            yield session

    @contextmanager
    def unit_of_work(self, read_only: bool = False) -> Iterator[None]:
        """Every store call inside shares one transaction: all of it commits, or none (and faster).

        A read-only unit never takes the write lock, so it may span a slow brain call."""
        if self._unit.get() is not None:
            yield
            return
        with (nullcontext() if read_only else self._writer()), \
                (self._read_sessions if read_only else self._sessions).begin() as session:
            token = self._unit.set(session)
            try:
                yield
            finally:
                self._unit.reset(token)

    def close(self) -> None:
        self.engine.dispose()

    # --- cases -----------------------------------------------------------------------------
    def open_case(self, *, lob: str, customer_email: str, customer_name: str | None, title: str,
                  at: datetime) -> Case:
        with self.transaction() as s:
            case = Case(status=CaseStatus.NEW, lob=lob, customer_email=customer_email, customer_name=customer_name,
                        title=title, created_at=at, updated_at=at)
            s.add(case)
            s.flush()
            case.number = CASE_NUMBER_FORMAT.format(case.id)
            return case

    def case(self, case_id: int) -> Case:
        with self.reading() as s:
            return _get(s, Case, case_id)

    def case_by_number(self, number: str) -> Case | None:
        with self.reading() as s:
            return s.scalar(select(Case).where(Case.number == number.upper()))

    def update_case(self, case_id: int, at: datetime, **changes: Any) -> Case:
        with self.transaction() as s:
            case = _get(s, Case, case_id)
            for name, value in changes.items():
                setattr(case, name, value)
            case.updated_at = at
            return case

    def list_cases(self, status: str | None = None, limit: int | None = None) -> list[Case]:
        query = select(Case).order_by(Case.id)
        if status:
            query = query.where(Case.status == status)
        if limit:
            query = query.limit(limit)
        with self.reading() as s:
            return list(s.scalars(query))

    def cases_awaiting_reply(self) -> list[Case]:
        """Cases the clock may follow up or close."""
        wanted = [CaseStatus.AWAITING_CUSTOMER, CaseStatus.RESOLUTION_PROPOSED]
        with self.reading() as s:
            return list(s.scalars(select(Case).where(Case.status.in_(wanted)).order_by(Case.id)))

    def count_cases(self) -> int:
        with self.reading() as s:
            return s.scalar(select(func.count(Case.id))) or 0

    # --- fields ----------------------------------------------------------------------------
    def current_fields(self, case_id: int) -> dict[str, CaseField]:
        with self.reading() as s:
            rows = s.scalars(select(CaseField).where(CaseField.case_id == case_id).order_by(CaseField.id))
            return {row.name: row for row in rows}

    def field_history(self, case_id: int) -> list[CaseField]:
        with self.reading() as s:
            return list(s.scalars(select(CaseField).where(CaseField.case_id == case_id).order_by(CaseField.id)))

    def write_fields(self, case_id: int, values: Sequence[ExtractedValue], message_id: int | None,
                     at: datetime) -> list[CaseField]:
        with self.transaction() as s:
            rows = [
                CaseField(case_id=case_id, name=v.name, value=v.value, message_id=message_id, extractor=v.extractor,
                          confidence=v.confidence, span=v.span, set_at=at)
                for v in values
            ]
            s.add_all(rows)
            return rows

    # --- messages --------------------------------------------------------------------------
    def message_by_header(self, message_id: str) -> Message | None:
        with self.reading() as s:
            return s.scalar(select(Message).where(Message.message_id == message_id))

    def message(self, pk: int) -> Message:
        with self.reading() as s:
            return _get(s, Message, pk)

    def case_for_thread(self, message_ids: Sequence[str]) -> int | None:
        """The case of the first of these Message-IDs (In-Reply-To first, then References newest first)."""
        ids = [m for m in message_ids if m]
        if not ids:
            return None
        with self.reading() as s:
            rows = s.execute(select(Message.message_id, Message.case_id).where(Message.message_id.in_(ids))).all()
        by_id = {mid: case_id for mid, case_id in rows if case_id is not None}
        return next((by_id[m] for m in ids if m in by_id), None)

    def add_inbound(self, email: InboundEmail, case_id: int | None, at: datetime) -> Message:
        with self.transaction() as s:
            message = Message(
                case_id=case_id, direction=Direction.INBOUND, message_id=email.message_id,
                in_reply_to=email.in_reply_to, references=" ".join(email.references),
                from_address=email.from_address, from_name=email.from_name, to_addresses=", ".join(email.to),
                subject=email.subject, body_text=email.body_text, new_text=email.new_text,
                automatic_reason=email.automatic_reason, raw=email.raw, at=at,
            )
            s.add(message)
            if case_id is not None and email.automatic_reason is None:
                case = s.get(Case, case_id)
                if case is not None:
                    case.last_inbound_at = at
                    case.follow_ups = 0
            return message

    def mark_processed(self, message_pk: int) -> None:
        with self.transaction() as s:
            message = s.get(Message, message_pk)
            if message is not None:
                message.processed = True

    def messages(self, case_id: int) -> list[Message]:
        with self.reading() as s:
            return list(s.scalars(select(Message).where(Message.case_id == case_id).order_by(Message.at, Message.id)))

    def customer_messages(self, case_id: int) -> list[Message]:
        """The customer's own emails on a case (automatic mail left out), oldest first."""
        return [m for m in self.messages(case_id) if m.direction == Direction.INBOUND and not m.automatic_reason]

    def last_message(self, case_id: int) -> Message | None:
        found = self.messages(case_id)
        return found[-1] if found else None

    # --- outbox ----------------------------------------------------------------------------
    def outbox_item(self, pk: int) -> OutboxItem:
        with self.reading() as s:
            return _get(s, OutboxItem, pk)

    def outbox_by_key(self, key: str) -> OutboxItem | None:
        with self.reading() as s:
            return s.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))

    def outbox(self, case_id: int | None = None) -> list[OutboxItem]:
        query = select(OutboxItem).order_by(OutboxItem.id)
        if case_id is not None:
            query = query.where(OutboxItem.case_id == case_id)
        with self.reading() as s:
            return list(s.scalars(query))

    def pending_drafts(self, case_id: int | None = None) -> list[OutboxItem]:
        query = select(OutboxItem).where(OutboxItem.status == OutboxStatus.PENDING_REVIEW).order_by(OutboxItem.id)
        if case_id is not None:
            query = query.where(OutboxItem.case_id == case_id)
        with self.reading() as s:
            return list(s.scalars(query))

    def add_outbox(self, item: OutboxItem) -> OutboxItem:
        """Insert a draft, or return the one already stored under its idempotency key."""
        existing = self.outbox_by_key(item.idempotency_key)
        if existing is not None:
            return existing
        with self.transaction() as s:
            s.add(item)
            return item

    def set_outbox(self, pk: int, **changes: Any) -> OutboxItem:
        with self.transaction() as s:
            item = _get(s, OutboxItem, pk)
            for name, value in changes.items():
                setattr(item, name, value)
            return item

    def record_delivery(self, pk: int, at: datetime, raw: str) -> OutboxItem:
        """Mark an outbox item sent and thread it on its case, in one transaction (exactly once)."""
        with self.transaction() as s:
            item = _get(s, OutboxItem, pk)
            if item.status == OutboxStatus.SENT:
                return item
            item.status = OutboxStatus.SENT
            item.sent_at = at
            case = s.get(Case, item.case_id)
            assert case is not None
            s.add(Message(
                case_id=item.case_id, direction=Direction.OUTBOUND, message_id=item.message_id,
                in_reply_to=item.in_reply_to, references=item.references, from_address="", to_addresses=item.to_address,
                subject=item.subject, body_text=item.body, new_text=item.body, raw=raw, at=at, processed=True,
            ))
            case.status = item.status_after_send
            case.last_outbound_at = at
            case.updated_at = at
            if item.action == Action.REQUEST_INFO:
                case.info_requests += 1
            if item.action == Action.FOLLOW_UP:
                case.follow_ups += 1
            return item

    # --- interactions ----------------------------------------------------------------------
    def record(self, case_id: int | None, actor: Actor, kind: str, summary: str, at: datetime,
               detail: dict[str, Any] | None = None) -> None:
        with self.transaction() as s:
            s.add(Interaction(case_id=case_id, at=at, actor=actor, kind=kind, summary=summary, detail=detail or {}))

    def interactions(self, case_id: int | None = None) -> list[Interaction]:
        query = select(Interaction).order_by(Interaction.id)
        if case_id is not None:
            query = query.where(Interaction.case_id == case_id)
        with self.reading() as s:
            return list(s.scalars(query))

    # --- runs in progress ------------------------------------------------------------------
    def begin_run(self, thread_id: str, case_id: int, at: datetime, payload: dict[str, Any]) -> None:
        with self.transaction() as s:
            if s.get(ActiveRun, thread_id) is None:
                s.add(ActiveRun(thread_id=thread_id, case_id=case_id, started_at=at, payload=payload))

    def end_run(self, thread_id: str) -> None:
        with self.transaction() as s:
            run = s.get(ActiveRun, thread_id)
            if run is not None:
                s.delete(run)

    def unfinished_runs(self) -> list[ActiveRun]:
        with self.reading() as s:
            return list(s.scalars(select(ActiveRun).order_by(ActiveRun.started_at)))
