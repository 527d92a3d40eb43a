"""Composing an outgoing email for a case: template choice, variables, rendering.

The words: to *compose* is to make an email's text, whichever way; to *render* is to fill a
template; a *draft* is a composed email stored to wait for a review; the *wording* is the
built-in text (``agent_graph.wording``).

A template that fits is rendered without asking the brain; the brain composes only
when the template uses ``message`` or when no template fits at all.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from agent_graph.brain.base import Brain, ComposeRequest, writes
from agent_graph.brain.language import detect_language
from agent_graph.brain.llm_guard import UngroundedDraftError, compose_sources, ungrounded_details
from agent_graph.catalog import Catalog, Template, TemplatePurpose
from agent_graph.errors import WrongLanguageError
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
class ComposeContext:
    """What an email for a case is composed from, read from the store beforehand, so that no
    transaction (nor pooled connection) is held while a language model words it."""

    case: Case
    fields: dict[str, str]
    customer_texts: list[str]


def compose_email(catalog: Catalog, brain: Brain, context: ComposeContext, purpose: TemplatePurpose,
                  missing: list[str], follow_up_number: int = 0, message: str | None = None) -> RenderedEmail:
    """Render the email for a case, in its customer's language (docs/behaviour.md, "Languages");
    raises TemplateRenderError when the chosen template cannot be filled, and WrongLanguageError
    (nothing stored) when nothing can write in the customer's language or the email came out in
    another one: a customer is never sent an email in a language other than theirs.

    ``message``: words already written (a custom agent's), said in the template when it uses
    ``message``, else in the built-in greeting and sign-off; the brain is not asked. They are held
    to the same grounding as a language model's draft: UngroundedDraftError, nothing stored."""
    case, fields = context.case, context.fields
    intent = catalog.intent(case.intent)
    knowledge = intent.resolution.knowledge.strip() if intent else ""
    language = case.language or catalog.default_language

    request = ComposeRequest(
        purpose=purpose, intent=intent, fields=fields, missing=missing, knowledge=knowledge,
        organisation=catalog.organisation, customer_first_name=first_name(case.customer_name),
        follow_up_number=follow_up_number, customer_texts=context.customer_texts, language=language,
    )
    variables = template_variables(catalog, case, intent, fields, missing, knowledge, follow_up_number, language)
    template = choose_template(catalog, case.lob, intent, purpose, language)
    if message is not None:
        return written_in(_composed_email(request, case, variables, template, message, language), language)
    if template is not None:
        if _uses_message(template.subject, template.body):
            variables["message"] = _brain_composed(brain, request)  # asked for only when wrapped
        email = render(template, variables)
    else:
        variables["message"] = _brain_composed(brain, request)
        email = _framed(case, variables, language)
    unasked = unnamed_missing(email.body, variables["missing"])
    if not unasked:
        return written_in(email, language)
    log.warning("%s does not ask for %s: the built-in wording is sent instead",
                f"template '{template.id}'" if template else "the drafted email", ", ".join(unasked))
    variables["message"] = built_in_wording(request)
    return written_in(RenderedEmail(subject=email.subject, body=email_frame(language).render(variables).strip() + "\n",
                                    template_id=None), language)


def _brain_composed(brain: Brain, request: ComposeRequest) -> str:
    """The brain's wording for ``request``, when it writes the request's language."""
    if not writes(brain, request.language):
        raise WrongLanguageError(f"no template writes a {request.purpose.value} email in '{request.language}', "
                                 f"and the {brain.name} engine writes only in "
                                 f"{', '.join(sorted(brain.writes_languages or ()))}")
    return brain.compose(request)


def written_in(email: RenderedEmail, language: str) -> RenderedEmail:
    """``email``, unless its body reads as another language than ``language`` (WrongLanguageError):
    the last check before an email is stored for a customer, whoever wrote it."""
    detected = detect_language(email.body)
    if detected is not None and detected != language:
        raise WrongLanguageError(f"the email for a customer writing in '{language}' reads as '{detected}'"
                                 + (f" (template '{email.template_id}')" if email.template_id else ""))
    return email


def _composed_email(request: ComposeRequest, case: Case, variables: dict[str, Any], template: Template | None,
                   message: str, language: str) -> RenderedEmail:
    details = ungrounded_details(message, compose_sources(request))
    if details:
        raise UngroundedDraftError(details, message)
    variables["message"] = message
    if template is not None and _uses_message(template.subject, template.body):
        return render(template, variables)
    return _framed(case, variables, language)


def _framed(case: Case, variables: dict[str, Any], language: str) -> RenderedEmail:
    """``message`` in the built-in greeting and sign-off, when no template says it."""
    about = case.title or ("your request" if language == "en" else "")
    return RenderedEmail(subject=f"Re: {about} [{case.number}]" if about else f"Re: [{case.number}]",
                         body=email_frame(language).render(variables).strip() + "\n", template_id=None)


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
