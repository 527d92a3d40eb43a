"""Interactions: what representatives and the agent did, typed for reports and exports.

The interactions table gains who (a representative's name), the draft and template, the catalog and
prompt versions, the edit size, the time from draft to decision, and feedback (useful, comment,
reason code); the outbox keeps the draft as proposed beside the draft as sent; a case field keeps the
person who set it. Every column is nullable: rows written before stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

INTERACTION_COLUMNS = (
    sa.Column("actor_name", sa.String(200)),
    sa.Column("outbox_id", sa.Integer),
    sa.Column("template_id", sa.String(64)),
    sa.Column("catalog_version", sa.String(40)),
    sa.Column("prompt_version", sa.String(100)),
    sa.Column("edit_size", sa.Integer),
    sa.Column("decision_seconds", sa.Float),
    sa.Column("useful", sa.Boolean),
    sa.Column("comment", sa.Text),
    sa.Column("reason_code", sa.String(64)),
)


def upgrade() -> None:
    for column in INTERACTION_COLUMNS:
        op.add_column("interactions", column)
    op.create_index("ix_interactions_at", "interactions", ["at"])
    op.add_column("outbox", sa.Column("proposed_subject", sa.Text))
    op.add_column("outbox", sa.Column("proposed_body", sa.Text))
    op.add_column("case_fields", sa.Column("set_by", sa.String(200)))


def downgrade() -> None:
    raise NotImplementedError("migrations only move forward: restore the backup taken before upgrading")
