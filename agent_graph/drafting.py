"""Writing an outgoing email for a case: template choice, variables, rendering.

A template that fits is rendered without asking the brain; the brain's wording is only
computed when the template uses ``message`` or when no template fits at all.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from agent_graph.brain.base import Brain, ComposeRequest
from agent_graph.brain.llm_guard import UngroundedDraftError, compose_sources, ungrounded_details
from agent_graph.catalog import Catalog, Template, TemplatePurpose
from agent_graph.store import Case
from agent_graph.template_engine import (
    MissingDetail,
    RenderedEmail,
    first_name,
    render,
    template_variables,
    variables_used,
)
from agent_graph.templates import choose_template
from agent_graph.wording import built_in_wording, email_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DraftContext:
    """What an email for a case is written from, read from the store beforehand, so that no
    transaction (nor pooled connection) is held while a language model words it."""

    case: Case
    fields: dict[str, str]
    customer_texts: list[str]


def compose_email(catalog: Catalog, brain: Brain, draft: DraftContext, purpose: TemplatePurpose,
                  missing: list[str], follow_up_number: int = 0, message: str | None = None) -> RenderedEmail:
    """Render the email for a case; raises TemplateRenderError when the chosen template cannot be filled.

    ``message``: words already written (a custom agent's), said in the template when it uses
    ``message``, else in the built-in greeting and sign-off; the brain is not asked. They are held
    to the same grounding as a language model's draft: UngroundedDraftError, nothing stored."""
    case, fields = draft.case, draft.fields
    intent = catalog.intent(case.intent)
    knowledge = intent.resolution.knowledge.strip() if intent else ""

    request = ComposeRequest(
        purpose=purpose, intent=intent, fields=fields, missing=missing, knowledge=knowledge,
        organisation=catalog.organisation, customer_first_name=first_name(case.customer_name),
        follow_up_number=follow_up_number, customer_texts=draft.customer_texts,
    )
    variables = template_variables(catalog, case, intent, fields, missing, knowledge, follow_up_number)
    template = choose_template(catalog, case.lob, intent, purpose)
    if message is not None:
        return _written_email(request, case, variables, template, message)
    if template is not None:
        if _uses_message(template.subject, template.body):
            variables["message"] = brain.compose(request)  # the brain's words, asked for only when wrapped
        email = render(template, variables)
    else:
        variables["message"] = brain.compose(request)
        email = _framed(case, variables)
    unasked = unnamed_missing(email.body, variables["missing"])
    if not unasked:
        return email
    log.warning("%s does not ask for %s: the built-in wording is sent instead",
                f"template '{template.id}'" if template else "the drafted email", ", ".join(unasked))
    variables["message"] = built_in_wording(request)
    return RenderedEmail(subject=email.subject, body=email_frame().render(variables).strip() + "\n",
                         template_id=None)


def _written_email(request: ComposeRequest, case: Case, variables: dict[str, Any], template: Template | None,
                   message: str) -> RenderedEmail:
    details = ungrounded_details(message, compose_sources(request))
    if details:
        raise UngroundedDraftError(details, message)
    variables["message"] = message
    if template is not None and _uses_message(template.subject, template.body):
        return render(template, variables)
    return _framed(case, variables)


def _framed(case: Case, variables: dict[str, Any]) -> RenderedEmail:
    """``message`` in the built-in greeting and sign-off, when no template says it."""
    return RenderedEmail(subject=f"Re: {case.title or 'your request'} [{case.number}]",
                         body=email_frame().render(variables).strip() + "\n", template_id=None)


def unnamed_missing(body: str, missing: list[MissingDetail]) -> list[str]:
    """The missing attributes an email asking for them does not name: neither the label, nor the
    description, nor the catalog's name of each appears in the body."""
    text = body.lower()
    return [m["name"] for m in missing
            if not any(word and word.lower() in text for word in (m["label"], m["description"], m["name"]))]


def _uses_message(*sources: str) -> bool:
    return any("message" in variables_used(s) for s in sources)


def outbound_message_id(case_number: str, idempotency_key: str, mailbox: str) -> str:
    """A Message-ID that is the same for the same draft, so retries never mint a second email."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    domain = mailbox.rsplit("@", 1)[-1] or "case-agent.invalid"
    return f"{case_number}.{digest}@{domain}"


def reply_key_prefix(case_number: str, message_id: str) -> str:
    """Idempotency keys of drafts answering one inbound email start with this."""
    return f"{case_number}:{message_id}:"
