"""Email templates: choosing one for an outgoing email and rendering it safely.

Templates are configuration, not code: they render in Jinja2's sandbox with
``StrictUndefined``, so a template that refers to something the case lacks fails loudly
before anything is sent instead of leaving a blank in a customer's email.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from agent_graph.catalog import Catalog, Intent, Template, TemplatePurpose
from agent_graph.errors import TemplateRenderError


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
                    purpose: TemplatePurpose) -> Template | None:
    """The template for an outgoing email, in the order of formats.md §1.

    A template whose ``intents`` list is empty serves every intent of its scope, after the
    templates that name the intent.
    """
    if purpose is TemplatePurpose.RESOLUTION and intent is not None and intent.resolution.template:
        return catalog.template(intent.resolution.template)
    lob = catalog.lob(lob_id)
    for templates in ((lob.templates if lob else []), catalog.templates):
        found = _recommended(templates, intent, purpose)
        if found is not None:
            return found
    return catalog.template(catalog.default_template)


def _recommended(templates: list[Template], intent: Intent | None, purpose: TemplatePurpose) -> Template | None:
    for_purpose = [t for t in templates if t.purpose is purpose]
    if intent is not None:
        exact = next((t for t in for_purpose if intent.id in t.intents), None)
        if exact is not None:
            return exact
    return next((t for t in for_purpose if not t.intents), None)


def render(template: Template, variables: dict[str, Any]) -> RenderedEmail:
    """Render subject and body; any undefined value or sandbox violation is a TemplateRenderError."""
    try:
        subject = compiled(template.subject).render(variables)
        body = compiled(template.body).render(variables)
    except TemplateError as exc:
        raise TemplateRenderError(f"template '{template.id}' cannot be rendered for this case: {exc}") from exc
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
