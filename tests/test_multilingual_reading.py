"""Reading customers in Spanish, German and French (issue 10): replies to a proposed resolution in the
case's language, dates with their month names, and the English reading left as it was."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent_graph.brain.extractors.finding import extract_values
from agent_graph.brain.extractors.normalising import normalise_value
from agent_graph.brain.replies import asks_for_person, classify_reply
from agent_graph.brain.types import ReplyKind
from agent_graph.catalog import Attribute

ACCEPTS, NEEDS_HELP, OTHER = ReplyKind.ACCEPTS, ReplyKind.NEEDS_HELP, ReplyKind.OTHER

REPLIES = [
    ("es", "¡Perfecto, muchas gracias!", ACCEPTS),
    ("es", "Ya me ha llegado el reembolso, gracias.", ACCEPTS),
    ("es", "Muchas gracias.\nUn saludo,\nLucía", ACCEPTS),
    ("es", "Gracias, pero sigue sin funcionar.", NEEDS_HELP),
    ("es", "Todavía no he recibido nada.", NEEDS_HELP),
    ("es", "¿Y cuándo llega el dinero?", NEEDS_HELP),
    ("es", "Por cierto, mi dirección nueva es Calle Mayor 5.", OTHER),
    ("de", "Passt, vielen Dank!", ACCEPTS),
    ("de", "Das Geld ist heute angekommen, danke!", ACCEPTS),
    ("de", "Vielen Dank.\nViele Grüße\nJonas", ACCEPTS),
    ("de", "Danke, aber es funktioniert immer noch nicht.", NEEDS_HELP),
    ("de", "Ich habe noch keine Gutschrift erhalten.", NEEDS_HELP),
    ("de", "Wann kommt das Geld?", NEEDS_HELP),
    ("de", "Meine neue Adresse lautet Hauptstraße 3.", OTHER),
    ("fr", "Parfait, merci beaucoup !", ACCEPTS),
    ("fr", "Bien reçu, merci.", ACCEPTS),
    ("fr", "Merci beaucoup.\nCordialement,\nClaire", ACCEPTS),
    ("fr", "Merci, mais ça ne marche toujours pas.", NEEDS_HELP),
    ("fr", "Je n'ai toujours rien reçu.", NEEDS_HELP),
    ("fr", "Et quand serai-je remboursée ?", NEEDS_HELP),
    ("fr", "Ma nouvelle adresse est 3 rue des Lilas.", OTHER),
]


@pytest.mark.parametrize(("language", "text", "kind"), REPLIES)
def test_a_reply_is_read_in_the_cases_language(language, text, kind):
    assert classify_reply(text, language) is kind


@pytest.mark.parametrize(("language", "text"), [
    ("es", "Quiero hablar con una persona, por favor."),
    ("de", "Ich möchte bitte mit einem Mitarbeiter sprechen."),
    ("fr", "Je voudrais parler à un conseiller."),
])
def test_a_request_for_a_person_in_the_cases_language(language, text):
    assert asks_for_person(text, language)
    assert classify_reply(text, language) is NEEDS_HELP


def test_a_language_without_a_lexicon_is_neither():
    assert classify_reply("Obrigada, está tudo certo.", "pt") is OTHER


def test_english_is_read_as_before_whatever_the_language_given():
    assert classify_reply("Thanks, that works!", "en") is classify_reply("Thanks, that works!") is ACCEPTS


ORDERED = Attribute(name="order_date", type="date", description="The day you placed the order")


@pytest.mark.parametrize(("text", "iso"), [
    ("Lo pedí el 3 de marzo de 2026.", "2026-03-03"),
    ("Bestellt habe ich am 28. Februar.", "2026-02-28"),
    ("Commande passée le 1er mars", "2026-03-01"),
    ("ordinato il 12 febbraio 2026", "2026-02-12"),
    ("encomenda de 5 de fevereiro", "2026-02-05"),
    ("besteld op 3 maart", "2026-03-03"),
])
def test_dates_with_month_names_of_other_languages(text, iso):
    found = extract_values(text, [ORDERED], now=datetime(2026, 3, 4, 10, 0), region="ES")
    assert [v.value for v in found] == [iso]


@pytest.mark.parametrize(("raw", "value"), [("Sí", "true"), ("ja", "true"), ("Oui.", "true"), ("nein", "false"),
                                            ("Non", "false"), ("não", "false"), ("nee", "false")])
def test_yes_and_no_in_other_languages(raw, value):
    assert normalise_value(Attribute(name="has_receipt", type="boolean"), raw) == value
