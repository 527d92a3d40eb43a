"""Every customer in their own language (issue 10): no email in a language other than theirs, whoever
writes it; a language the organisation does not answer in, or cannot write, goes to a person."""

from __future__ import annotations

import pytest
import yaml

from agent_graph.brain.base import ComposeRequest
from agent_graph.brain.offline import OfflineBrain
from agent_graph.catalog import Catalog, parse_catalog
from agent_graph.composing import written_in
from agent_graph.context import Context
from agent_graph.domain import Action
from agent_graph.errors import WrongLanguageError
from agent_graph.runner import CaseAgent
from agent_graph.template_engine import RenderedEmail
from tests.conftest import CATALOG_YAML, email

SPANISH = ("Hola, quiero devolver la bicicleta que compré la semana pasada porque me queda demasiado grande. "
           "¿Cómo lo hago?")
ENGLISH_WORDS = ("Thank you for getting in touch with us about your return. We will look into it and come back to you "
                 "as soon as we can, usually within two working days.")


def answering(*languages: str) -> Catalog:
    data = yaml.safe_load(CATALOG_YAML)
    data["languages"] = list(languages)
    return parse_catalog(data, "tidewater.yaml")


@pytest.mark.parametrize("level", ["full", "confirm", "disabled"])
def test_a_language_the_catalog_does_not_answer_in_goes_to_a_person_under_every_level(make_agent, store, level):
    result = make_agent(shop=level).process_email(email(SPANISH, subject="Devolución"))
    assert result.outcome.action is Action.ROUTE_TO_REP
    assert "'es'" in result.outcome.note and "does not answer in" in result.outcome.note
    assert store.outbox(result.case_id) == []


def test_a_language_answered_but_without_templates_goes_to_a_person_with_the_offline_engine(store, clock):
    agent = CaseAgent(Context(catalog=answering("en", "es"), store=store, clock=clock))
    result = agent.process_email(email(SPANISH, subject="Devolución"))
    assert result.outcome.action is Action.ROUTE_TO_REP
    assert "in 'es'" in result.outcome.note and "writes only in en" in result.outcome.note
    assert store.outbox(result.case_id) == []


class ClaimsEveryLanguage(OfflineBrain):
    """A brain that says it writes any language but answers in English: the code guard must hold."""

    writes_languages = None

    def compose(self, request: ComposeRequest) -> str:
        return ENGLISH_WORDS


def test_a_draft_in_another_language_than_the_customers_is_never_stored(store, clock):
    agent = CaseAgent(Context(catalog=answering("en", "es"), store=store, clock=clock,
                              brain_engine=ClaimsEveryLanguage()))
    result = agent.process_email(email(SPANISH, subject="Devolución"))
    assert result.outcome.action is Action.ROUTE_TO_REP
    assert "reads as 'en'" in result.outcome.note
    assert store.outbox(result.case_id) == []


def test_the_last_check_reads_the_body():
    english = RenderedEmail(subject="Re: [CAS-1]", body=f"Hello Robin,\n\n{ENGLISH_WORDS}\n", template_id="generic")
    assert written_in(english, "en") is english
    with pytest.raises(WrongLanguageError, match="'es' reads as 'en' \\(template 'generic'\\)"):
        written_in(english, "es")
