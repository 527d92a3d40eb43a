"""The built-in wording: what the agent writes when no template of the catalog fits, or when a
template wraps the drafter's ``message`` (the ``*.j2`` files of this package).

Drafting uses it for every brain; the offline engine's ``compose`` is this wording.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources

from jinja2 import Template as JinjaTemplate

from agent_graph.brain.base import ComposeRequest
from agent_graph.catalog import TemplatePurpose
from agent_graph.template_engine import environment, missing_details

BUILT_IN_WORDING_LANGUAGES = frozenset({"en"})
"""The languages the files here are written in (ISO 639-1)."""

_WORDED_PURPOSES = frozenset({"request_info", "resolution", "follow_up"})


def built_in_wording(request: ComposeRequest) -> str:
    """The wording for a purpose; an information request's names every missing attribute."""
    return _wording(request.purpose).render(
        intent=request.intent.model_dump() if request.intent else None,
        missing=missing_details(request.intent, request.missing),
        fields=request.fields,
        knowledge=request.knowledge,
        organisation=request.organisation,
        follow_up_number=request.follow_up_number,
    ).strip()


@cache
def _wording(purpose: TemplatePurpose) -> JinjaTemplate:
    name = purpose.value if purpose.value in _WORDED_PURPOSES else "generic"
    return environment().from_string(_source(f"{name}.j2"))


@lru_cache(maxsize=1)
def email_frame() -> JinjaTemplate:
    """The greeting and sign-off around built-in wording when no template fits."""
    return environment().from_string(_source("email.j2"))


def _source(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
