"""Delivering the outbox: its own step, after the transaction that sent the email committed.

The graph's send node commits an email to the outbox (status ``sent``) with the case's changes;
this step hands it to the mail connector. It keeps the email's Message-ID, In-Reply-To and
References (the stored MIME is sent byte for byte), so the customer's client threads it.

- Temporary failure (SMTP 4xx, connection lost): tried again later, waiting longer each time.
- Permanent failure (SMTP 5xx, or still failing after MAX_ATTEMPTS): the email is marked
  ``failed`` and its case goes to a representative with the reason (``show``, ``status``).
- Crash between the server accepting an email and the store marking it: an email with an
  earlier attempt is first looked up in the Sent folder by its Message-ID (when one is
  configured); found, it is marked delivered instead of being sent again.
- Many workers: each email due is claimed by one worker before it is sent (``claim_deliveries``,
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), which lets go of it once it was delivered, deferred or
  failed; a dead worker's claim is taken over as its emails' (``agent_graph.claims``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import BaseModel

from agent_graph.claims import Claimant
from agent_graph.context import Services
from agent_graph.domain import Actor, OutboxStatus
from agent_graph.mail import (
    DeliveryDeferred,
    DeliveryRefused,
    MailboxUnavailable,
    Sender,
)
from agent_graph.store import OutboxItem
from tools.route_to_rep import RouteToRepArgs, route_to_rep

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
MAX_ATTEMPTS = 30
"""About a day of retries at the longest wait; then the failure counts as permanent."""


_LET_GO = {"claimed_by": None, "claim_expires_at": None}
"""The delivering worker's claim, ended with the attempt's outcome."""


class DeliveryResult(BaseModel):
    outbox_id: int
    outcome: str
    """delivered, already_delivered, deferred or failed."""
    error: str | None = None


def retry_wait(attempts: int, first: timedelta = FIRST_RETRY) -> timedelta:
    """Doubling from ``first`` after each failed attempt, never more than LONGEST_WAIT."""
    return min(first * (1 << max(attempts - 1, 0)), LONGEST_WAIT)


class Deliverer:
    def __init__(self, env: Services, sender: Sender, first_retry: timedelta = FIRST_RETRY,
                 claimant: Claimant | None = None):
        self.env = env
        self.sender = sender
        self.first_retry = first_retry
        self.claimant = claimant or Claimant()

    def deliver_due(self) -> list[DeliveryResult]:
        """Every outbox email whose (next) attempt is due and that no other worker delivers, oldest first."""
        results = []
        claimed = self.env.store.claim_deliveries(self.claimant.claim(), self.env.clock.now())
        for index, item in enumerate(claimed):
            try:
                results.append(self.deliver(item))
            except BaseException:
                for left in claimed[index:]:  # not delivered: another worker may take them now
                    self.env.store.set_outbox(left.id, claimed_by=None, claim_expires_at=None)
                raise
        return results

    def deliver(self, item: OutboxItem) -> DeliveryResult:
        """Deliver one outbox email (claimed by this worker, or by nobody) and let go of its claim."""
        pk = item.id
        store = self.env.store
        case = store.case(item.case_id)
        try:
            if item.attempts and self.sender.already_sent(item.message_id):
                store.set_outbox(pk, delivered_at=self.env.clock.now(), delivery_error=None, **_LET_GO)
                log.info("delivery outbox=%s case=%s message_id=%s: found in the Sent folder, not sent again",
                         pk, case.number, item.message_id)
                return DeliveryResult(outbox_id=pk, outcome="already_delivered")
            message = store.message_by_header(item.message_id)
            if message is None:
                raise DeliveryRefused(f"outbox item {pk} has no stored email {item.message_id}")
            item = store.begin_delivery_attempt(pk)
            self.sender.send(message.raw.encode("utf-8"), self.env.catalog.mailbox, [item.to_address],
                             item.message_id)
        except (DeliveryDeferred, MailboxUnavailable) as exc:
            return self._defer(item, case.number, str(exc))
        except DeliveryRefused as exc:
            return self._fail(item, str(exc))
        store.set_outbox(pk, delivered_at=self.env.clock.now(), delivery_error=None, **_LET_GO)
        log.info("delivery outbox=%s case=%s message_id=%s: delivered (attempt %s)", pk, case.number,
                 item.message_id, item.attempts)
        return DeliveryResult(outbox_id=pk, outcome="delivered")

    def _defer(self, item: OutboxItem, case_number: str | None, error: str) -> DeliveryResult:
        attempts = item.attempts or 0
        if attempts >= MAX_ATTEMPTS:
            return self._fail(item, f"still failing after {attempts} attempts: {error}")
        wait = retry_wait(max(attempts, 1), self.first_retry)
        self.env.store.set_outbox(item.id, next_attempt_at=self.env.clock.now() + wait, delivery_error=error,
                                  **_LET_GO)
        log.warning("delivery outbox=%s case=%s message_id=%s: deferred, next attempt in %ss: %s", item.id,
                    case_number, item.message_id, int(wait.total_seconds()), error)
        return DeliveryResult(outbox_id=item.id, outcome="deferred", error=error)

    def _fail(self, item: OutboxItem, error: str) -> DeliveryResult:
        """The email is failed and its case goes to a representative, in one transaction."""
        env = self.env
        reason = f"the email {item.subject!r} could not be delivered to {item.to_address}: {error}"
        with env.store.unit_of_work():
            env.store.set_outbox(item.id, status=OutboxStatus.FAILED, delivery_error=error, **_LET_GO)
            case = route_to_rep(env, RouteToRepArgs(case_id=item.case_id, reason=reason))
            env.store.add_interaction(case.id, Actor.SYSTEM, "delivery_failed", reason, env.clock.now(),
                                      {"outbox_id": item.id, "error": error})
        log.error("delivery outbox=%s case=%s message_id=%s: failed for good, case routed to %s: %s", item.id,
                  case.number, item.message_id, case.queue, error)
        return DeliveryResult(outbox_id=item.id, outcome="failed", error=error)
