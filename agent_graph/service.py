"""Running the agent: one email, one review answer or one clock tick at a time, on a case's thread.

The CLI, the replay evals and the demo all go through :class:`CaseAgent`; so does code that
embeds the agent without a LangGraph server.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pydantic import BaseModel
from sqlalchemy import URL

from agent_graph.background import in_calling_thread
from agent_graph.brain.intent import classifier_for
from agent_graph.brain.language import load_language_model
from agent_graph.claims import Claim, Claimant
from agent_graph.context import Context, Services, services
from agent_graph.cpu_slots import CpuSlots
from agent_graph.domain import Action, CaseStatus, Outbound
from agent_graph.errors import EmailParseError
from agent_graph.graph import build_graph
from agent_graph.intake.message import InboundEmail
from agent_graph.intake.parsing import parse_email
from agent_graph.mailroom import Receipt, receive, set_aside_unthreaded
from agent_graph.nodes.decision import due_step
from agent_graph.review import parse_human_response, pending_request
from agent_graph.serde import checkpoint_serde
from agent_graph.state import Trigger, TurnOutcome, run_input
from agent_graph.store import Case, Message
from agent_graph.store.migration import MIGRATION_LOCK
from agent_graph.store.repository import StoredMeanwhile, database_url, sqlite_file

log = logging.getLogger(__name__)


class TurnResult(BaseModel):
    """What one email, review answer or tick did to one case."""

    case_id: int | None
    case_number: str | None
    outcome: TurnOutcome
    pending_review: dict[str, Any] | None = None
    duplicate: bool = False
    #: The quarantine row of an email that could not be processed (see CaseAgent.take_in).
    quarantined: int | None = None


#: How often a worker looks again at a case another worker is running (wall-clock seconds).
CASE_BUSY_POLL = 0.02

THREAD_NAMESPACE = uuid.UUID("6f1c2a52-7f3e-4c55-9d0c-3c0a4f1e2b7d")


def thread_id_for(case_number: str) -> str:
    """Deterministic: every email of a case lands on the same graph thread.

    A UUID (version 5, from the case number), because the LangGraph server only accepts UUIDs."""
    return str(uuid.uuid5(THREAD_NAMESPACE, case_number))


def checkpoint_path(db_url: str) -> str | None:
    """Where the SQLite checkpointer lives beside a SQLite store; None for a store in memory or elsewhere."""
    path = sqlite_file(db_url)
    return None if path is None else str(path.with_name(path.stem + ".checkpoints" + (path.suffix or ".db")))


#: Connections the PostgreSQL checkpointer keeps at most (each process); a thread waits for a free one.
CHECKPOINT_CONNECTIONS = 20
#: The lock under which one process sets the checkpoint tables up: not the store's migration lock, which
#: a process opening the store waits for inside a transaction (see _postgres_checkpointer).
CHECKPOINT_SETUP_LOCK = MIGRATION_LOCK + 1
#: Seconds between two tries for CHECKPOINT_SETUP_LOCK.
CHECKPOINT_SETUP_POLL = 0.1


@contextmanager
def open_checkpointer(db_url: str) -> Iterator[BaseCheckpointSaver[str]]:
    """The graph's checkpoints beside the store: a SQLite file next to a SQLite store's, LangGraph's
    PostgreSQL checkpointer in a PostgreSQL store's own database (its tables are ``checkpoint*``),
    in memory otherwise (a store in memory)."""
    url = database_url(db_url)
    if url.get_backend_name() == "postgresql":
        with _postgres_checkpointer(url) as saver:
            yield saver
        return
    path = checkpoint_path(db_url)
    if path is None:
        yield InMemorySaver(serde=checkpoint_serde())
        return
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # as the store: WAL stays consistent, no fsync per commit
        yield SqliteSaver(connection, serde=checkpoint_serde())
    finally:
        connection.close()


@contextmanager
def _postgres_checkpointer(url: URL) -> Iterator[BaseCheckpointSaver[str]]:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # As LangGraph's own PostgresSaver.from_conn_string, with a pool: the agent runs cases on many threads.
    pool: ConnectionPool[Any] = ConnectionPool(conninfo, min_size=1, max_size=CHECKPOINT_CONNECTIONS, open=True,
                                               kwargs={"autocommit": True, "prepare_threshold": 0,
                                                       "row_factory": dict_row})
    try:
        saver = PostgresSaver(pool, serde=checkpoint_serde())
        with pool.connection() as lock:  # one process sets the tables up at a time, as the store's migrations
            # setup() creates indexes CONCURRENTLY, which waits for every transaction in the database to
            # end: no other process may wait for a lock this one holds meanwhile. So the lock is its own
            # (not the migration lock a process opening the store waits for) and is polled, not waited for.
            while not lock.execute("SELECT pg_try_advisory_lock(%s) AS locked",
                                   (CHECKPOINT_SETUP_LOCK,)).fetchone()["locked"]:
                time.sleep(CHECKPOINT_SETUP_POLL)
            try:
                saver.setup()
            finally:
                lock.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))
        yield saver
    finally:
        pool.close()


class CaseAgent:
    """The agent on its cases; many threads, and processes on one store, may call it at once.

    Each email and each case is claimed before it is run (``agent_graph.claims``): an email
    another worker is running is left to it, and a case runs one email at a time (the next one
    waits for the case; a tick leaves a busy case for the next tick).

    ``cpu_slots``: how many threads run agent code at once (default: one, as CPython runs one
    thread's Python at a time anyway); the others wait, and a thread waiting on a language model
    gives its slot back (see ``cpu_slots.py``)."""

    def __init__(self, context: Context, checkpointer: BaseCheckpointSaver[str] | None = None,
                 cpu_slots: int | None = None):
        env = services(context)
        self.slots = CpuSlots(cpu_slots)
        # Resolve once: every node of every run then shares one catalog, store, brain and clock.
        self.context = Context(catalog_path=context.catalog_path, db_url=context.db_url, brain=context.brain,
                               automation=dict(context.automation), catalog=env.catalog, store=env.store,
                               brain_engine=env.brain, mailbox=env.mailbox, clock=env.clock)
        self.env: Services = services(self.context)
        self.graph = build_graph(checkpointer or InMemorySaver(serde=checkpoint_serde()))
        self.claimant = Claimant()

    # --- the ways in -----------------------------------------------------------------------
    def process_email(self, raw: bytes | str) -> TurnResult:
        """Ingest one email (idempotent by Message-ID) and run the agent on its case."""
        with self.slots.held():
            return self._process_email(raw)

    def take_in(self, raw: bytes, source: str = "") -> TurnResult:
        """Process one email of an inbox; one that fails is quarantined instead of raising.

        One bad email never stops the others. Whatever it raised, nothing was sent to it, its
        storing and threading rolled back (or, if its run failed, the run is abandoned so that
        recovery does not repeat it), and its bytes wait in the quarantine with the error
        (``source`` says where they came from). Processing the same bytes again later, as
        ``case-agent quarantine retry`` does, goes through here too.
        """
        try:
            result = self.process_email(raw)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it stays with this email
            return self._quarantine(raw, source, exc)
        self.env.store.unquarantine(raw)
        return result

    def answer_review(self, case_id: int, response: Any) -> TurnResult:
        """Resume a case paused for review with a HumanResponse (alone or as a one-element list)."""
        with self.slots.held():
            return self._answer_review(case_id, response)

    def tick(self, case_ids: list[int] | None = None) -> list[TurnResult]:
        """Send the follow-ups and closures that are due now (on every case, or on these)."""
        with self.slots.held():
            return self._tick(case_ids)

    def recover(self) -> list[TurnResult]:
        """Finish runs that a crash left half done; their side effects are keyed, so none repeats."""
        with self.slots.held():
            return self._recover()

    def _process_email(self, raw: bytes | str) -> TurnResult:
        email = parse_email(raw, own_addresses=[self.env.catalog.mailbox])
        claim = self.claimant.claim()
        try:
            receipt, case, graph_input, registered = self._receive(email, claim)
        except StoredMeanwhile:  # another worker stored it at the same moment, so it is there to find now
            receipt, case, graph_input, registered = self._receive(email, claim)
        return self._run_received(receipt, case, graph_input, registered)

    def store_email(self, raw: bytes, source: str) -> TurnResult:
        """Store an email of an inbox, threaded to its case, for a worker to run (:meth:`take_next`);
        one that cannot be stored is quarantined instead (as :meth:`take_in`). Nothing runs here."""
        try:
            email = parse_email(raw, own_addresses=[self.env.catalog.mailbox])
            try:
                receipt = self._store(email, source)
            except StoredMeanwhile:
                receipt = self._store(email, source)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it stays with this email
            return self._quarantine(raw, source, exc)
        return TurnResult(case_id=receipt.case_id, case_number=None, duplicate=receipt.duplicate,
                          outcome=TurnOutcome(action=None, note="stored for a worker to run"))

    def _store(self, email: InboundEmail, source: str) -> Receipt:
        with self.env.store.unit_of_work():
            return receive(self.env.catalog, self.env.store, self.env.clock, email, source=source)

    def take_next(self) -> tuple[Message, TurnResult] | None:
        """Claim the oldest stored email nobody runs (a case's emails in order, see
        ``CaseStore.claim_next_email``) and run it; None when none waits. An email whose run fails
        is quarantined (and leaves the queue) instead of raising, as in :meth:`take_in`."""
        with self.slots.held():
            message = self.env.store.claim_next_email(self.claimant.claim())
            if message is None:
                return None
            try:
                return message, self._run_stored(message)
            except Exception as exc:  # noqa: BLE001 - whatever it is, it stays with this email
                return message, self._quarantine(message.raw.encode("utf-8", errors="surrogateescape"),
                                                  message.source or "", exc, message)

    def _run_stored(self, message: Message) -> TurnResult:
        store = self.env.store
        with store.unit_of_work():
            case = store.case(message.case_id) if message.case_id is not None else None
            graph_input = run_input(message_pk=message.id, case_id=message.case_id)
            registered = case is not None and self._begin_run(case, graph_input)
        receipt = Receipt(message_pk=message.id, case_id=message.case_id, automatic_reason=message.automatic_reason)
        return self._run_received(receipt, case, graph_input, registered)

    def _run_received(self, receipt: Receipt, case: Case | None, graph_input: dict[str, Any],
                      registered: bool) -> TurnResult:
        """Run a stored email its worker claimed (``registered``: and its case's run)."""
        if receipt.duplicate or not receipt.claimed:
            note = ("duplicate: this email was already processed" if receipt.duplicate
                    else "another worker is processing this email")
            return TurnResult(case_id=receipt.case_id, case_number=case.number if case else None, duplicate=True,
                              outcome=TurnOutcome(action=None, note=note))
        if case is None:
            note = set_aside_unthreaded(self.env, receipt)
            return TurnResult(case_id=None, case_number=None, outcome=TurnOutcome(action=Action.IGNORE, note=note))
        if not registered:
            self._wait_for_case(case, graph_input)
            if self.env.store.message(receipt.message_pk).processed:  # the run of a dead worker, recovered meanwhile
                self.env.store.end_run(_thread_of(case))
                return TurnResult(case_id=case.id, case_number=case.number, duplicate=True,
                                  outcome=TurnOutcome(action=None, note="duplicate: this email was already processed"))
        result = self._run(case, graph_input)
        if result.pending_review is not None:  # a finished run's last node marked it already
            self.env.store.mark_processed(receipt.message_pk)
        return result

    def _receive(self, email: InboundEmail, claim: Claim) -> tuple[Receipt, Case | None, dict[str, Any], bool]:
        """The email stored, claimed, threaded and its run registered: all or nothing."""
        with self.env.store.unit_of_work():
            receipt = receive(self.env.catalog, self.env.store, self.env.clock, email, claim)
            case = self.env.store.case(receipt.case_id) if receipt.case_id is not None else None
            graph_input = run_input(message_pk=receipt.message_pk, case_id=receipt.case_id)
            registered = (case is not None and receipt.claimed and not receipt.duplicate
                          and self._begin_run(case, graph_input))
        return receipt, case, graph_input, registered

    def _answer_review(self, case_id: int, response: Any) -> TurnResult:
        parse_human_response(response)  # a malformed answer is refused here, before the run resumes with it
        case = self.env.store.case(case_id)
        if self.pending_review(case_id) is None:
            raise ValueError(f"case {case.number} has no draft waiting for review")
        command: Command[str] = Command(resume=response)
        self._wait_for_case(case, command)
        if self.pending_review(case_id) is None:  # another worker answered it while this one waited
            self.env.store.end_run(_thread_of(case))
            raise ValueError(f"case {case.number} has no draft waiting for review: it was answered meanwhile")
        return self._run(case, command)

    def _tick(self, case_ids: list[int] | None) -> list[TurnResult]:
        results = []
        now = self.env.clock.now()
        for case in self.env.store.cases_awaiting_reply():
            if case_ids is not None and case.id not in case_ids:
                continue
            graph_input = run_input(trigger=Trigger.TICK, case_id=case.id)
            if due_step(self.env.catalog, case, now) is None or not self._begin_run(case, graph_input):
                continue
            # Read again once claimed: another worker may have run this step since the list was read.
            if due_step(self.env.catalog, self.env.store.case(case.id), now) is None:
                self.env.store.end_run(_thread_of(case))
                continue
            results.append(self._run(case, graph_input))
        return results

    def _recover(self) -> list[TurnResult]:
        results = []
        for run in self.env.store.unfinished_runs():
            case = self.env.store.case(run.case_id)
            graph_input = _from_payload(run.payload)
            if not self._begin_run(case, graph_input):
                continue  # another worker is running it
            log.warning("re-running the unfinished %s run of case %s", run.payload.get("kind"), case.number)
            results.append(self._run(case, graph_input))
        return results

    def warm_up(self) -> None:
        """For a long-running process: fit the catalog's intent classifier now rather than on the
        first email, then move everything loaded so far out of the garbage collector's sight
        (``gc.freeze``): a full collection walks every live object, which with many cases in flight
        is a long pause (README, "Performance"). A catalog with rival intents also gets the
        classifier's second reading (the sentence embedding) loaded now: it is read at each
        identification of an intent with a rival (``nodes/understanding.py``). The language
        classifier's model, read on every customer email, is loaded too."""
        load_language_model()
        classifier = classifier_for(self.env.catalog)
        catalog = self.env.catalog
        if any(catalog.rivals(intent.id) for intent in catalog.intents()):
            classifier.load_embedding_view()
        gc.collect()
        gc.freeze()

    # --- reading -----------------------------------------------------------------------------
    def pending_review(self, case_id: int) -> dict[str, Any] | None:
        """The Agent Inbox request a case is paused on, if any."""
        case = self.env.store.case(case_id)
        snapshot = self.graph.get_state({"configurable": {"thread_id": _thread_of(case)}})
        return pending_request(snapshot.interrupts)

    # --- internals ---------------------------------------------------------------------------
    def _begin_run(self, case: Case, graph_input: Any) -> bool:
        """Claim the case and register the run before it starts, so a crash leaves it for :meth:`recover`.

        False when another worker is running the case."""
        return self.env.store.begin_run(_thread_of(case), case.id, self.env.clock.now(), _payload(graph_input),
                                        self.claimant.claim())

    def _wait_for_case(self, case: Case, graph_input: Any) -> None:
        """Claim the case once the worker running it lets go (or its claim lapses, see ``claims.py``).

        The CPU slot is given back while waiting: the run being waited for may need it."""
        while not self._begin_run(case, graph_input):
            with self.slots.released():
                time.sleep(CASE_BUSY_POLL)

    def _run(self, case: Case, graph_input: Any) -> TurnResult:
        """Run the graph on the case's thread; the caller has claimed the case (:meth:`_begin_run`).

        A run that raises lets go of its claims, and its run row stays for :meth:`recover`."""
        thread = _thread_of(case)
        # One node runs at a time anyway; LangGraph's checkpoint writes at the end then share one
        # background thread, and that thread is this one (``background.py``).
        config: RunnableConfig = {"configurable": {"thread_id": thread}, "max_concurrency": 1}
        try:
            with in_calling_thread():
                values = self.graph.invoke(graph_input, config, context=self.context, durability="exit")
        except BaseException:
            self.env.store.release_claims(self.claimant.owner)
            raise
        pending = pending_request(values.get("__interrupt__", ()))
        if pending is not None or values.get("plan") is None:  # no ending node ran: paused, or nothing to do
            self.env.store.end_run(thread)
        outcome = values.get("outcome") or TurnOutcome(action=None, status=CaseStatus(self.env.store.case(case.id).status))
        if pending is not None:
            outcome = outcome.model_copy(update={"outbound": Outbound.DRAFTED})
        return TurnResult(case_id=case.id, case_number=case.number, outcome=outcome, pending_review=pending)

    def _quarantine(self, raw: bytes, source: str, exc: Exception, message: Message | None = None) -> TurnResult:
        # The caller reports the error; the traceback is for --verbose (a refusal has none worth reading).
        log.info("%s: %s; quarantined", source or "an email", exc,
                 exc_info=None if isinstance(exc, EmailParseError) else exc)
        self._abandon_run_of(message or self._stored(raw))
        error = f"{type(exc).__name__}: {exc}"
        entry = self.env.store.quarantine(raw, source, error, self.env.clock.now())
        return TurnResult(case_id=None, case_number=None, quarantined=entry.id,
                          outcome=TurnOutcome(action=None, note=f"quarantined as #{entry.id}: {error}"))

    def _stored(self, raw: bytes) -> Message | None:
        try:
            email = parse_email(raw, own_addresses=[self.env.catalog.mailbox])
        except EmailParseError:
            return None  # never stored
        return self.env.store.message_by_header(email.message_id)

    def _abandon_run_of(self, message: Message | None) -> None:
        """Take an email whose run failed out of the workers' queue and end its registered run:
        recovery would only fail again."""
        if message is None or message.processed:
            return
        self.env.store.set_aside(message.id, self.env.clock.now())
        if message.case_id is not None:
            self.env.store.end_run(_thread_of(self.env.store.case(message.case_id)))


def _thread_of(case: Case) -> str:
    return thread_id_for(case.number or str(case.id))


def _payload(graph_input: Any) -> dict[str, Any]:
    """What a crashed run needs to be run again: its input, or the review answer it resumed with."""
    if isinstance(graph_input, Command):
        return {"kind": "review", "resume": graph_input.resume}
    return {"kind": graph_input.get("trigger", "email"), "input": graph_input}


def _from_payload(payload: dict[str, Any]) -> Any:
    if payload.get("kind") == "review":
        return Command(resume=payload["resume"])
    return payload["input"]
