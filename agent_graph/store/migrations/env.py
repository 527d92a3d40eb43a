"""Alembic's environment for the store's migrations (``agent_graph.store.migration`` runs them).

At run time the store hands over its open connection (``config.attributes["connection"]``), inside
the transaction that holds the migration lock. A developer writing a migration runs Alembic's own
command line from the project root (settings in pyproject.toml, ``[tool.alembic]``) against
``CASE_AGENT_DB``, e.g. ``CASE_AGENT_DB=sqlite:///dev.db alembic revision --autogenerate -m "…"``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from agent_graph.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    import os

    from agent_graph.defaults import DEFAULT_DB
    from agent_graph.store.repository import make_engine

    engine = make_engine(os.environ.get("CASE_AGENT_DB") or DEFAULT_DB)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
