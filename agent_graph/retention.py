"""``case-agent prune``: what the store and the checkpoints keep of finished cases, and for how long.

Two things go, on cases untouched for longer than a period (``--older-than P90D``):

- the **checkpoints** (LangGraph's saved graph states) of *finished* cases: resolved or closed, with
  nothing pending — no draft waiting for review or approved and not sent, nothing sent and not yet
  delivered, no inbound email not yet processed, no run in progress. A case's next email starts its
  graph thread afresh (every run's input is complete, ``state.run_input``; the case itself is in the
  store), so a pruned case still takes mail;
- with ``personal_data``, the **personal data** of *closed* cases: the emails' addresses, names,
  subjects, bodies and raw sources, the case fields' values, the outbox's recipients, subjects and
  bodies, the case's title and customer, and the audit trail's summaries and details. What reports
  count stays: the case row with its number, status, line of business, intent, counts and
  timestamps; one row per email, field, outbox item and interaction, with its kind and time. The
  Message-IDs stay too, so a copy of an old email arriving again is still a duplicate. A
  ``personal_data_removed`` interaction marks the case, so a second prune leaves it be. Quarantined
  emails last tried before the cutoff are deleted (they are raw email, and on no case).

On SQLite the freed space is overwritten (``PRAGMA secure_delete``); on PostgreSQL the old row
versions stay on disk until vacuumed (autovacuum, or ``VACUUM`` at once). Backups keep what they hold:
see docs/database.md, "Retention".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Connection, and_, bindparam, delete, exists, func, or_, select, text, update

from agent_graph.dataverse.sync import OperationStatus
from agent_graph.domain import Actor, CaseStatus, Direction, OutboxStatus
from agent_graph.errors import ConfigurationError, bounded
from agent_graph.service import thread_id_for
from agent_graph.store import CaseStore
from agent_graph.store.schema import (
    active_runs,
    case_fields,
    cases,
    dataverse_operations,
    interactions,
    messages,
    outbox,
    quarantine,
)

log = logging.getLogger(__name__)

PERSONAL_DATA_REMOVED = "personal_data_removed"
"""The interaction that marks a case whose personal data is gone."""
BATCH = 500
"""Cases per transaction: a long prune never holds the write lock for long."""
FINISHED = (CaseStatus.RESOLVED, CaseStatus.CLOSED)


class PeriodError(ConfigurationError):
    """``--older-than`` is not an ISO-8601 duration."""


def parse_period(value: str) -> timedelta:
    """An ISO-8601 duration such as ``P90D``, ``P12W`` or ``P1Y`` (a year is 365 days, a month 30)."""
    try:
        period = TypeAdapter(timedelta).validate_python(value.strip().upper())
    except ValidationError:
        period = None
    if not value.strip().upper().startswith("P") or period is None or period <= timedelta(0):
        raise PeriodError(f"{bounded(value, 40)!r} is not a positive ISO-8601 duration such as P90D (90 days), "
                          "P12W or P1Y")
    return period


class PruneReport(BaseModel):
    """What a prune removed (or, with ``dry_run``, would remove)."""

    cutoff: datetime
    dry_run: bool
    finished_cases: int
    """Finished cases untouched since before the cutoff, with nothing pending."""
    checkpoint_threads: int
    """Of those, the cases whose graph thread had checkpoints, now removed."""
    personal_data: bool
    closed_cases: int = 0
    """Closed cases whose personal data was removed."""
    emails: int = 0
    field_values: int = 0
    outbox_items: int = 0
    interactions: int = 0
    quarantined: int = 0

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        lines = [f"{self.finished_cases} finished case(s) (resolved or closed, nothing pending) untouched since "
                 f"before {self.cutoff:%Y-%m-%d %H:%M} UTC",
                 f"checkpoints: {verb} the graph threads of {self.checkpoint_threads} case(s)"]
        if self.personal_data:
            lines.append(f"personal data: {verb} that of {self.closed_cases} closed case(s): {self.emails} email(s), "
                         f"{self.field_values} field value(s), {self.outbox_items} outbox item(s), "
                         f"{self.interactions} audit entr(ies); {self.quarantined} quarantined email(s) deleted"
                         if not self.dry_run else
                         f"personal data: {verb} that of {self.closed_cases} closed case(s) and "
                         f"{self.quarantined} quarantined email(s)")
        return lines


def _pending_outbox() -> Any:
    waiting = or_(outbox.c.status.in_([OutboxStatus.PENDING_REVIEW, OutboxStatus.APPROVED]),
                  and_(outbox.c.status == OutboxStatus.SENT, outbox.c.delivered_at.is_(None)))
    return exists().where(outbox.c.case_id == cases.c.id, waiting)


def _finished_before(cutoff: datetime, statuses: Sequence[str]) -> Any:
    """Cases in ``statuses``, untouched since before ``cutoff``, nothing pending."""
    untouched = and_(cases.c.updated_at < cutoff,
                     or_(cases.c.last_inbound_at.is_(None), cases.c.last_inbound_at < cutoff),
                     or_(cases.c.last_outbound_at.is_(None), cases.c.last_outbound_at < cutoff))
    unprocessed = exists().where(messages.c.case_id == cases.c.id, messages.c.direction == Direction.INBOUND,
                                 messages.c.processed.is_(False))
    running = exists().where(active_runs.c.case_id == cases.c.id)
    return (select(cases.c.id, cases.c.number).where(cases.c.status.in_(list(statuses)), untouched,
                                                     ~_pending_outbox(), ~unprocessed, ~running)
            .order_by(cases.c.id))


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]


class Pruner:
    """Prunes one store and its checkpointer (``service.open_checkpointer`` on the same URL)."""

    def __init__(self, store: CaseStore, checkpointer: BaseCheckpointSaver[Any]):
        self.store = store
        self.checkpointer = checkpointer
        self.sqlite = store.engine.dialect.name == "sqlite"

    def prune(self, older_than: timedelta, now: datetime, *, personal_data: bool, dry_run: bool) -> PruneReport:
        cutoff = now - older_than
        with self.store.engine.connect() as c:
            finished = [(pk, number) for pk, number in c.execute(_finished_before(cutoff, FINISHED))]
        threads = self._with_checkpoints([thread_id_for(number or str(pk)) for pk, number in finished])
        if not dry_run:
            if isinstance(self.checkpointer, SqliteSaver):
                self.checkpointer.conn.execute("PRAGMA secure_delete=ON")
            for thread in threads:
                self.checkpointer.delete_thread(thread)
        report = PruneReport(cutoff=cutoff, dry_run=dry_run, finished_cases=len(finished),
                             checkpoint_threads=len(threads), personal_data=personal_data)
        if personal_data:
            report = self._remove_personal_data(report, now)
        log.info("prune: %s", "; ".join(report.lines()))
        return report

    # --- checkpoints ---------------------------------------------------------------------------
    def _with_checkpoints(self, threads: list[str]) -> list[str]:
        """Those of ``threads`` that have checkpoints (LangGraph's ``checkpoints`` table, on either saver)."""
        saver = self.checkpointer
        if isinstance(saver, InMemorySaver):
            return [thread for thread in threads if thread in saver.storage]
        found: set[str] = set()
        for batch in _batches(threads):
            if isinstance(saver, SqliteSaver):
                marks = ",".join("?" * len(batch))
                rows = saver.conn.execute(f"SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id IN ({marks})",
                                          list(batch)).fetchall()
            else:  # PostgresSaver: its tables are in the store's database
                query = text("SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id IN :threads").bindparams(
                    bindparam("threads", expanding=True))
                with self.store.engine.connect() as c:
                    rows = list(c.execute(query, {"threads": list(batch)}))
            found.update(row[0] for row in rows)
        return [thread for thread in threads if thread in found]

    # --- personal data -------------------------------------------------------------------------
    def _remove_personal_data(self, report: PruneReport, now: datetime) -> PruneReport:
        cutoff = report.cutoff
        marked = exists().where(interactions.c.case_id == cases.c.id, interactions.c.kind == PERSONAL_DATA_REMOVED)
        query = _finished_before(cutoff, [CaseStatus.CLOSED]).where(~marked)
        old_quarantine = quarantine.c.last_at < cutoff
        with self.store.engine.connect() as c:
            closed = [pk for pk, _number in c.execute(query)]
            counts = {"closed_cases": len(closed),
                      "quarantined": c.execute(select(func.count()).where(old_quarantine)).scalar_one()}
        if report.dry_run:
            return report.model_copy(update=counts)
        totals = dict.fromkeys(("emails", "field_values", "outbox_items", "interactions"), 0)
        for batch in _batches(closed):
            with self.store.engine.begin() as c:
                self._secure_delete(c)
                for key, value in self._redact(c, list(batch), now).items():
                    totals[key] += value
        with self.store.engine.begin() as c:
            self._secure_delete(c)
            counts["quarantined"] = c.execute(delete(quarantine).where(old_quarantine)).rowcount
        return report.model_copy(update={**counts, **totals})

    def _secure_delete(self, c: Connection) -> None:
        if self.sqlite:
            c.exec_driver_sql("PRAGMA secure_delete=ON")

    @staticmethod
    def _redact(c: Connection, case_ids: list[int], now: datetime) -> dict[str, int]:
        """Blank the personal data of these closed cases, in the transaction ``c``; the counts blanked."""
        removed = {
            "emails": c.execute(update(messages).where(messages.c.case_id.in_(case_ids)).values(
                from_address="", from_name=None, to_addresses="", subject="", body_text="", new_text="", raw="",
                sender_doubt=None)).rowcount,
            "field_values": c.execute(update(case_fields).where(case_fields.c.case_id.in_(case_ids)).values(
                value="", span=None)).rowcount,
            "outbox_items": c.execute(update(outbox).where(outbox.c.case_id.in_(case_ids)).values(
                to_address="", subject="", body="", delivery_error=None, proposed_subject=None,
                proposed_body=None)).rowcount,
            "interactions": c.execute(update(interactions).where(interactions.c.case_id.in_(case_ids)).values(
                summary="", detail={}, comment=None)).rowcount,
        }
        # what Dataverse was told (titles, descriptions, email texts): kept only while it is still to be told
        c.execute(update(dataverse_operations).where(
            dataverse_operations.c.case_id.in_(case_ids),
            dataverse_operations.c.status.in_([OperationStatus.DONE, OperationStatus.SKIPPED])).values(
                payload={}, last_error=None))
        c.execute(update(cases).where(cases.c.id.in_(case_ids)).values(
            title="", customer_email="", customer_name=None, routed_reason=None))
        c.execute(interactions.insert(), [
            {"case_id": pk, "at": now, "actor": Actor.SYSTEM, "kind": PERSONAL_DATA_REMOVED,
             "summary": "personal data removed by case-agent prune", "detail": {}} for pk in case_ids])
        return removed

