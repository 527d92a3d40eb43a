"""The built-in wording: what the agent writes when no template of the catalog fits, or when a
template wraps the drafter's ``message`` (the ``*.j2`` files of this package).

Drafting uses it for every brain; the offline engine's ``compose`` is this wording.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from jinja2 import Template as JinjaTemplate

from agent_graph.brain.base import ComposeRequest
from agent_graph.catalog import TemplatePurpose
from agent_graph.errors import WrongLanguageError
from agent_graph.template_engine import environment, missing_details

BUILT_IN_WORDING_LANGUAGES = frozenset({"en"})
"""The languages the files here are written in (ISO 639-1)."""

_WORDED_PURPOSES = frozenset({"request_info", "resolution", "follow_up"})


def built_in_wording(request: ComposeRequest) -> str:
    """The wording for a purpose; an information request's names every missing attribute.
    WrongLanguageError when the request's language is not one it is written in."""
    if request.language is not None and request.language not in BUILT_IN_WORDING_LANGUAGES:
        raise WrongLanguageError(f"the built-in wording is not written in '{request.language}'")
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


FRAMED_LANGUAGES = frozenset({"en", "es", "de", "fr", "pt", "it", "nl"})
"""The languages of the greeting and sign-off (``email.j2``, ``email.<language>.j2``): a language
model's free draft in one of them is framed in it; in another, it cannot be sent."""


@cache
def email_frame(language: str = "en") -> JinjaTemplate:
    """The greeting and sign-off around a message when no template fits, in ``language``
    (one of :data:`FRAMED_LANGUAGES`)."""
    if language not in FRAMED_LANGUAGES:
        raise WrongLanguageError(f"no greeting and sign-off are written in '{language}'")
    return environment().from_string(_source("email.j2" if language == "en" else f"email.{language}.j2"))


def _source(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
