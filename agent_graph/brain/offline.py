"""The offline engine: a deterministic brain with no network and no key.

Intent by a text classifier fitted on the catalog, attribute values by typed extractors,
reply classification by rules, and wording from built-in templates.
"""

from __future__ import annotations

from agent_graph.brain.base import ComposeRequest, UnderstandRequest, Understanding
from agent_graph.brain.extractors import extract_values, values_before_intent
from agent_graph.brain.intent import classifier_for
from agent_graph.brain.replies import ReplyReading, asks_for_person, read_reply
from agent_graph.brain.types import ExtractedValue, IntentGuess, ReplyKind
from agent_graph.catalog import Attribute, AttributeType, Catalog
from agent_graph.intake.message import is_first_subject
from agent_graph.wording import BUILT_IN_WORDING_LANGUAGES, built_in_wording


class OfflineBrain:
    name = "offline"
    writes_languages: frozenset[str] | None = BUILT_IN_WORDING_LANGUAGES

    def __init__(self) -> None:
        self.calls = 0

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        self.calls += 1
        reading = read_reply(request.new_text, request.language) if request.reply_to_resolution \
            else ReplyReading(ReplyKind.OTHER)
        guess = self._intent(catalog, request, reading)
        reply_kind = reading.kind
        if reading.requests_only and guess.intent_id != request.known_intent:
            reply_kind = ReplyKind.OTHER  # the request is another one of the catalog: decided again for it
        values: list[ExtractedValue] = []
        intent = catalog.intent(guess.intent_id)
        if intent is not None:
            newly_identified = request.known_intent is None
            texts = [*request.earlier_texts] if newly_identified else []
            texts.append(request.new_text)
            found: dict[str, ExtractedValue] = {}
            for text in texts:
                found.update(self._values(catalog, text, intent.attributes, request))
            typed = [a for a in intent.attributes if a.type is not AttributeType.TEXT and a.name not in found]
            if typed and is_first_subject(request.subject):
                found.update(self._values(catalog, request.subject, typed, request))
            values = list(found.values())
        elif request.attributes_before_intent:
            values = self._values_before_intent(catalog, request)
        return Understanding(intent=guess, values=values, reply_kind=reply_kind,
                             asks_for_person=asks_for_person(request.new_text, request.language))

    @staticmethod
    def _values(catalog: Catalog, text: str, attributes: list[Attribute],
                request: UnderstandRequest) -> dict[str, ExtractedValue]:
        found = extract_values(text, attributes, now=request.now, region=catalog.default_region,
                               own_addresses=[catalog.mailbox])
        return {value.name: value for value in found}

    @staticmethod
    def _values_before_intent(catalog: Catalog, request: UnderstandRequest) -> list[ExtractedValue]:
        """Values the unidentified email already carries, kept for when the intent becomes known."""
        texts = [request.subject] if is_first_subject(request.subject) else []
        found: dict[str, ExtractedValue] = {}
        for text in [*texts, request.new_text]:
            found.update((v.name, v) for v in values_before_intent(
                text, request.attributes_before_intent, now=request.now, region=catalog.default_region,
                own_addresses=[catalog.mailbox]))
        return list(found.values())

    @staticmethod
    def _intent(catalog: Catalog, request: UnderstandRequest, reading: ReplyReading) -> IntentGuess:
        """The case's intent once known; a reply to a resolution that is neither an acceptance nor a
        call for help, or whose only call for help is a request put as a question, is read afresh, since
        it may raise another request ("Could you also add my wife as a driver?")."""
        classifier = classifier_for(catalog)
        if request.known_intent is not None:
            if request.reply_to_resolution and (reading.kind is ReplyKind.OTHER or reading.requests_only):
                fresh = classifier.predict(request.new_text)
                if fresh.intent_id not in (None, request.known_intent):
                    return fresh
            return IntentGuess(intent_id=request.known_intent, confidence=1.0)
        guess = classifier.predict(_with_subject(request.subject, request.new_text))
        if guess.intent_id is None and request.earlier_texts:
            guess = classifier.predict("\n".join([*request.earlier_texts, request.new_text]))
        return guess

    def compose(self, request: ComposeRequest) -> str:
        return built_in_wording(request)


def _with_subject(subject: str, text: str) -> str:
    return f"{subject}\n\n{text}" if is_first_subject(subject) else text
