"""Email templates: choosing one for an outgoing email and rendering it safely.

Templates are configuration, not code: they render in Jinja2's sandbox with
``StrictUndefined``, so a template that refers to something the case lacks fails loudly
before anything is sent instead of leaving a blank in a customer's email.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from agent_graph.catalog import Attribute, AttributeType, Catalog, Intent, LineOfBusiness, Template, TemplatePurpose
from agent_graph.errors import TemplateRenderError, bounded
from agent_graph.wording import BUILT_IN_WORDING_LANGUAGES

if TYPE_CHECKING:
    from agent_graph.store import Case


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def parse_template(source: str) -> nodes.Template:
    """Parse template source; raises jinja2.TemplateSyntaxError."""
    return environment().parse(source)


@lru_cache(maxsize=1024)
def compiled(source: str) -> JinjaTemplate:
    """Templates are compiled once per process, not per email."""
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def variables_used(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(parse_template(source)))


class RenderedEmail(BaseModel):
    subject: str
    body: str
    template_id: str | None


def choose_template(catalog: Catalog, lob_id: str | None, intent: Intent | None,
                    purpose: TemplatePurpose, language: str | None = None) -> Template | None:
    """The template for an outgoing email, in the order of formats.md §1.

    A template whose ``intents`` list is empty serves every intent of its scope, after the
    templates that name the intent. With ``language``, only templates written in it, in the same
    order; the intent's resolution template and ``default_template`` then stand for their role: the
    template with the same ``intents`` and ``purpose`` in that language.
    """
    if purpose is TemplatePurpose.RESOLUTION and intent is not None and intent.resolution.template:
        named = _in_language(catalog, catalog.template(intent.resolution.template), language)
        if named is not None or language is None:
            return named
    lob = catalog.lob(lob_id)
    for templates in ((lob.templates if lob else []), catalog.templates):
        written = templates if language is None else [t for t in templates if catalog.language_of(t) == language]
        found = _recommended(written, intent, purpose)
        if found is not None:
            return found
    return _in_language(catalog, catalog.template(catalog.default_template), language)


def _in_language(catalog: Catalog, template: Template | None, language: str | None) -> Template | None:
    """``template``, or the template sharing its role (``intents`` and ``purpose``) written in ``language``."""
    if template is None or language is None or catalog.language_of(template) == language:
        return template
    return next((t for t in catalog.all_templates() if catalog.language_of(t) == language
                 and t.purpose is template.purpose and set(t.intents) == set(template.intents)), None)


def _recommended(templates: list[Template], intent: Intent | None, purpose: TemplatePurpose) -> Template | None:
    for_purpose = [t for t in templates if t.purpose is purpose]
    if intent is not None:
        exact = next((t for t in for_purpose if intent.id in t.intents), None)
        if exact is not None:
            return exact
    return next((t for t in for_purpose if not t.intents), None)


def render(template: Template, variables: dict[str, Any]) -> RenderedEmail:
    """Render subject and body. Whatever fails (an undefined value, a sandbox violation, an unknown
    filter, a type error in an expression) is a TemplateRenderError: a template is configuration,
    so anything it raises is the template's fault and must stop the email, not the agent."""
    try:
        subject = compiled(template.subject).render(variables)
        body = compiled(template.body).render(variables)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        reason = str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
        raise TemplateRenderError(f"template '{template.id}' cannot be rendered for this case: {bounded(reason)}") from exc
    subject = " ".join(subject.split())
    if not subject or not body.strip():
        raise TemplateRenderError(f"template '{template.id}' rendered an empty subject or body")
    return RenderedEmail(subject=subject, body=body.strip() + "\n", template_id=template.id)


ASKING_PURPOSES = (TemplatePurpose.REQUEST_INFO, TemplatePurpose.FOLLOW_UP)


def templates_that_do_not_ask(catalog: Catalog) -> list[str]:
    """Warnings for check-catalog: each template that can be chosen to ask for missing information (an
    information request, a follow-up of a case awaiting the customer) but uses neither ``message`` nor
    ``missing``, so it cannot name what is missing; the agent sends the built-in wording instead."""
    chosen: dict[str, set[str]] = {}
    for lob in catalog.lines_of_business:
        for intent in [None, *lob.intents]:
            for purpose in ASKING_PURPOSES:
                template = choose_template(catalog, lob.id, intent, purpose)
                if template is not None:
                    chosen.setdefault(template.id, set()).add(purpose.value)
    warnings = []
    for template_id, purposes in sorted(chosen.items()):
        template = catalog.template(template_id)
        assert template is not None
        if not {"message", "missing"} & (variables_used(template.subject) | variables_used(template.body)):
            warnings.append(f"template '{template_id}' is used for {' and '.join(sorted(purposes))} but uses "
                            f"neither 'message' nor 'missing', so it cannot name what is missing: the built-in "
                            f"wording is sent instead")
    return warnings


