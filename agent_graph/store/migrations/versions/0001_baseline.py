"""Baseline: the store when migrations began.

For a new database and for one made before. A new database gets every table. A database made by a release before migrations (no
``alembic_version`` table) keeps its rows and gains what it lacks: the tables, the nullable
columns and the indexes added since its release, as the store used to add them when it opened it.

The tables are written out here, not imported from ``agent_graph.store.schema``: a migration is
frozen when it is released, and the schema moves on through later migrations
(``tests/test_migrations.py`` checks that the head equals the schema).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BASELINE = sa.MetaData()

sa.Table(
    "cases", BASELINE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String(20), unique=True),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("status_before_review", sa.String(32)),
    sa.Column("lob", sa.String(64), nullable=False),
    sa.Column("intent", sa.String(64)),
    sa.Column("intent_confidence", sa.Float),
    sa.Column("customer_email", sa.String(320), nullable=False, index=True),
    sa.Column("customer_name", sa.String(200)),
    sa.Column("queue", sa.String(100)),
    sa.Column("routed_reason", sa.Text),
    sa.Column("info_requests", sa.Integer, nullable=False),
    sa.Column("follow_ups", sa.Integer, nullable=False),
    sa.Column("last_outbound_at", sa.DateTime),
    sa.Column("last_inbound_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("language", sa.String(8)),
    sa.Column("intent_rival", sa.String(64)),
    sa.Column("intent_margin", sa.Float),
    sa.Index("ix_cases_status_last_outbound", "status", "last_outbound_at"),
)

sa.Table(
    "messages", BASELINE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("direction", sa.String(10), nullable=False),
    sa.Column("message_id", sa.String(998), nullable=False, unique=True),
    sa.Column("in_reply_to", sa.String(998)),
    sa.Column("references", sa.Text, nullable=False),
    sa.Column("from_address", sa.String(320), nullable=False),
    sa.Column("from_name", sa.String(200)),
    sa.Column("to_addresses", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("new_text", sa.Text, nullable=False),
    sa.Column("automatic_reason", sa.String(200)),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("processed", sa.Boolean, nullable=False),
    sa.Column("sender_doubt", sa.Text),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claim_expires_at", sa.DateTime),
)

sa.Table(
    "case_fields", BASELINE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id")),
    sa.Column("extractor", sa.String(64), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("span", sa.Text),
    sa.Column("set_at", sa.DateTime, nullable=False),
)

OUTBOX = sa.Table(
    "outbox", BASELINE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("template_id", sa.String(64)),
    sa.Column("to_address", sa.String(320), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("status_after_send", sa.String(32), nullable=False),
    sa.Column("in_reply_to", sa.String(998)),
    sa.Column("references", sa.Text, nullable=False),
    sa.Column("message_id", sa.String(998), nullable=False, unique=True),
    sa.Column("edited", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("attempts", sa.Integer),
    sa.Column("next_attempt_at", sa.DateTime),
    sa.Column("delivery_error", sa.Text),
    sa.Index("ix_outbox_delivery", "status", "delivered_at"),
)

sa.Table(
    "interactions", BASELINE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

sa.Table(
    "active_runs", BASELINE,
    sa.Column("thread_id", sa.String(100), primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("lease_until", sa.DateTime),
)

sa.Table(
    "mailbox_positions", BASELINE,
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("epoch", sa.String(100)),
    sa.Column("position", sa.String(500)),
    sa.Column("last_fetch_at", sa.DateTime),
    sa.Column("backlog", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.DateTime),
)

sa.Table(
    "quarantine", BASELINE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("first_at", sa.DateTime, nullable=False),
    sa.Column("last_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in BASELINE.sorted_tables:
        if table.name not in present:
            table.create(bind)
            continue
        have = {column["name"] for column in sa.inspect(bind).get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            # Only nullable columns were ever added to a released table.
            assert column.nullable, f"{table.name}.{column.name} was added later, so it must be nullable"
            op.add_column(table.name, sa.Column(column.name, column.type))
            if column is OUTBOX.c.delivered_at:
                # Mail sent before delivery was a step of its own was delivered when sent:
                # `case-agent run` must not send it again.
                op.execute(OUTBOX.update().where(OUTBOX.c.status == "sent").values(delivered_at=OUTBOX.c.sent_at))
        for index in table.indexes:
            index.create(bind, checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline cannot be undone: restore the backup taken before the upgrade")
