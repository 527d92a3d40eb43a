"""Email templates: choosing the one for an outgoing email (formats.md §1), and the catalog
warnings about templates that cannot ask for what is missing.

Rendering, and the variables a template sees, are ``template_engine``'s.
"""

from __future__ import annotations

from agent_graph.catalog import Catalog, Intent, LineOfBusiness, Template, TemplatePurpose
from agent_graph.template_engine import variables_used
from agent_graph.wording import BUILT_IN_WORDING_LANGUAGES


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
