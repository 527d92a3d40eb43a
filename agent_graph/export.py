"""``case-agent export``: cases, messages and interactions as one flat record schema (docs/export.md), in
JSON Lines or CSV, for managers' own tools.

Every row is an :class:`ExportRow`: ``record`` says what it is (case, message, interaction) and the
columns that do not apply to it are empty. Rows come in order: cases, then messages, then
interactions, each oldest first. ``--since`` keeps cases opened, messages written and interactions
recorded at or after that instant.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO

from pydantic import BaseModel

from agent_graph.domain import Direction
from agent_graph.interactions import InteractionQuery, find
from agent_graph.store import Case, CaseStore, Interaction, Message


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class RecordType(StrEnum):
    CASE = "case"
    MESSAGE = "message"
    INTERACTION = "interaction"


class ExportRow(BaseModel):
    """One exported row; docs/export.md describes each column."""

    record: RecordType
    id: int
    case_number: str | None = None
    at: datetime
    status: str | None = None
    lob: str | None = None
    intent: str | None = None
    language: str | None = None
    customer: str | None = None
    direction: str | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None
    kind: str | None = None
    actor: str | None = None
    actor_name: str | None = None
    outbox_id: int | None = None
    template_id: str | None = None
    catalog_version: str | None = None
    prompt_version: str | None = None
    edit_size: int | None = None
    decision_seconds: float | None = None
    useful: bool | None = None
    comment: str | None = None
    reason_code: str | None = None
    info_requests: int | None = None
    queue: str | None = None
    routed_reason: str | None = None
    updated_at: datetime | None = None
    detail: dict[str, Any] | None = None


COLUMNS = list(ExportRow.model_fields)


def export_rows(store: CaseStore, since: datetime | None = None) -> Iterator[ExportRow]:
    """Every row to export, in order."""
    numbers = {case.id: case.number for case in store.list_cases()}
    for case in store.cases_since(since):
        yield _case_row(case)
    for message in store.messages_since(since):
        yield _message_row(message, numbers.get(message.case_id or 0))
    for entry in find(store, InteractionQuery(since=since)):
        yield _interaction_row(entry, numbers.get(entry.case_id or 0))


def write_export(rows: Iterator[ExportRow], out: TextIO, fmt: ExportFormat) -> int:
    """Write the rows; returns how many. CSV holds ``detail`` as a JSON text, times as ISO 8601."""
    count = 0
    if fmt is ExportFormat.JSONL:
        for row in rows:
            out.write(row.model_dump_json() + "\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = row.model_dump(mode="json")
        values["detail"] = json.dumps(values["detail"], ensure_ascii=False) if values["detail"] is not None else None
        writer.writerow({key: "" if value is None else value for key, value in values.items()})
        count += 1
    return count


def _case_row(case: Case) -> ExportRow:
    return ExportRow(record=RecordType.CASE, id=case.id, case_number=case.number, at=case.created_at,
                     status=case.status, lob=case.lob, intent=case.intent, language=case.language,
                     customer=case.customer_email, subject=case.title, info_requests=case.info_requests,
                     queue=case.queue, routed_reason=case.routed_reason, updated_at=case.updated_at)


def _message_row(message: Message, number: str | None) -> ExportRow:
    inbound = message.direction == Direction.INBOUND
    return ExportRow(record=RecordType.MESSAGE, id=message.id, case_number=number, at=message.at,
                     direction=message.direction, sender=message.from_address, subject=message.subject,
                     text=message.new_text if inbound else message.body_text,
                     kind=f"automatic: {message.automatic_reason}" if message.automatic_reason else None)


def _interaction_row(entry: Interaction, number: str | None) -> ExportRow:
    return ExportRow(record=RecordType.INTERACTION, id=entry.id, case_number=number, at=entry.at, kind=entry.kind,
                     actor=entry.actor, actor_name=entry.actor_name, text=entry.summary, outbox_id=entry.outbox_id,
                     template_id=entry.template_id, catalog_version=entry.catalog_version,
                     prompt_version=entry.prompt_version, edit_size=entry.edit_size,
                     decision_seconds=entry.decision_seconds, useful=entry.useful, comment=entry.comment,
                     reason_code=entry.reason_code, detail=entry.detail)
