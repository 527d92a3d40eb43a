"""The outbox of Dataverse operations: planned from the store, run in order per case, retried later.

``plan`` compares each changed case with the operations already planned for it and adds what is
missing, under a unique key (two planners never add one twice); ``run_due`` runs the due ones.
An operation waits (not counted as a failure) while what it reports has not happened yet: an
outbound email is recorded once it is delivered. ``sync`` does both; the service calls it after
each email and each delivery, and it never raises a Dataverse failure into the mail loop.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from agent_graph.catalog import Catalog, DataverseMapping
from agent_graph.clock import Clock
from agent_graph.dataverse.client import Dataverse, IncidentState, row_id
from agent_graph.delivery import retry_wait
from agent_graph.domain import CaseStatus, Direction, OutboxStatus, effective_status
from agent_graph.errors import bounded
from agent_graph.microsoft import MicrosoftRefused, MicrosoftUnavailable
from agent_graph.store import Case, CaseStore
from agent_graph.store.schema import cases, dataverse_operations, messages, outbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 30
"""About a day of retries at the longest wait; then the operation is failed (``status`` shows it)."""
DESCRIPTION = 2000
"""``incident.description`` holds 2,000 characters; the whole email goes to its email activity."""
BATCH = 200
"""Operations looked at per run."""
UNAVAILABLE_STOPS = 2
"""Operations of different cases that found Dataverse unavailable before a run stops (an outage);
one alone may be a call of its own failing (that case waits, the others go on)."""


class OperationKind(StrEnum):
    CREATE_CASE = "create_case"
    EMAIL = "email"
    UPDATE_CASE = "update_case"
    STATE = "state"


class OperationStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    """Nothing to report after all (an outbound email whose delivery failed for good)."""
    FAILED = "failed"


class Target(StrEnum):
    """Where the case stands in Dataverse."""

    ACTIVE = "active"
    RESOLVED = "resolved"
    QUEUED = "queued"


@dataclass(slots=True, frozen=True)
class Operation:
    id: int
    key: str
    case_id: int
    kind: str
    message_pk: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    done_at: datetime | None


class SyncReport(BaseModel):
    planned: int = 0
    done: int = 0
    waiting: int = 0
    failed: int = 0


class _NotYet(Exception):
    """What the operation reports has not happened yet (an email not delivered yet)."""


def incident_id(case: Case) -> str:
    return row_id("incident", f"{case.number}:{case.created_at.isoformat()}")


class CaseSync:
    def __init__(self, store: CaseStore, catalog: Catalog, clock: Clock, dataverse: Dataverse,
                 first_retry: timedelta = timedelta(seconds=30)):
        self.store = store
        self.catalog = catalog
        self.mapping = catalog.dataverse or DataverseMapping()
        self.clock = clock
        self.dataverse = dataverse
        self.first_retry = first_retry
        self.name = f"dataverse {dataverse.url}"
        self._since: datetime | None = None
        self._paused_until: datetime | None = None
        dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(store.engine.dialect.name)
        self._insert = (dialect.insert(dataverse_operations).on_conflict_do_nothing(index_elements=["key"])
                        if dialect is not None else insert(dataverse_operations)).returning(dataverse_operations.c.id)

    def sync(self) -> SyncReport:
        report = self.run_due()
        report.planned = self.plan()
        if report.planned:
            ran = self.run_due()
            report.done, report.waiting, report.failed = (report.done + ran.done, ran.waiting,
                                                          report.failed + ran.failed)
        return report

    # --- planning ----------------------------------------------------------------------------
    def plan(self) -> int:
        """Add the operations the cases changed since the last plan need; how many were added."""
        query = select(cases).order_by(cases.c.id)
        if self._since is not None:
            query = query.where(cases.c.updated_at >= self._since)
        with self.store.engine.connect() as connection:
            changed = [Case(*row) for row in connection.execute(query)]
        added = 0
        for case in changed:
            if case.number is not None:  # numbered in the transaction that opened it
                added += self._plan_case(case)
            self._since = max(self._since or case.updated_at, case.updated_at)
        return added

    def _plan_case(self, case: Case) -> int:
        with self.store.engine.connect() as connection:
            planned = [Operation(*row) for row in connection.execute(
                select(dataverse_operations).where(dataverse_operations.c.case_id == case.id)
                .order_by(dataverse_operations.c.id))]
            mail = list(connection.execute(
                select(messages.c.id, messages.c.message_id).where(messages.c.case_id == case.id)
                .order_by(messages.c.id)))
        keys = {op.key for op in planned}
        new: list[dict[str, Any]] = []
        incident = incident_id(case)
        columns = self._columns(case)
        if f"case:{incident}" not in keys:
            first = self.store.customer_messages(case.id)
            new.append(self._row(f"case:{incident}", case, OperationKind.CREATE_CASE, {
                "incident": incident, "columns": columns, "email": case.customer_email, "name": case.customer_name,
                "description": (first[0].new_text if first else "")[:DESCRIPTION]}))
        for pk, message_id in mail:
            if f"email:{message_id}" not in keys:
                new.append(self._row(f"email:{message_id}", case, OperationKind.EMAIL, {"incident": incident},
                                     message_pk=pk))
        last_columns = next((op.payload["columns"] for op in reversed(planned)
                             if op.kind in (OperationKind.CREATE_CASE, OperationKind.UPDATE_CASE)), columns)
        if columns != last_columns:
            new.append(self._row(f"update:{incident}:{len(planned)}", case, OperationKind.UPDATE_CASE,
                                 {"incident": incident, "columns": columns}))
        target = self._target(case)
        last_target = next((op.payload["target"] for op in reversed(planned) if op.kind == OperationKind.STATE),
                           {"state": Target.ACTIVE})
        if target != last_target:
            new.append(self._row(f"state:{incident}:{len(planned)}", case, OperationKind.STATE,
                                 {"incident": incident, "target": target}))
        if not new:
            return 0
        with self.store.engine.begin() as connection:
            return sum(connection.execute(self._insert, row).first() is not None for row in new)

    def _row(self, key: str, case: Case, kind: OperationKind, payload: dict[str, Any],
             message_pk: int | None = None) -> dict[str, Any]:
        return {"key": key, "case_id": case.id, "kind": kind, "message_pk": message_pk, "payload": payload,
                "status": OperationStatus.PENDING, "attempts": 0, "created_at": self.clock.now()}

    def _columns(self, case: Case) -> dict[str, Any]:
        """The incident's columns the agent keeps: title and the catalog's ``dataverse:`` mapping."""
        columns: dict[str, Any] = {"title": bounded(case.title, 200) or f"Case {case.number}"}
        if self.mapping.intent_column:
            columns[self.mapping.intent_column] = case.intent
        if self.mapping.lob_column:
            columns[self.mapping.lob_column] = case.lob
        if self.mapping.attributes:
            fields = self.store.current_fields(case.id)
            for attribute, column in sorted(self.mapping.attributes.items()):
                if attribute in fields:
                    columns[column] = fields[attribute].value
        return columns

    def _target(self, case: Case) -> dict[str, Any]:
        status = effective_status(case.status, case.status_before_review)  # a draft waiting changes nothing
        if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
            return {"state": Target.RESOLVED, "status": IncidentState.PROBLEM_SOLVED if status == CaseStatus.RESOLVED
                    else IncidentState.INFORMATION_PROVIDED}
        if status == CaseStatus.WITH_REPRESENTATIVE:
            lob = self.catalog.lob(case.lob)
            return {"state": Target.QUEUED,
                    "queue": self.mapping.queues.get(case.lob) or case.queue or (lob.queue if lob else case.lob)}
        return {"state": Target.ACTIVE}

    # --- running -------------------------------------------------------------------------------
    def run_due(self) -> SyncReport:
        """Run the due operations, oldest first; a case's later operations wait for its earlier ones.
        Dataverse throttling for long, or down (UNAVAILABLE_STOPS): the rest waits for the next run."""
        report = SyncReport()
        now = self.clock.now()
        if self._paused_until is not None and now < self._paused_until:  # Dataverse asked to wait
            return report
        with self.store.engine.connect() as connection:
            pending = [Operation(*row) for row in connection.execute(
                select(dataverse_operations).where(dataverse_operations.c.status == OperationStatus.PENDING)
                .order_by(dataverse_operations.c.id).limit(BATCH))]
        blocked: set[int] = set()
        unavailable = 0
        for op in pending:
            if op.case_id in blocked or (op.next_attempt_at is not None and op.next_attempt_at > now):
                blocked.add(op.case_id)
                continue
            try:
                skipped = self._execute(op)
            except _NotYet:
                self._set(op, next_attempt_at=now + self.first_retry)
                report.waiting += 1
                blocked.add(op.case_id)
                continue
            except MicrosoftUnavailable as exc:
                wait = (timedelta(seconds=exc.retry_after) if exc.retry_after is not None
                        else retry_wait(op.attempts + 1, self.first_retry))
                self._failed_attempt(op, str(exc), now + wait)
                report.waiting += 1
                blocked.add(op.case_id)
                unavailable += 1
                if exc.retry_after is not None:  # throttled: the limits are the application user's, not the case's
                    self._paused_until = now + wait
                if exc.retry_after is not None or unavailable >= UNAVAILABLE_STOPS:  # throttled, or down
                    log.warning("%s: unavailable, the other operations wait for the next run: %s", self.name, exc)
                    break
                continue
            except MicrosoftRefused as exc:
                report.failed += self._failed_attempt(op, str(exc), now + retry_wait(op.attempts + 1,
                                                                                      self.first_retry))
                blocked.add(op.case_id)
                continue
            self._set(op, status=OperationStatus.SKIPPED if skipped else OperationStatus.DONE, done_at=now,
                      last_error=None)
            report.done += 1
        return report

    def _failed_attempt(self, op: Operation, error: str, next_at: datetime) -> int:
        """1 when the operation has now failed for good."""
        attempts = op.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self._set(op, status=OperationStatus.FAILED, attempts=attempts, last_error=error)
            log.error("%s: %s %s failed for good: %s", self.name, op.kind, op.key, error)
            return 1
        self._set(op, attempts=attempts, next_attempt_at=next_at, last_error=error)
        log.warning("%s: %s %s: attempt %s failed, next at %s: %s", self.name, op.kind, op.key, attempts,
                    next_at.isoformat(timespec="seconds"), error)
        return 0

    def _set(self, op: Operation, **changes: Any) -> None:
        with self.store.engine.begin() as connection:
            connection.execute(update(dataverse_operations).where(dataverse_operations.c.id == op.id).values(**changes))

    def _execute(self, op: Operation) -> bool:
        """Run one operation; True when there was nothing to report after all."""
        dataverse, payload = self.dataverse, op.payload
        incident = str(payload["incident"])
        if op.kind == OperationKind.CREATE_CASE:
            contact = dataverse.contact_for(str(payload["email"]), payload.get("name"))
            dataverse.create("incidents", incident, {
                **payload["columns"], "description": payload["description"] or None, "caseorigincode": 2,
                "emailaddress": str(payload["email"])[:100], "customerid_contact@odata.bind": f"/contacts({contact})"})
            return False
        case = self.store.case(op.case_id)
        if op.kind == OperationKind.EMAIL:
            assert op.message_pk is not None
            return self._email(case, incident, op.message_pk)
        if op.kind == OperationKind.UPDATE_CASE:
            if dataverse.update_case(incident, payload["columns"]):
                target = self._target(case)  # it was closed: it goes back to where the case stands now
                if target["state"] == Target.RESOLVED:
                    dataverse.resolve(incident, self._resolution(case), int(target["status"]))
            return False
        target = payload["target"]
        if target["state"] == Target.RESOLVED:
            dataverse.resolve(incident, self._resolution(case), int(target["status"]))
        elif target["state"] == Target.QUEUED:
            dataverse.add_to_queue(incident, str(target["queue"]))
        else:
            dataverse.make_active(incident)
        return False

    def _resolution(self, case: Case) -> str:
        how = "closed after the last follow-up" if case.status == CaseStatus.CLOSED else "resolved by the agent"
        return f"{case.number}: {how}"

    def _email(self, case: Case, incident: str, message_pk: int) -> bool:
        message = self.store.message(message_pk)
        inbound = message.direction == Direction.INBOUND
        if not inbound:
            with self.store.engine.connect() as connection:
                sent = connection.execute(select(outbox.c.status, outbox.c.delivered_at)
                                          .where(outbox.c.message_id == message.message_id)).first()
            if sent is not None and sent.status == OutboxStatus.FAILED:
                return True
            if sent is not None and sent.delivered_at is None:
                raise _NotYet
        contact = self.dataverse.contact_for(case.customer_email, case.customer_name)
        customer = {"partyid_contact@odata.bind": f"/contacts({contact})"}
        mailbox = {"addressused": self.catalog.mailbox}
        activity = row_id("email", message.message_id)
        self.dataverse.create("emails", activity, {
            "subject": bounded(message.subject, 800), "directioncode": not inbound,
            "description": "<pre>" + html.escape(message.body_text) + "</pre>",
            **({"messageid": message.message_id[:320]} if inbound else {}),
            "regardingobjectid_incident_email@odata.bind": f"/incidents({incident})",
            "email_activity_parties": [{**(customer if inbound else mailbox), "participationtypemask": 1},
                                       {**(mailbox if inbound else customer), "participationtypemask": 2}]})
        self.dataverse.update("emails", activity, {"statecode": 1, "statuscode": 4 if inbound else 3})
        return False


class OutboxSummary(BaseModel):
    """``case-agent status``: what Dataverse still has to be told."""

    pending: int = 0
    retrying: int = 0
    """Pending after a failed attempt."""
    failed: int = 0
    last_error: str | None = None


def outbox_summary(store: CaseStore) -> OutboxSummary | None:
    """None when the store never synced with Dataverse."""
    ops = dataverse_operations.c
    with store.engine.connect() as connection:
        rows = list(connection.execute(select(ops.status, ops.attempts, func.count())
                                       .where(ops.status.in_([OperationStatus.PENDING, OperationStatus.FAILED]))
                                       .group_by(ops.status, ops.attempts)))
        if not rows and connection.execute(select(ops.id).limit(1)).first() is None:
            return None
        last = connection.execute(select(ops.last_error).where(ops.last_error.is_not(None), ops.status.in_(
            [OperationStatus.PENDING, OperationStatus.FAILED])).order_by(ops.id.desc()).limit(1)).scalar()
    summary = OutboxSummary(last_error=last)
    for status, attempts, count in rows:
        if status == OperationStatus.FAILED:
            summary.failed += count
        else:
            summary.pending += count
            summary.retrying += count if attempts else 0
    return summary
