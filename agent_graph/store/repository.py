"""The one place that reads and writes cases, messages, the outbox and interactions.

Statements are SQLAlchemy Core, built once at import and run with bound parameters, so they stay
portable (SQLite by default, PostgreSQL at scale) and their compiled form is cached per engine.
On SQLite the statements run through ``_run`` (and ``_one``, ``_maybe``, ``_all``, ``_first``) run
their compiled SQL on the driver directly (``_Direct``). Updates give the row back with
``RETURNING`` (SQLite 3.35 or later, PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Integer,
    Row,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    make_url,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from agent_graph.brain.types import ExtractedValue
from agent_graph.claims import Claim, can_take, process_alive
from agent_graph.domain import Action, Actor, CaseStatus, Direction, OutboxStatus
from agent_graph.errors import CaseAgentError, StoreUnavailable, bounded
from agent_graph.intake.message import InboundEmail
from agent_graph.intake.parsing import stranger_reason
from agent_graph.store.migration import migrate
from agent_graph.store.schema import (
    ActiveRun,
    Case,
    CaseField,
    Interaction,
    MailboxPosition,
    Message,
    NewOutboxItem,
    OutboxItem,
    QuarantinedEmail,
    active_runs,
    case_fields,
    cases,
    interactions,
    mailbox_positions,
    messages,
    metadata,
    outbox,
    quarantine,
    worker_leases,
)

log = logging.getLogger(__name__)

CASE_NUMBER_FORMAT = "CAS-{:06d}"
R = TypeVar("R")
Kept = TypeVar("Kept", Case, Message)
"""The rows a unit of work keeps (``_Unit``)."""

_INSERT = {table.name: insert(table) for table in metadata.sorted_tables}
# Bound-parameter names differ from column names: Core reserves a column's name for its SET value.
_CASE = select(cases).where(cases.c.id == bindparam("pk"))
_CASE_BY_NUMBER = select(cases).where(cases.c.number == bindparam("key"))
_UPDATE_CASE = update(cases).where(cases.c.id == bindparam("pk")).returning(*cases.c)
_CASES_AWAITING = (select(cases).where(cases.c.status.in_([CaseStatus.AWAITING_CUSTOMER, CaseStatus.RESOLUTION_PROPOSED]))
                   .order_by(cases.c.id))
_FIELDS = select(case_fields).where(case_fields.c.case_id == bindparam("pk")).order_by(case_fields.c.id)
_MESSAGE = select(messages).where(messages.c.id == bindparam("pk"))
_MESSAGE_BY_HEADER = select(messages).where(messages.c.message_id == bindparam("key"))
_MESSAGES = (select(messages).where(messages.c.case_id == bindparam("pk"))
             .order_by(messages.c.at, messages.c.id))
_LAST_MESSAGE = (select(messages).where(messages.c.case_id == bindparam("pk"))
                 .order_by(messages.c.at.desc(), messages.c.id.desc()).limit(1))
_THREAD_CASES = (select(messages.c.message_id, messages.c.case_id)
                 .where(messages.c.message_id.in_(bindparam("keys", expanding=True))))
_MARK_PROCESSED = update(messages).where(messages.c.id == bindparam("pk")).values(processed=True)
_INBOUND_SEEN = (update(cases).where(cases.c.id == bindparam("pk"))
                 .values(last_inbound_at=bindparam("at"), follow_ups=0))
_OUTBOX_ITEM = select(outbox).where(outbox.c.id == bindparam("pk"))
_OUTBOX_BY_KEY = select(outbox).where(outbox.c.idempotency_key == bindparam("key"))
_PENDING_DRAFTS = select(outbox).where(outbox.c.status == OutboxStatus.PENDING_REVIEW).order_by(outbox.c.id)
_PENDING_DRAFTS_OF_CASE = _PENDING_DRAFTS.where(outbox.c.case_id == bindparam("pk"))
_UPDATE_OUTBOX = update(outbox).where(outbox.c.id == bindparam("pk")).returning(*outbox.c)
_DELIVERED = (update(cases).where(cases.c.id == bindparam("pk"))
              .values(status=bindparam("status_after"), last_outbound_at=bindparam("at"), updated_at=bindparam("at"),
                      info_requests=cases.c.info_requests + bindparam("more_requests", type_=Integer),
                      follow_ups=cases.c.follow_ups + bindparam("more_follow_ups", type_=Integer)))
_UNDELIVERED = (select(outbox).where(outbox.c.status == OutboxStatus.SENT, outbox.c.delivered_at.is_(None))
                .order_by(outbox.c.id))
_POSITION = select(mailbox_positions).where(mailbox_positions.c.name == bindparam("key"))
_RUN = select(active_runs).where(active_runs.c.thread_id == bindparam("key"))
_END_RUN = delete(active_runs).where(active_runs.c.thread_id == bindparam("key"))
# Claims are compare-and-set: taken only from the holder just read (atomic on PostgreSQL too).
_TAKE_MESSAGE = (update(messages).where(messages.c.id == bindparam("pk"), messages.c.processed.is_(False),
                                        messages.c.claimed_by.is_not_distinct_from(bindparam("seen")))
                 .values(claimed_by=bindparam("owner"), claim_expires_at=bindparam("until"), quarantined_at=None))
_TAKE_RUN = (update(active_runs).where(active_runs.c.thread_id == bindparam("key"),
                                       active_runs.c.owner.is_not_distinct_from(bindparam("seen")))
             .values(owner=bindparam("new_owner"), lease_until=bindparam("until")))
_RELEASE_MESSAGES = (update(messages).where(messages.c.claimed_by == bindparam("holder"))
                     .values(claimed_by=None, claim_expires_at=None))
_SEND = (update(outbox).where(outbox.c.id == bindparam("pk"), outbox.c.status != OutboxStatus.SENT)
         .values(status=OutboxStatus.SENT, sent_at=bindparam("at")).returning(*outbox.c))
_RELEASE_RUNS = update(active_runs).where(active_runs.c.owner == bindparam("holder")).values(owner=None, lease_until=None)

# The workers' queue (``claim_next_email``): the oldest stored inbound email nobody runs, that is
# not waiting in the quarantine, and whose case has no earlier such email (a case's emails run in
# order). On PostgreSQL the row is locked with SKIP LOCKED: two workers never wait for each other.
_EARLIER = messages.alias("earlier")
_WAITING = (messages.c.processed.is_(False), messages.c.direction == Direction.INBOUND,
            messages.c.quarantined_at.is_(None))
_NEXT_EMAIL = (select(messages.c.id).where(
    *_WAITING, or_(messages.c.claimed_by.is_(None), messages.c.claim_expires_at <= bindparam("now")),
    ~exists().where(_EARLIER.c.case_id == messages.c.case_id, _EARLIER.c.processed.is_(False),
                    _EARLIER.c.direction == Direction.INBOUND, _EARLIER.c.quarantined_at.is_(None),
                    _EARLIER.c.id < messages.c.id))
    .order_by(messages.c.id).limit(1).with_for_update(skip_locked=True, of=messages))
_CLAIM_MESSAGE = (update(messages).where(messages.c.id == bindparam("pk"))
                  .values(claimed_by=bindparam("owner"), claim_expires_at=bindparam("until")).returning(*messages.c))
_QUEUED = select(func.count(messages.c.id)).where(*_WAITING)
_SET_ASIDE = (update(messages).where(messages.c.id == bindparam("pk"), messages.c.processed.is_(False))
              .values(quarantined_at=bindparam("failed_at"), claimed_by=None, claim_expires_at=None))
# Outbox emails due for delivery that no live worker is delivering, locked as above.
_DELIVERY_CLAIMS = (select(outbox.c.id).where(
    outbox.c.status == OutboxStatus.SENT, outbox.c.delivered_at.is_(None),
    or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= bindparam("now")),
    or_(outbox.c.claimed_by.is_(None), outbox.c.claim_expires_at <= bindparam("claim_at")))
    .order_by(outbox.c.id).limit(bindparam("limit")).with_for_update(skip_locked=True))
_CLAIM_DELIVERIES = (update(outbox).where(outbox.c.id.in_(bindparam("pks", expanding=True)))
                     .values(claimed_by=bindparam("owner"), claim_expires_at=bindparam("until"))
                     .returning(*outbox.c))
_LEASE = select(worker_leases).where(worker_leases.c.name == bindparam("key"))
_TAKE_LEASE = (update(worker_leases).where(worker_leases.c.name == bindparam("key"),
                                           worker_leases.c.owner.is_not_distinct_from(bindparam("seen")))
               .values(owner=bindparam("new_owner"), lease_until=bindparam("until")))
_TAKE_TURN = (update(worker_leases).where(worker_leases.c.name == bindparam("key"), or_(
    worker_leases.c.lease_until.is_(None), worker_leases.c.lease_until <= bindparam("now")))
              .values(owner=bindparam("new_owner"), lease_until=bindparam("until")))
_RELEASE_LEASE = (update(worker_leases).where(worker_leases.c.name == bindparam("key"),
                                              worker_leases.c.owner == bindparam("holder"))
                  .values(owner=None, lease_until=None))
#: Leases a heartbeat renews: a mailbox's fetcher (a clock turn runs out on its own).
MAILBOX_LEASE = "mailbox:"
_CLAIMED = {  # table: (owner column, expiry column, what makes a row's claim still matter)
    messages: (messages.c.claimed_by, messages.c.claim_expires_at, messages.c.processed.is_(False)),
    active_runs: (active_runs.c.owner, active_runs.c.lease_until, None),
    outbox: (outbox.c.claimed_by, outbox.c.claim_expires_at, outbox.c.delivered_at.is_(None)),
    worker_leases: (worker_leases.c.owner, worker_leases.c.lease_until,
                    worker_leases.c.name.startswith(MAILBOX_LEASE)),
}


_UNIQUE_KEYS = {messages: messages.c.message_id, outbox: outbox.c.idempotency_key, quarantine: quarantine.c.digest,
                mailbox_positions: mailbox_positions.c.name, active_runs: active_runs.c.thread_id,
                worker_leases: worker_leases.c.name}


def _insert_new_statements(dialect: str) -> dict[str, Any]:
    """Per table with a natural key, ``INSERT … ON CONFLICT (key) DO NOTHING RETURNING pk``: a row
    another transaction stored meanwhile (on PostgreSQL neither saw the other's row before it
    committed) makes it insert nothing and return no row, instead of a unique-key error that would
    abort the whole transaction. Other databases get a plain insert."""
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    return {table.name: (module.insert(table).on_conflict_do_nothing(index_elements=[key]) if module is not None
                         else insert(table)).returning(*table.primary_key.columns)
            for table, key in _UNIQUE_KEYS.items()}


_INSERT_NEW = {dialect: _insert_new_statements(dialect) for dialect in ("sqlite", "postgresql")}


class StoredMeanwhile(CaseAgentError):
    """Another worker stored this email at the same moment; read it again as stored."""


_DRIVER_PACKAGES = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient"}
"""The package to install for a driver module whose name is not its package's."""


