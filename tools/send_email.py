"""send_email: deliver an approved outbox item to the case's customer, exactly once. The one place that
sends: the catalog's ``disclosure`` line is appended here, to every email the agent sends, not by templates."""

from __future__ import annotations

import re

from pydantic import BaseModel

from agent_graph.catalog import Catalog
from agent_graph.context import Services
from agent_graph.domain import OutboxStatus
from agent_graph.errors import PolicyViolation
from agent_graph.intake.parsing import valid_addr_spec
from agent_graph.store import OutboxItem

UNRENDERED = re.compile(r"\{\{|\}\}|\{%|%\}")


class SendEmailArgs(BaseModel):
    outbox_id: int


def send_email(env: Services, args: SendEmailArgs) -> OutboxItem:
    """Idempotent: an item already sent is returned as it is, never sent again."""
    with env.store.unit_of_work(read_only=True):
        item = env.store.outbox_item(args.outbox_id)
        case = env.store.case(item.case_id)
    if item.status == OutboxStatus.SENT:
        return item
    if item.status != OutboxStatus.APPROVED:
        raise PolicyViolation(f"outbox item {item.id} is '{item.status}', not approved: it cannot be sent")
    if not valid_addr_spec(case.customer_email):
        raise PolicyViolation(f"case {case.number} has no customer address the agent may write to "
                              f"({case.customer_email!r} is not a valid address): a person must answer it")
    if item.to_address.strip().lower() != case.customer_email.strip().lower():
        raise PolicyViolation(f"outbox item {item.id} is addressed to {item.to_address}, not to the case's "
                              f"customer {case.customer_email}")
    if not item.body.strip() or UNRENDERED.search(item.subject + item.body):
        raise PolicyViolation(f"outbox item {item.id} is empty or holds unrendered template markup")
    body = with_disclosure(item.body, disclosure(env.catalog, case.language))
    if body != item.body and item.id is not None:  # kept in the outbox: what the customer received
        item = env.store.set_outbox(item.id, body=body)
    return env.mailbox.deliver(item, env.catalog.mailbox, env.clock.now())


def disclosure(catalog: Catalog, language: str | None) -> str | None:
    """The catalog's ``disclosure`` line in the customer's language (else the default language's, else
    the first given); None when the catalog has none."""
    text = catalog.disclosure
    if text is None or isinstance(text, str):
        return text
    return text.get(language or "") or text.get(catalog.default_language) or next(iter(text.values()), None)


def with_disclosure(body: str, line: str | None) -> str:
    """The body with the disclosure line after it, once (a send tried again does not add it twice)."""
    if not line or not line.strip() or body.rstrip().endswith(line.strip()):
        return body
    return f"{body.rstrip()}\n\n{line.strip()}\n"
