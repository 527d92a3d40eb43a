"""Microsoft 365 and Dynamics 365: a Graph delta link as a mailbox position, the Dataverse outbox.

- ``mailbox_positions.position`` becomes Text: a Graph delta link is a URL with an opaque token,
  longer than the 500 characters an IMAP UID never needed.
- ``dataverse_operations``: what Dataverse still has to be told (``--cases dataverse``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox_positions") as batch:
        batch.alter_column("position", type_=sa.Text, existing_type=sa.String(500), existing_nullable=True)
    op.create_table(
        "dataverse_operations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message_pk", sa.Integer, sa.ForeignKey("messages.id")),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("dataverse_operations")
    with op.batch_alter_table("mailbox_positions") as batch:
        batch.alter_column("position", type_=sa.String(500), existing_type=sa.Text, existing_nullable=True)