def database_url(url: str) -> URL:
    """The parsed SQLAlchemy URL; StoreUnavailable when it is not one."""
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"not a database URL: {bounded(url, 100)!r} "
                               "(expected e.g. sqlite:///case-agent.db or postgresql+psycopg://user@host/cases)") from None


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store; None for a store in memory or on a server."""
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


_QUARANTINED = select(quarantine).where(quarantine.c.id == bindparam("pk"))
_QUARANTINED_BY_DIGEST = select(quarantine).where(quarantine.c.digest == bindparam("key"))
_REQUARANTINE = (update(quarantine).where(quarantine.c.id == bindparam("pk"))
                 .values(attempts=quarantine.c.attempts + 1).returning(*quarantine.c))
_UNQUARANTINE = delete(quarantine).where(quarantine.c.digest == bindparam("key"))
_DROP_QUARANTINED = delete(quarantine).where(quarantine.c.id == bindparam("pk"))


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit number) for a name."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def raw_digest(raw: bytes) -> str:
    """What makes two quarantined emails the same one: the SHA-256 of their bytes."""
    return hashlib.sha256(raw).hexdigest()


def make_engine(url: str) -> Engine:
    """An engine; for SQLite: WAL, a busy timeout and ``BEGIN IMMEDIATE`` so writers queue, not lose updates.

    StoreUnavailable when the URL names an unknown kind of database or a driver that is not installed."""
    return _beginning_immediately(_store_engine(url))


def _beginning_immediately(engine: Engine) -> Engine:
    """The engine whose every transaction, on SQLite, starts with ``BEGIN IMMEDIATE`` (an event
    listener): for code other than the store's own transactions (migrations, bulk inserts)."""
    if engine.dialect.name != "sqlite":
        return engine
    beginning = engine.execution_options()  # listeners on it leave the store's own engine without any

    @event.listens_for(beginning, "begin")
    def _on_begin(connection: Any) -> None:
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE")

    return beginning


