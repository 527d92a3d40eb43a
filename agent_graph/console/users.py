"""The console's users: names and argon2id password hashes in the store (``console_users``).

``case-agent users add NAME`` adds one; the console's login checks a name and password here.
Nothing else about a user is stored: sessions are signed cookies (``console/app.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from agent_graph.errors import CaseAgentError
from agent_graph.store import CaseStore
from agent_graph.store.schema import console_users

MIN_PASSWORD = 10
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
_HASHER = PasswordHasher()  # argon2id with the library's recommended parameters (RFC 9106, low memory)
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_NOBODY = _HASHER.hash("no such user: this hash is only ever compared against")


class UserError(CaseAgentError):
    """A user that cannot be added as asked (a bad name, a short password, a name taken)."""


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    name: str


def add_user(store: CaseStore, name: str, password: str, at: datetime) -> ConsoleUser:
    if not NAME.fullmatch(name):
        raise UserError(f"user name {name[:40]!r}: use letters, digits, '.', '_', '@' or '-' (100 at most), "
                        f"starting with a letter or digit")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    try:
        with store.engine.begin() as c:
            (pk,) = c.execute(insert(console_users).values(
                name=name, password_hash=_HASHER.hash(password), created_at=at)).inserted_primary_key or (0,)
    except IntegrityError:
        raise UserError(f"there is a user {name!r} already") from None
    return ConsoleUser(id=pk, name=name)


def authenticate(store: CaseStore, name: str, password: str) -> ConsoleUser | None:
    """The user, when the password is theirs; None otherwise (whichever of the two was wrong)."""
    with store.engine.connect() as c:
        row = c.execute(select(console_users.c.id, console_users.c.password_hash)
                        .where(console_users.c.name == name)).first()
    try:
        _HASHER.verify(row.password_hash if row else _NOBODY, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(row.password_hash):  # the library's parameters moved on: keep up with them
        with store.engine.begin() as c:
            c.execute(update(console_users).where(console_users.c.id == row.id)
                      .values(password_hash=_HASHER.hash(password)))
    return ConsoleUser(id=row.id, name=name)


def count_users(store: CaseStore) -> int:
    with store.engine.connect() as c:
        return len(c.execute(select(console_users.c.id)).all())
