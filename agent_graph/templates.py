"""Email templates: choosing the one for an outgoing email (formats.md §1), and the catalog
warnings about templates that cannot ask for what is missing.

Rendering, and the variables a template sees, are ``template_engine``'s.
"""

from __future__ import annotations

from agent_graph.catalog import Catalog, Intent, Template, TemplatePurpose
from agent_graph.template_engine import variables_used


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