def _store_engine(url: str) -> Engine:
    """The engine without transaction listeners: :meth:`CaseStore._transaction` says BEGIN itself."""
    parsed = database_url(url)
    try:
        return _make_engine(url)
    except NoSuchModuleError:
        raise StoreUnavailable(f"unknown kind of database {parsed.drivername!r} in the URL "
                               f"{parsed.render_as_string(hide_password=True)!r}") from None
    except ImportError as exc:
        package = _DRIVER_PACKAGES.get(exc.name or "", exc.name)
        raise StoreUnavailable(f"the database driver for {parsed.drivername!r} is not installed: "
                               f"pip install {package}") from None


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # As many connections as SQLite's pool below: threads beyond wait for one.
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    pool: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {"pool_size": 10, "max_overflow": 40}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _from_row(kind: type[R], row: Row[Any]) -> R:
    return kind(**row._asdict())


def _from_rows(kind: type[R], rows: Any) -> list[R]:
    return [kind(**row._asdict()) for row in rows]


@dataclasses.dataclass(frozen=True, slots=True)
class _Ran:
    """What a statement gave: its rows (a SELECT's, or an INSERT's or UPDATE's ``RETURNING``) by
    column name, and how many rows it wrote."""

    rows: list[dict[str, Any]]
    rowcount: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Direct:
    """A statement compiled once for SQLite (for one set of parameter names), run on the driver's own
    connection: SQLAlchemy's execution path costs several times the statement itself, and an email
    makes dozens of them (README, "Performance"). The same SQL, parameters and type conversions as
    SQLAlchemy's compiled statement (``compile`` below)."""

    sql: str
    params: tuple[tuple[str, bool, Any, Any], ...]
    """Each ``?`` in order: its parameter's name, whether the caller must give it, the value the
    statement holds otherwise, its converter."""
    columns: tuple[tuple[str, Any], ...]
    """Each result column: its name and its converter (None: the value as SQLite gives it)."""

    @classmethod
    def compile(cls, statement: Any, connection: Connection, keys: frozenset[str]) -> _Direct | None:
        """None for a statement this path does not take: parameters expanded at execution, or an
        INSERT or UPDATE whose columns left out need their defaults computed."""
        compiled: Any = statement.compile(dialect=connection.dialect, column_keys=sorted(keys))
        if (compiled.post_compile_params or compiled.literal_execute_params or compiled.positiontup is None
                or getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None)):
            return None
        dialect = connection.dialect
        held = compiled.construct_params(_check=False)
        binds = compiled._bind_processors
        return cls(sql=compiled.string,
                   params=tuple((name, compiled.binds[name].required, held.get(name), binds.get(name))
                                for name in compiled.positiontup),
                   columns=tuple((column.keyname, column.type._cached_result_processor(dialect, None))
                                 for column in compiled._result_columns))

    def run(self, connection: Connection, given: dict[str, Any], first_only: bool) -> _Ran:
        values = []
        for name, required, held, convert in self.params:
            value = given[name] if required else given.get(name, held)  # KeyError: a parameter not given
            values.append(convert(value) if convert else value)
        driver: Any = connection.connection.driver_connection
        try:
            cursor = driver.execute(self.sql, values)
            try:
                fetched = (cursor.fetchmany(1) if first_only else cursor.fetchall()) if self.columns else []
                rowcount = cursor.rowcount
            finally:
                cursor.close()
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it
            raise DBAPIError.instance(self.sql, values, exc, sqlite3.Error) from exc
        columns = self.columns
        return _Ran([{name: convert(value) if convert else value for (name, convert), value in zip(columns, row)}
                     for row in fetched], rowcount)


_DIRECT: dict[tuple[int, frozenset[str]], tuple[Any, _Direct | None]] = {}
"""Statements built once at import (below), by id and parameter names, each with its compiled form;
the entry holds the statement itself, so its id is never another's."""


def _direct_for(connection: Connection, statement: Any, keys: frozenset[str]) -> _Direct | None:
    """The statement's direct form on SQLite; None elsewhere, or when it has none."""
    if connection.dialect.name != "sqlite":
        return None
    entry = _DIRECT.get((id(statement), keys))
    if entry is None or entry[0] is not statement:
        entry = _DIRECT[id(statement), keys] = (statement, _Direct.compile(statement, connection, keys))
    return entry[1]


def _run(connection: Connection, statement: Any, params: dict[str, Any], first_only: bool = False) -> _Ran:
    """Run a statement built once at import (one row of parameters), directly where it can be."""
    direct = _direct_for(connection, statement, frozenset(params))
    if direct is not None:
        return direct.run(connection, params, first_only)
    result = connection.execute(statement, params)
    rowcount = result.rowcount
    if not result.returns_rows:
        return _Ran([], rowcount)
    if first_only:
        first = result.first()
        return _Ran([] if first is None else [first._asdict()], rowcount)
    return _Ran([row._asdict() for row in result], rowcount)


