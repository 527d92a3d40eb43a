"""Where the send node puts an approved email: the outbox in the store.

Sending, for the agent, is committing the email with the case's changes; handing it to a mail
server is a separate step after that commit (``agent_graph.delivery``, run by ``case-agent run``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from agent_graph.intake.building import build_email
from agent_graph.store import CaseStore, OutboxItem


class Mailbox(Protocol):
    def deliver(self, item: OutboxItem, sender: str, at: datetime) -> OutboxItem:
        """Send one approved outbox item. Must be idempotent for an item already sent."""
        ...


class LocalMailbox:
    """Marks the email sent in the store, in one transaction: exactly once. It then waits in
    the outbox until ``case-agent run`` delivers it."""

    def __init__(self, store: CaseStore):
        self.store = store

    def deliver(self, item: OutboxItem, sender: str, at: datetime) -> OutboxItem:
        raw = build_email(
            from_=sender, to=item.to_address, subject=item.subject, body=item.body, message_id=item.message_id,
            date=at, in_reply_to=item.in_reply_to, references=item.references.split(),
        )
        return self.store.mark_sent(item.id, at, raw.decode("utf-8", errors="replace"))