def languages_lacking_templates(catalog: Catalog) -> list[str]:
    """Warnings for check-catalog: each language of ``languages`` the built-in wording is not written in
    that has no template (chosen by :func:`choose_template` in that language) for an email the agent may
    need: an information request (per LOB before the intent is known, per intent that has required
    attributes), the resolution of each intent, a follow-up (when the catalog has follow-ups). A template
    that wraps ``message`` (the built-in wording) does not write in the language, so it does not count."""
    needs: list[tuple[TemplatePurpose, LineOfBusiness, Intent | None]] = []
    for lob in catalog.lines_of_business:
        needs.append((TemplatePurpose.REQUEST_INFO, lob, None))
        needs.extend((TemplatePurpose.REQUEST_INFO, lob, i) for i in lob.intents if i.required_attributes)
        needs.extend((TemplatePurpose.RESOLUTION, lob, i) for i in lob.intents)
        if catalog.follow_up is not None:
            needs.extend((TemplatePurpose.FOLLOW_UP, lob, i) for i in [None, *lob.intents])
    warnings = []
    for language in catalog.languages:
        if language in BUILT_IN_WORDING_LANGUAGES:
            continue
        lacking: dict[TemplatePurpose, list[str]] = {}
        for purpose, lob, intent in needs:
            template = choose_template(catalog, lob.id, intent, purpose, language)
            if template is None or "message" in variables_used(template.subject) | variables_used(template.body):
                lacking.setdefault(purpose, []).append(f"{lob.id}/{intent.id if intent else '(intent not known)'}")
        if lacking:
            listed = "; ".join(f"{purpose.value} for {', '.join(where)}" for purpose, where in lacking.items())
            warnings.append(f"language '{language}' has no template for {listed} — the built-in wording is only "
                            f"in {', '.join(sorted(BUILT_IN_WORDING_LANGUAGES))}, so these emails cannot be "
                            f"written in '{language}'")
    return warnings


def template_variables(catalog: Catalog, case: Case, intent: Intent | None, fields: dict[str, str],
                       missing: list[str], knowledge: str, follow_up_number: int) -> dict[str, Any]:
    """The variables a template is rendered with for a case (formats.md §1 lists them)."""
    customer: dict[str, str] = {"email": case.customer_email}
    if case.customer_name:
        customer["name"] = case.customer_name
        customer["first_name"] = first_name(case.customer_name) or case.customer_name
    missing_entries = []
    for name in missing:
        attribute = intent.attribute(name) if intent else None
        missing_entries.append({
            "name": name,
            "label": attribute.label if attribute else name.replace("_", " "),
            "description": attribute.description if attribute else "",
        })
    return {
        "case": {"number": case.number, "title": case.title or "your request", "status": case.status,
                 "lob": case.lob, "intent": case.intent},
        "customer": customer,
        "fields": fields,
        "missing": missing_entries,
        "knowledge": knowledge,
        "organisation": catalog.organisation,
        "mailbox": catalog.mailbox,
        "intent": {"id": intent.id, "name": intent.name} if intent else {"id": None, "name": "request"},
        "follow_up_number": follow_up_number,
    }


def first_name(full_name: str | None) -> str | None:
    if not full_name:
        return None
    name = full_name.strip().strip('"')
    if "," in name:  # "Whitfield, Dana"
        name = name.split(",", 1)[1].strip()
    parts = name.split()
    return parts[0] if parts else None


# --- the load-time check: every template must render for a sample case ------------------------

_SAMPLE_VALUES = {
    AttributeType.STRING: "SAMPLE-1234", AttributeType.TEXT: "a sample description from the customer",
    AttributeType.EMAIL: "sam.lee@example.com", AttributeType.PHONE: "+15555550100",
    AttributeType.DATE: "2026-03-02", AttributeType.NUMBER: "42", AttributeType.MONEY: "89.99",
    AttributeType.BOOLEAN: "true",
}
"""A value of each attribute type, written as the agent stores case fields."""


def sample_value(attribute: Attribute) -> str:
    return attribute.values[0] if attribute.values else _SAMPLE_VALUES[attribute.type]


def render_sample(catalog: Catalog, template: Template, served: list[Intent]) -> RenderedEmail:
    """Render a template for the fullest case it can serve; raises TemplateRenderError.

    ``served`` are the intents the template serves (its own list, else its scope's). The sample
    case has the first of them as its intent and a named customer; every attribute of every served
    intent has a sample value of its type (so a field that only some intents declare is there, as
    the catalog check on field references allows); every attribute of the intent is listed as
    missing (a request for information names at least one); ``message`` holds the drafter's words.
    A template that fails on this case fails on every case: it can never be sent."""
    from agent_graph.store import Case

    intent = served[0] if served else None
    lob = catalog.lob_of_intent(intent.id) if intent else None
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    case = Case(id=1, number="CAS-000001", title="Sample request", status="new", status_before_review=None,
                lob=(lob or catalog.lines_of_business[0]).id, intent=intent.id if intent else None,
                intent_confidence=None, customer_email="sam.lee@example.com", customer_name="Sam Lee", queue=None,
                routed_reason=None, info_requests=0, follow_ups=0, last_outbound_at=None, last_inbound_at=None,
                created_at=now, updated_at=now)
    fields = {a.name: sample_value(a) for i in served for a in i.attributes}
    missing = [a.name for a in intent.attributes] if intent and intent.attributes else ["details"]
    knowledge = intent.resolution.knowledge.strip() if intent else ""
    variables = template_variables(catalog, case, intent, fields, missing, knowledge, follow_up_number=1)
    variables["message"] = "We are looking into your request and will write again shortly."
    return render(template, variables)
