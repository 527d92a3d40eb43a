"""Worker leases: many workers on one store.

- ``messages.source`` (where an email was read, for the worker that runs it later) and
  ``messages.quarantined_at`` (a stored email whose run failed waits in the quarantine, not in the
  queue), and an index for the queue of emails to run;
- ``outbox.claimed_by`` and ``outbox.claim_expires_at``: the worker delivering an outbox email;
- ``worker_leases``: who fetches a mailbox (SQLite; PostgreSQL uses an advisory lock) and whose
  turn the clock is.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0004"
branch_labels = None
depends_on = None


COLUMNS: dict[str, list[sa.Column[Any]]] = {
    "messages": [sa.Column("source", sa.Text), sa.Column("quarantined_at", sa.DateTime)],
    "outbox": [sa.Column("claimed_by", sa.String(200)), sa.Column("claim_expires_at", sa.DateTime)],
}


def upgrade() -> None:
    # What is there already is kept (a database a test built from the newest schema, then unstamped).
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        have = {column["name"] for column in inspector.get_columns(table)}
        for column in columns:
            if column.name not in have:
                op.add_column(table, column)
    if "ix_messages_queue" not in {index["name"] for index in inspector.get_indexes("messages")}:
        op.create_index("ix_messages_queue", "messages", ["processed", "direction"])
    if "worker_leases" not in inspector.get_table_names():
        op.create_table(
            "worker_leases",
            sa.Column("name", sa.String(600), primary_key=True),
            sa.Column("owner", sa.String(200)),
            sa.Column("lease_until", sa.DateTime),
        )


def downgrade() -> None:
    raise NotImplementedError("migrations only move forward: restore the backup taken before the upgrade")
