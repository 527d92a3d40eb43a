"""What the migrations after the baseline (0001) add, for tests that rebuild a database as a release
before them made it. Each migration adds its line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ADDED_AFTER_THE_BASELINE: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "0002": ([("messages", "source"), ("messages", "quarantined_at"), ("outbox", "claimed_by"),
              ("outbox", "claim_expires_at")], ["ix_messages_queue"]),
    "0005": ([("interactions", column) for column in (
        "actor_name", "outbox_id", "template_id", "catalog_version", "prompt_version", "edit_size",
        "decision_seconds", "useful", "comment", "reason_code")]
        + [("outbox", "proposed_subject"), ("outbox", "proposed_body"), ("case_fields", "set_by")],
        ["ix_interactions_at"]),
}
"""By revision: the (table, column) pairs and the indexes it adds."""

TABLES_ADDED_AFTER_THE_BASELINE: dict[str, list[str]] = {
    "0002": ["worker_leases"],
    "0003": ["dataverse_operations"],
    "0004": ["console_users"],
}
"""By revision: the tables it adds."""


def undo_later_migrations(execute: Callable[[str], Any]) -> None:
    """Drop what the migrations after the baseline added, with ``execute(sql)``."""
    for tables in TABLES_ADDED_AFTER_THE_BASELINE.values():
        for table in tables:
            execute(f"DROP TABLE {table}")
    for columns, indexes in ADDED_AFTER_THE_BASELINE.values():
        for index in indexes:
            execute(f"DROP INDEX {index}")
        for table, column in columns:
            execute(f"ALTER TABLE {table} DROP COLUMN {column}")
