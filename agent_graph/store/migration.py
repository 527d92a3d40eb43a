"""Schema migrations of the store (Alembic), for SQLite and PostgreSQL alike.

:func:`migrate` brings a database to the newest schema, and says what it did: a new database is
created by running every migration; a database made before migrations existed (tables, but no
``alembic_version``) is brought to the baseline by its migration, which keeps every row; a database
at an older revision runs the revisions since. A database at a revision this release does not know
(made by a newer release) is refused, never touched. The migrations live in the package
(``migrations/versions``); no ``alembic.ini`` is needed.

One process migrates at a time: the check and the upgrade share one transaction that holds the
database's write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock),
so workers starting together on a new or old database do not trip over each other.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from agent_graph.errors import StoreUnavailable
from agent_graph.store.schema import metadata

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
#: The PostgreSQL advisory lock key migrations take (any fixed number; "case" in ASCII).
MIGRATION_LOCK = 0x63617365
#: The newest revision of ``migrations/versions`` (tests/test_migrations.py checks it against Alembic's
#: own reading). A database already there is opened without importing Alembic, which most commands
#: would otherwise load for nothing.
HEAD = "0003"


class Before(StrEnum):
    """What the database was before :func:`migrate`."""

    NEW = "new"
    """None of the store's tables."""
    UNVERSIONED = "unversioned"
    """Tables made by a release before migrations (no version table)."""
    VERSIONED = "versioned"


@dataclass(frozen=True, slots=True)
class MigrationReport:
    before: Before
    from_revision: str | None
    to_revision: str
    applied: list[str] = field(default_factory=list)
    """The revisions run, oldest first (with their messages)."""

    @property
    def changed(self) -> bool:
        return bool(self.applied)

    def describe(self) -> str:
        if self.before is Before.NEW:
            return f"created the case database at revision {self.to_revision} (the newest)"
        if self.before is Before.UNVERSIONED:
            return (f"brought a case database made before migrations to the baseline, keeping its rows; "
                    f"now at revision {self.to_revision} (the newest); applied: {'; '.join(self.applied)}")
        if not self.applied:
            return f"the case database is at revision {self.to_revision}, the newest: nothing to do"
        return (f"upgraded the case database from revision {self.from_revision} to {self.to_revision}; "
                f"applied: {'; '.join(self.applied)}")


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    """The newest revision this release knows."""
    return HEAD


def current_revision(connection: Connection) -> str | None:
    """The database's revision, as Alembic keeps it (one row of ``alembic_version``)."""
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def migrate(engine: Engine) -> MigrationReport:
    """Bring the database to the newest revision (see the module's documentation)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        tables = set(inspect(connection).get_table_names())
        if VERSION_TABLE in tables:
            before, revision = Before.VERSIONED, current_revision(connection)
        else:  # other tables (the checkpointer's, another application's) do not make it a case database
            before, revision = (Before.UNVERSIONED if tables & set(metadata.tables) else Before.NEW), None
        newest = head()
        if revision == newest:
            return MigrationReport(before=before, from_revision=revision, to_revision=newest)
        scripts = _scripts()
        if revision is not None and revision not in {script.revision for script in scripts.walk_revisions()}:
            raise StoreUnavailable(f"the case database is at schema revision {revision!r}, which this release of "
                                   f"case-agent does not know (the newest it knows is {newest!r}): it was "
                                   "upgraded by a newer release; run that release, or upgrade case-agent")
        from alembic import command
        from alembic.config import Config

        pending = list(reversed(list(scripts.iterate_revisions(newest, revision))))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, newest)
    report = MigrationReport(before=before, from_revision=revision, to_revision=newest,
                             applied=[f"{script.revision} ({script.doc})" for script in pending])
    log.log(logging.INFO if before is Before.NEW else logging.WARNING, "%s", report.describe())
    return report
