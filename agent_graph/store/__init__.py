"""Persistence of cases and mail (SQLAlchemy 2; SQLite by default).

The rest of the tree imports the store and its rows from here; the tables and queries stay inside
the package (:mod:`.schema`, :mod:`.repository`)."""

from agent_graph.store.repository import CaseStore
from agent_graph.store.schema import (
    Case,
    CaseField,
    Interaction,
    MailboxPosition,
    Message,
    NewOutboxItem,
    OutboxItem,
    QuarantinedEmail,
)

__all__ = ["Case", "CaseField", "CaseStore", "Interaction", "MailboxPosition", "Message", "NewOutboxItem", "OutboxItem", "QuarantinedEmail"]