def _first(connection: Connection, statement: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    rows = _run(connection, statement, params, first_only=True).rows
    return rows[0] if rows else None


def _all(kind: type[R], connection: Connection, statement: Any, **params: Any) -> list[R]:
    """Every row of a SELECT built once at import, as ``kind``."""
    return [kind(**row) for row in _run(connection, statement, params).rows]


def _one(kind: type[R], connection: Connection, statement: Any, **params: Any) -> R:
    """The first row of a SELECT built once at import, as ``kind``; LookupError when none."""
    row = _first(connection, statement, params)
    if row is None:
        raise LookupError(f"no {kind.__name__} row matching {params}")
    return kind(**row)


def _maybe(kind: type[R], connection: Connection, statement: Any, **params: Any) -> R | None:
    """The first row of a SELECT built once at import, as ``kind``; None when none."""
    row = _first(connection, statement, params)
    return None if row is None else kind(**row)


@dataclasses.dataclass(slots=True)
class _Unit:
    """One transaction shared by a node's store calls, and the case and message rows it has read.

    Every write to a case or a message goes through the store, which refreshes or forgets the row
    here, so a node asking for the same case three times reads it once."""

    connection: Connection
    cases: dict[int, Case] = dataclasses.field(default_factory=dict)
    messages: dict[int, Message] = dataclasses.field(default_factory=dict)

    def rows(self, kind: type[Case | Message]) -> dict[int, Any]:
        """The rows of this kind the unit keeps, by id."""
        return self.cases if kind is Case else self.messages


def check_sqlite_file(path: Path, create: bool) -> None:
    """Refuse, in one sentence, a SQLite file that cannot be used: missing when it must exist
    (``create`` false: a mistyped path must not become a new empty store), in a folder that does
    not exist or cannot be written to (WAL mode writes beside the file, even to read)."""
    folder = path.parent
    if path.is_dir():
        raise StoreUnavailable(f"{path} is a folder, not a case database")
    if not path.exists():
        if not create:
            raise StoreUnavailable(f"no case database at {path} (create one by processing mail: "
                                   f"case-agent process EMAILS --db sqlite:///{path})")
        if not folder.is_dir():
            raise StoreUnavailable(f"cannot create the case database {path}: there is no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnavailable(f"cannot use the case database {path}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreUnavailable(f"cannot use the case database {path}: the file is not readable and writable")


class CaseStore:
    """Cases and mail in a SQL database (SQLite by default, or PostgreSQL). The schema is created on
    first use, and a database made by an earlier release is upgraded (``agent_graph.store.migration``).

    ``create=False`` (commands that only read or answer existing cases) refuses a SQLite file that
    does not exist instead of creating an empty store. Every reason the database cannot be opened
    (bad URL, driver not installed, file or folder unusable, server unreachable) is a StoreUnavailable."""

    def __init__(self, url: str, create: bool = True):
        self.url = url
        path = sqlite_file(url)
        if path is not None:
            check_sqlite_file(path, create)
        self._engine = _store_engine(url)
        self.engine = _beginning_immediately(self._engine)
        """For statements outside the store's methods (migrations, the bench's bulk inserts)."""
        try:
            self.migration = migrate(self.engine)
            """What opening did to the schema (``case-agent migrate`` prints it)."""
        except StoreUnavailable:
            self._engine.dispose()
            raise
        except SQLAlchemyError as exc:
            self._engine.dispose()
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            shown = path or database_url(url).render_as_string(hide_password=True)
            raise StoreUnavailable(f"cannot open the case database {shown}: {bounded(str(reason))}") from None
        dialect = self.engine.dialect.name
        self._sqlite = dialect == "sqlite"
        self._write_lock = threading.Lock() if self._sqlite else None
        self._insert_new = _INSERT_NEW.get(dialect) or _insert_new_statements(dialect)
        self._unit: ContextVar[_Unit | None] = ContextVar(f"case_store_unit_{id(self)}", default=None)
        self._advisory: dict[str, Connection] = {}
        """Mailboxes this process fetches, on PostgreSQL: the connection holding each one's lock."""
        self._idle: list[Connection] = []
        """On SQLite: connections between two of the store's transactions (see :meth:`_transaction`)."""
        self._idle_lock = threading.Lock()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock at once, so writers queue.

        Inside :meth:`unit_of_work` it joins that unit's transaction."""
        current = self._unit.get()
        if current is not None:
            yield current.connection
            return
        with self._writer(), self._transaction(read_only=False) as connection:
            yield connection

    @contextmanager
    def _transaction(self, read_only: bool) -> Iterator[Connection]:
        """A transaction of the store's own; on SQLite it says ``BEGIN`` itself, ``IMMEDIATE`` to write
        (the write lock taken at once: writers queue instead of failing to upgrade a read).

        Said here rather than by an engine event listener: any listener makes SQLAlchemy dispatch
        events around every statement, a cost ``case-agent bench`` sees on every email.

        On SQLite the transaction is the driver's, on a connection the store keeps between its
        transactions instead of taking it from the pool and giving it back each time: that, and
        SQLAlchemy's transaction around it, cost several times an empty transaction itself, and an
        email makes a dozen (README, "Performance"). A statement run through SQLAlchemy inside opens
        SQLAlchemy's view of the transaction too, which then ends it."""
        if not self._sqlite:
            with self._engine.begin() as connection:
                yield connection
            return
        connection = self._idle_connection()
        driver = connection.connection.driver_connection
        assert driver is not None  # a connection checked out of the pool
        try:
            driver.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
            yield connection
        except BaseException:
            self._end(connection, driver, commit=False)
            raise
        self._end(connection, driver, commit=True)

    def _idle_connection(self) -> Connection:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self._engine.connect()

    def _end(self, connection: Connection, driver: Any, commit: bool) -> None:
        """Commit (or roll back) a transaction of :meth:`_transaction` on SQLite, and keep its
        connection for the next one; a connection that failed to end one is closed instead."""
        try:
            if connection.in_transaction():  # SQLAlchemy's view, which ends the driver's too
                (connection.commit if commit else connection.rollback)()
            elif driver.in_transaction:
                (driver.commit if commit else driver.rollback)()
        except BaseException:
            connection.close()  # back to the pool, which rolls back whatever is left
            raise
        if connection.invalidated:
            connection.close()
            return
        with self._idle_lock:
            self._idle.append(connection)

    def _writer(self) -> AbstractContextManager[Any]:
        """SQLite has one writer at a time; threads of this process queue on a lock instead of
        polling the database's busy handler (which sleeps up to 100 ms between tries)."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read-only transaction that never waits for the write lock (or the current unit's)."""
        current = self._unit.get()
        if current is not None:
            yield current.connection
            return
        with self._transaction(read_only=True) as connection:
            yield connection

    @contextmanager
    def unit_of_work(self, read_only: bool = False) -> Iterator[None]:
        """Every store call inside shares one transaction: all of it commits, or none (and faster).

        A read-only unit never takes the write lock. Keep slow calls (a language model) outside
        any unit all the same: a transaction holds a pooled connection and pins a WAL snapshot."""
        if self._unit.get() is not None:
            yield
            return
        with (nullcontext() if read_only else self._writer()), self._transaction(read_only) as connection:
            token = self._unit.set(_Unit(connection))
            try:
                yield
            finally:
                self._unit.reset(token)

    def close(self) -> None:
        for held in self._advisory.values():
            held.close()
        self._advisory.clear()
        with self._idle_lock:
            for idle in self._idle:
                idle.close()
            self._idle.clear()
        self._engine.dispose()

    def _remember(self, row: Kept) -> Kept:
        """Keep a case or message row for the rest of the current unit, if there is one."""
        unit = self._unit.get()
        if unit is not None:
            unit.rows(type(row))[row.id] = row
        return row

    def _kept_or_read(self, kind: type[Kept], query: Any, pk: int) -> Kept:
        """A case or message row by id: the current unit's copy when it has one, else read (and kept)."""
        unit = self._unit.get()
        if unit is not None and pk in unit.rows(kind):
            kept: Kept = unit.rows(kind)[pk]
            return kept
        with self._reading() as c:
            return self._remember(_one(kind, c, query, pk=pk))

    def _seen_inbound(self, case_id: int, at: datetime) -> None:
        """What ``_INBOUND_SEEN`` did, applied to the unit's copy of the case (saves reading it again)."""
        unit = self._unit.get()
        if unit is not None and case_id in unit.cases:
            unit.cases[case_id] = dataclasses.replace(unit.cases[case_id], last_inbound_at=at, follow_ups=0)

    def _forget(self, *, case_id: int | None = None, message_pk: int | None = None) -> None:
        unit = self._unit.get()
        if unit is not None:
            if case_id is not None:
                unit.cases.pop(case_id, None)
            if message_pk is not None:
                unit.messages.pop(message_pk, None)

    # --- cases -----------------------------------------------------------------------------
    def open_case(self, *, lob: str, customer_email: str, customer_name: str | None, title: str,
                  at: datetime) -> Case:
        with self._writing() as c:
            inserted = c.execute(_INSERT[cases.name], {
                "status": CaseStatus.NEW, "lob": lob, "customer_email": customer_email,
                "customer_name": customer_name, "title": title, "created_at": at, "updated_at": at,
            }).inserted_primary_key
            assert inserted is not None, "a single-row INSERT has its primary key"
            (case_id,) = inserted
            numbered = _first(c, _UPDATE_CASE, {"pk": case_id, "number": CASE_NUMBER_FORMAT.format(case_id)})
            assert numbered is not None, "the case inserted above"
            return self._remember(Case(**numbered))

    def case(self, case_id: int) -> Case:
        return self._kept_or_read(Case, _CASE, case_id)

    def case_by_number(self, number: str) -> Case | None:
        with self._reading() as c:
            return _maybe(Case, c, _CASE_BY_NUMBER, key=number.upper())

    def case_by_ref(self, ref: str | int) -> Case | None:
        """A case by number (``CAS-000123``) or by id, as people and callers name one; None when none."""
        text = str(ref).strip()
        try:
            return self.case(int(text)) if text.isdigit() else self.case_by_number(text)
        except LookupError:
            return None

    def update_case(self, case_id: int, at: datetime, **changes: Any) -> Case:
        """Set these columns (and ``updated_at``); the case as it now stands."""
        with self._writing() as c:
            row = _first(c, _UPDATE_CASE, {**changes, "updated_at": at, "pk": case_id})
            if row is None:
                raise LookupError(f"no case with id {case_id}")
            return self._remember(Case(**row))

    def list_cases(self, status: str | None = None, limit: int | None = None) -> list[Case]:
        query = select(cases).order_by(cases.c.id)
        if status:
            query = query.where(cases.c.status == status)
        if limit:
            query = query.limit(limit)
        with self._reading() as c:
            return _from_rows(Case, c.execute(query))

    def cases_since(self, since: datetime | None = None) -> list[Case]:
        """Cases opened at or after ``since`` (every case without it), oldest first (exports and reports)."""
        query = select(cases).order_by(cases.c.id)
        if since is not None:
            query = query.where(cases.c.created_at >= since)
        with self._reading() as c:
            return _from_rows(Case, c.execute(query))

    def messages_since(self, since: datetime | None = None) -> list[Message]:
        """Messages of cases, at or after ``since``, oldest first (exports)."""
        query = select(messages).where(messages.c.case_id.is_not(None)).order_by(messages.c.at, messages.c.id)
        if since is not None:
            query = query.where(messages.c.at >= since)
        with self._reading() as c:
            return _from_rows(Message, c.execute(query))

    def first_replies(self) -> dict[int, datetime]:
        """When the agent (or a person through it) first wrote to each case's customer, by case id."""
        query = (select(messages.c.case_id, func.min(messages.c.at)).where(messages.c.direction == Direction.OUTBOUND)
                 .group_by(messages.c.case_id))
        with self._reading() as c:
            return {case_id: at for case_id, at in c.execute(query) if case_id is not None}

    def cases_awaiting_reply(self) -> list[Case]:
        """Cases the clock may follow up or close."""
        with self._reading() as c:
            return _all(Case, c, _CASES_AWAITING)

    def count_cases(self) -> int:
        with self._reading() as c:
            return c.scalar(select(func.count(cases.c.id))) or 0

    def count_cases_by_status(self) -> dict[str, int]:
        with self._reading() as c:
            rows = c.execute(select(cases.c.status, func.count(cases.c.id)).group_by(cases.c.status)
                             .order_by(cases.c.status))
            return {status: count for status, count in rows}

    # --- fields ----------------------------------------------------------------------------
    def current_fields(self, case_id: int) -> dict[str, CaseField]:
        """The newest value of each field."""
        return {row.name: row for row in self.field_history(case_id)}

    def field_values(self, case_id: int) -> dict[str, str]:
        """The current value of each field, by name (what templates, views and hand-offs read)."""
        return {row.name: row.value for row in self.field_history(case_id)}

    def field_history(self, case_id: int) -> list[CaseField]:
        with self._reading() as c:
            return _all(CaseField, c, _FIELDS, pk=case_id)

    def write_fields(self, case_id: int, values: Sequence[ExtractedValue], message_id: int | None,
                     at: datetime, set_by: str | None = None) -> None:
        """Write values to a case's fields; ``set_by`` names the person who set them (None: the agent)."""
        if not values:
            return
        with self._writing() as c:
            for v in values:  # a row at a time: a statement built once runs directly where it can (_run)
                _run(c, _INSERT[case_fields.name], {
                    "case_id": case_id, "name": v.name, "value": v.value, "message_id": message_id,
                    "extractor": v.extractor, "confidence": v.confidence, "span": v.span, "set_at": at,
                    "set_by": set_by})

    # --- messages --------------------------------------------------------------------------
    def message_by_header(self, message_id: str) -> Message | None:
        with self._reading() as c:
            return _maybe(Message, c, _MESSAGE_BY_HEADER, key=message_id)

    def message(self, pk: int) -> Message:
        return self._kept_or_read(Message, _MESSAGE, pk)

    def case_for_thread(self, message_ids: Sequence[str]) -> int | None:
        """The case of the first of these Message-IDs (In-Reply-To first, then References newest first)."""
        ids = [m for m in message_ids if m]
        if not ids:
            return None
        with self._reading() as c:
            rows = c.execute(_THREAD_CASES, {"keys": ids}).all()
        by_id = {mid: case_id for mid, case_id in rows if case_id is not None}
        return next((by_id[m] for m in ids if m in by_id), None)

    def add_inbound(self, email: InboundEmail, case_id: int | None, at: datetime, claim: Claim | None = None,
                    source: str | None = None) -> Message:
        """Store an inbound email, claimed by ``claim``'s worker when given (see ``agent_graph.claims``).

        StoredMeanwhile when another worker stored the same Message-ID after the caller looked for it."""
        values: dict[str, Any] = {
            "case_id": case_id, "direction": Direction.INBOUND, "message_id": email.message_id,
            "in_reply_to": email.in_reply_to, "references": " ".join(email.references),
            "from_address": email.from_address, "from_name": email.from_name, "to_addresses": ", ".join(email.to),
            "subject": email.subject, "body_text": email.body_text, "new_text": email.new_text,
            "automatic_reason": email.automatic_reason, "raw": email.raw, "at": at, "processed": False,
            "sender_doubt": email.sender_doubt, "claimed_by": claim.owner if claim else None,
            "claim_expires_at": claim.until if claim else None, "source": source,
        }
        with self._writing() as c:
            row = _first(c, self._insert_new[messages.name], values)
            if row is None:
                raise StoredMeanwhile(f"email {email.message_id} was stored by another worker meanwhile")
            (pk,) = row.values()
            if case_id is not None and email.automatic_reason is None:
                _run(c, _INBOUND_SEEN, {"pk": case_id, "at": at})
                self._seen_inbound(case_id, at)
        return self._remember(Message(id=pk, **values))

    def claim_message(self, message_pk: int, claim: Claim) -> bool:
        """Take a stored, unprocessed email for ``claim``'s worker, unless another worker holds it."""
        with self._writing() as c:
            message = _one(Message, c, _MESSAGE, pk=message_pk)
            if message.processed or not can_take(message.claimed_by, message.claim_expires_at, claim):
                return False
            taken = c.execute(_TAKE_MESSAGE, {"pk": message_pk, "seen": message.claimed_by, "owner": claim.owner,
                                              "until": claim.until}).rowcount == 1
            self._forget(message_pk=message_pk)
            return taken

    def claim_next_email(self, claim: Claim) -> Message | None:
        """Claim the next email of the workers' queue for ``claim``'s worker (see ``_NEXT_EMAIL``);
        None when no email waits that nobody runs."""
        with self._writing() as c:
            pk = c.scalar(_NEXT_EMAIL, {"now": claim.at})
            if pk is None:
                return None
            self._forget(message_pk=pk)
            return _from_row(Message, c.execute(_CLAIM_MESSAGE, {"pk": pk, "owner": claim.owner,
                                                                 "until": claim.until}).one())

    def count_queued(self) -> int:
        """Stored emails waiting to be run (claimed by a worker or not), the quarantined ones left out."""
        with self._reading() as c:
            return c.scalar(_QUEUED) or 0

    def set_aside(self, message_pk: int, at: datetime) -> None:
        """Take an unprocessed email out of the queue: its run failed, and it waits in the quarantine."""
        with self._writing() as c:
            c.execute(_SET_ASIDE, {"pk": message_pk, "failed_at": at})
            self._forget(message_pk=message_pk)

    def mark_processed(self, message_pk: int) -> None:
        with self._writing() as c:
            _run(c, _MARK_PROCESSED, {"pk": message_pk})
            self._forget(message_pk=message_pk)

    def messages(self, case_id: int) -> list[Message]:
        with self._reading() as c:
            return _all(Message, c, _MESSAGES, pk=case_id)

    def customer_messages(self, case_id: int) -> list[Message]:
        """The customer's own emails on a case, oldest first: automatic mail, and mail from anyone
        but the case's customer (a colleague in copy, an ambiguous sender), left out."""
        customer = self.case(case_id).customer_email
        return [m for m in self.messages(case_id) if m.direction == Direction.INBOUND and not m.automatic_reason
                and stranger_reason(customer, m.from_address, m.sender_doubt) is None]

    def last_message(self, case_id: int) -> Message | None:
        with self._reading() as c:
            return _maybe(Message, c, _LAST_MESSAGE, pk=case_id)

    # --- outbox ----------------------------------------------------------------------------
    def outbox_item(self, pk: int) -> OutboxItem:
        with self._reading() as c:
            return _one(OutboxItem, c, _OUTBOX_ITEM, pk=pk)

    def outbox_by_key(self, key: str) -> OutboxItem | None:
        with self._reading() as c:
            return _maybe(OutboxItem, c, _OUTBOX_BY_KEY, key=key)

    def outbox(self, case_id: int | None = None) -> list[OutboxItem]:
        query = select(outbox).order_by(outbox.c.id)
        if case_id is not None:
            query = query.where(outbox.c.case_id == case_id)
        with self._reading() as c:
            return _from_rows(OutboxItem, c.execute(query))

    def pending_drafts(self, case_id: int | None = None) -> list[OutboxItem]:
        with self._reading() as c:
            if case_id is None:
                return _all(OutboxItem, c, _PENDING_DRAFTS)
            return _all(OutboxItem, c, _PENDING_DRAFTS_OF_CASE, pk=case_id)

    def add_outbox(self, item: NewOutboxItem) -> OutboxItem:
        """Insert a draft, or return the one already stored under its idempotency key."""
        with self._writing() as c:
            existing = _maybe(OutboxItem, c, _OUTBOX_BY_KEY, key=item.idempotency_key)
            if existing is not None:
                return existing
            values = {f.name: getattr(item, f.name) for f in dataclasses.fields(NewOutboxItem)}
            row = _first(c, self._insert_new[outbox.name], values)
            if row is None:  # another worker drafted it meanwhile
                return _one(OutboxItem, c, _OUTBOX_BY_KEY, key=item.idempotency_key)
            (pk,) = row.values()
            return OutboxItem(id=pk, **values)

    def set_outbox(self, pk: int, **changes: Any) -> OutboxItem:
        with self._writing() as c:
            row = c.execute(_UPDATE_OUTBOX, {**changes, "pk": pk}).first()
            if row is None:
                raise LookupError(f"no outbox item with id {pk}")
            return _from_row(OutboxItem, row)

    def mark_sent(self, pk: int, at: datetime, raw: str) -> OutboxItem:
        """Mark an outbox item sent and thread it on its case, in one transaction (exactly once)."""
        with self._writing() as c:
            row = _first(c, _SEND, {"pk": pk, "at": at})  # compare-and-set: one transaction sends it
            if row is None:
                return _one(OutboxItem, c, _OUTBOX_ITEM, pk=pk)  # sent already (or no such item: LookupError)
            sent = OutboxItem(**row)
            _run(c, _INSERT[messages.name], {
                "case_id": sent.case_id, "direction": Direction.OUTBOUND, "message_id": sent.message_id,
                "in_reply_to": sent.in_reply_to, "references": sent.references, "from_address": "",
                "to_addresses": sent.to_address, "subject": sent.subject, "body_text": sent.body,
                "new_text": sent.body, "raw": raw, "at": at, "processed": True,
            })
            _run(c, _DELIVERED, {
                "pk": sent.case_id, "status_after": sent.status_after_send, "at": at,
                "more_requests": int(sent.action == Action.REQUEST_INFO),
                "more_follow_ups": int(sent.action == Action.FOLLOW_UP),
            })
            self._forget(case_id=sent.case_id)
            return sent

    # --- delivery (``agent_graph.delivery``) ---------------------------------------------------
    def undelivered(self) -> list[OutboxItem]:
        """Sent by the agent, not yet handed to the mail server (some may wait for a retry)."""
        with self._reading() as c:
            return _all(OutboxItem, c, _UNDELIVERED)

    def failed_deliveries(self) -> list[OutboxItem]:
        with self._reading() as c:
            return _from_rows(OutboxItem, c.execute(select(outbox).where(outbox.c.status == OutboxStatus.FAILED)
                                                    .order_by(outbox.c.id)))

    def claim_deliveries(self, claim: Claim, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Claim the outbox emails due for delivery (``now``: the agent's clock) that no live worker
        is delivering, oldest first; the deliverer lets go of each (``set_outbox(claimed_by=None)``)."""
        with self._writing() as c:
            pks = list(c.scalars(_DELIVERY_CLAIMS, {"now": now, "claim_at": claim.at, "limit": limit}))
            if not pks:
                return []
            rows = c.execute(_CLAIM_DELIVERIES, {"pks": pks, "owner": claim.owner, "until": claim.until})
            return sorted(_from_rows(OutboxItem, rows), key=lambda item: item.id)

    def begin_delivery_attempt(self, pk: int) -> OutboxItem:
        """Count the attempt before it is made: an item with attempts may have reached the server."""
        with self._writing() as c:
            counted = _UPDATE_OUTBOX.values(attempts=func.coalesce(outbox.c.attempts, 0) + 1)
            return _from_row(OutboxItem, c.execute(counted, {"pk": pk}).one())

    # --- mailbox positions -------------------------------------------------------------------
    def mailbox_position(self, name: str) -> MailboxPosition | None:
        with self._reading() as c:
            return _maybe(MailboxPosition, c, _POSITION, key=name)

    def mailbox_positions(self) -> list[MailboxPosition]:
        with self._reading() as c:
            return _from_rows(MailboxPosition, c.execute(select(mailbox_positions).order_by(mailbox_positions.c.name)))

    def set_mailbox_position(self, name: str, **changes: Any) -> MailboxPosition:
        with self._writing() as c:
            if _maybe(MailboxPosition, c, _POSITION, key=name) is None:
                c.execute(self._insert_new[mailbox_positions.name], {"name": name})
            c.execute(update(mailbox_positions).where(mailbox_positions.c.name == name).values(**changes))
            return _one(MailboxPosition, c, _POSITION, key=name)

    # --- workers: mailbox owners, clock turns, leases (``agent_graph.claims``) ------------------
    def own_mailbox(self, name: str, claim: Claim) -> bool:
        """Whether ``claim``'s worker owns (or now takes) the fetching of the mailbox ``name``: one
        worker fetches a mailbox at a time. PostgreSQL: a session advisory lock, held on a
        connection of its own while the process lives (the server lets go when it dies); SQLite:
        a lease row, renewed by the worker's heartbeat and taken over when it runs out."""
        if self.engine.dialect.name != "postgresql":
            return self.take_lease(MAILBOX_LEASE + name, claim)
        held = self._advisory.get(name)
        if held is not None:
            try:
                held.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:  # the connection (and with it the lock) is gone
                self._advisory.pop(name, None)
                held.invalidate()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": _lock_key(MAILBOX_LEASE + name)}):
            self._advisory[name] = connection
            return True
        connection.close()
        return False

    def disown_mailbox(self, name: str, claim: Claim) -> None:
        held = self._advisory.pop(name, None)
        if held is not None:
            held.close()  # the session ends: its advisory lock goes with it
        else:
            self.release_lease(MAILBOX_LEASE + name, claim.owner)

    def take_lease(self, name: str, claim: Claim) -> bool:
        """Hold the lease ``name`` for ``claim``'s worker, unless another worker holds it (``can_take``)."""
        with self._writing() as c:
            lease = c.execute(_LEASE, {"key": name}).first()
            if lease is None:
                inserted = c.execute(self._insert_new[worker_leases.name], {
                    "name": name, "owner": claim.owner, "lease_until": claim.until}).first()
                if inserted is not None:
                    return True
                lease = c.execute(_LEASE, {"key": name}).one()
            if not can_take(lease.owner, lease.lease_until, claim):
                return False
            return c.execute(_TAKE_LEASE, {"key": name, "seen": lease.owner, "new_owner": claim.owner,
                                           "until": claim.until}).rowcount == 1

    def take_turn(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Whether it is ``owner``'s turn at ``name`` (the clock): nobody's turn runs until ``until``
        then; False while another worker's turn has not run out."""
        with self._writing() as c:
            if c.execute(_LEASE, {"key": name}).first() is None and c.execute(
                    self._insert_new[worker_leases.name],
                    {"name": name, "owner": owner, "lease_until": until}).first() is not None:
                return True
            return c.execute(_TAKE_TURN, {"key": name, "now": now, "new_owner": owner,
                                          "until": until}).rowcount == 1

    def release_lease(self, name: str, owner: str) -> None:
        with self._writing() as c:
            c.execute(_RELEASE_LEASE, {"key": name, "holder": owner})

    def renew_claims(self, prefix: str, until: datetime) -> None:
        """Extend to ``until`` every claim a claimant holds (owners starting with ``prefix``)."""
        with self._writing() as c:
            for table, (owner, expiry, live) in _CLAIMED.items():
                where = [owner.startswith(prefix, autoescape=True)]
                c.execute(update(table).where(*where, *([] if live is None else [live])).values({expiry: until}))

    def release_dead_claims(self) -> list[str]:
        """Let go of everything held by processes on this host that no longer exist (a worker killed
        by SIGKILL): another worker takes it at once instead of when its lease runs out. The owners
        let go of."""
        with self._reading() as c:
            owners = {owner for table, (column, _expiry, live) in _CLAIMED.items()
                      for owner in c.scalars(select(column).distinct().where(
                          column.is_not(None), *([] if live is None else [live])))}
        dead = sorted(owner for owner in owners if not process_alive(owner))
        if dead:
            with self._writing() as c:
                for table, (column, expiry, _live) in _CLAIMED.items():
                    c.execute(update(table).where(column.in_(dead)).values({column: None, expiry: None}))
        return dead

    # --- interactions ----------------------------------------------------------------------
    def add_interaction(self, case_id: int | None, actor: Actor, kind: str, summary: str, at: datetime,
                        detail: dict[str, Any] | None = None, **columns: Any) -> None:
        """Add an interaction; ``columns`` are its typed columns (``agent_graph.interactions`` fills them)."""
        with self._writing() as c:
            _run(c, _INSERT[interactions.name], {"case_id": case_id, "at": at, "actor": actor, "kind": kind,
                                                 "summary": summary, "detail": detail or {}, **columns})

    def interactions(self, case_id: int | None = None, since: datetime | None = None,
                     kinds: Sequence[str] = (), until: datetime | None = None) -> list[Interaction]:
        """Interactions oldest first: of one case, at or after ``since``, before ``until``, of these kinds."""
        query = select(interactions).order_by(interactions.c.id)
        if case_id is not None:
            query = query.where(interactions.c.case_id == case_id)
        if since is not None:
            query = query.where(interactions.c.at >= since)
        if until is not None:
            query = query.where(interactions.c.at < until)
        if kinds:
            query = query.where(interactions.c.kind.in_(list(kinds)))
        with self._reading() as c:
            return _from_rows(Interaction, c.execute(query))

    # --- runs in progress ------------------------------------------------------------------
    def begin_run(self, thread_id: str, case_id: int, at: datetime, payload: dict[str, Any],
                  claim: Claim | None = None) -> bool:
        """Register a run of the thread's case, claimed by ``claim``'s worker when given; False (and
        nothing written) when another worker's run holds the case. A row left by an earlier run of
        the thread is kept (with its payload) and only changes hands."""
        with self._writing() as c:
            run = _maybe(ActiveRun, c, _RUN, key=thread_id)
            if run is None:
                inserted = _first(c, self._insert_new[active_runs.name], {
                    "thread_id": thread_id, "case_id": case_id, "started_at": at, "payload": payload,
                    "owner": claim.owner if claim else None, "lease_until": claim.until if claim else None})
                return inserted is not None or claim is None
            if claim is None:
                return True
            if not can_take(run.owner, run.lease_until, claim):
                return False
            return _run(c, _TAKE_RUN, {"key": thread_id, "seen": run.owner, "new_owner": claim.owner,
                                       "until": claim.until}).rowcount == 1

    def release_claims(self, owner: str) -> None:
        """Let go of every email and case a worker holds (a run of it raised); the run rows stay for recovery."""
        with self._writing() as c:
            c.execute(_RELEASE_MESSAGES, {"holder": owner})
            c.execute(_RELEASE_RUNS, {"holder": owner})
        unit = self._unit.get()
        if unit is not None:
            unit.messages.clear()

    def end_run(self, thread_id: str) -> None:
        with self._writing() as c:
            _run(c, _END_RUN, {"key": thread_id})

    def unfinished_runs(self) -> list[ActiveRun]:
        with self._reading() as c:
            return _from_rows(ActiveRun, c.execute(select(active_runs).order_by(active_runs.c.started_at)))

    # --- quarantine ------------------------------------------------------------------------
    def quarantine(self, raw: bytes, source: str, error: str, at: datetime) -> QuarantinedEmail:
        """Keep an email that failed, with why; the same bytes again update their one row."""
        digest = raw_digest(raw)
        with self._writing() as c:
            existing = _maybe(QuarantinedEmail, c, _QUARANTINED_BY_DIGEST, key=digest)
            if existing is None:
                values: dict[str, Any] = {"digest": digest, "raw": raw, "source": source, "error": error,
                                          "first_at": at, "last_at": at, "attempts": 1}
                row = c.execute(self._insert_new[quarantine.name], values).first()
                if row is not None:
                    return QuarantinedEmail(id=row[0], **values)
                existing = _one(QuarantinedEmail, c, _QUARANTINED_BY_DIGEST, key=digest)  # stored meanwhile
            return _from_row(QuarantinedEmail, c.execute(_REQUARANTINE, {
                "pk": existing.id, "error": error, "last_at": at, "source": source or existing.source}).one())

    def quarantined(self) -> list[QuarantinedEmail]:
        with self._reading() as c:
            return _from_rows(QuarantinedEmail, c.execute(select(quarantine).order_by(quarantine.c.id)))

    def quarantined_email(self, pk: int) -> QuarantinedEmail | None:
        with self._reading() as c:
            return _maybe(QuarantinedEmail, c, _QUARANTINED, pk=pk)

    def count_quarantined(self) -> int:
        with self._reading() as c:
            return c.scalar(select(func.count(quarantine.c.id))) or 0

    def unquarantine(self, raw: bytes) -> None:
        """Forget these bytes' quarantine row, if any (they have now been processed)."""
        digest = raw_digest(raw)
        with self._reading() as c:
            if _maybe(QuarantinedEmail, c, _QUARANTINED_BY_DIGEST, key=digest) is None:
                return
        with self._writing() as c:
            c.execute(_UNQUARANTINE, {"key": digest})

    def drop_quarantined(self, pk: int) -> bool:
        """Delete a quarantined email for good; False when there is none with this id."""
        with self._writing() as c:
            return c.execute(_DROP_QUARANTINED, {"pk": pk}).rowcount > 0
