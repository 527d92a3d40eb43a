"""The language-model brain: the brain interface on a chat model.

One structured call per inbound email (``understand``), only where no template fits or a
template wraps ``message`` one call to word an email (``compose``), and one call to word the
hand-off summary of a routed case (``word_handoff``). The model proposes; code disposes
(``llm_guard.py``, then the graph's own guards).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from agent_graph.brain.base import Brain, ComposeRequest, UnderstandRequest, Understanding, writes
from agent_graph.brain.llm.prompts import Prompts, draft_messages, handoff_messages, load_prompts, understand_messages
from agent_graph.brain.llm.retries import ModelStepError, invoke_with_retries
from agent_graph.brain.llm.schema import (
    DRAFT_SCHEMA,
    DRAFT_SCHEMA_NAME,
    HANDOFF_SCHEMA,
    HANDOFF_SCHEMA_NAME,
    REPLY_KINDS,
    UNDERSTAND_SCHEMA_NAME,
    ModelDraft,
    ModelHandoff,
    ModelUnderstanding,
    no_intent_id,
    understanding_schema,
    validated,
)
from agent_graph.brain.llm.settings import LLMSettings, StructuredMethod, build_chat_model
from agent_graph.brain.llm.usage import ModelCall, ModelUsage, usage_of
from agent_graph.brain.llm_guard import (
    UngroundedDraftError,
    UnusableHandoffError,
    compose_sources,
    handoff_problems,
    reconcile_reply,
    span_in_texts,
    supported_value,
    ungrounded_details,
)
from agent_graph.brain.replies import asks_for_person
from agent_graph.brain.types import ExtractedValue, IntentGuess, ReplyKind
from agent_graph.catalog import Attribute, AutomationLevel, Catalog
from agent_graph.errors import WrongLanguageError
from agent_graph.handoff import HandoffFacts
from agent_graph.intake.message import is_first_subject

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

log = logging.getLogger(__name__)

class LLMBrain:
    """The brain interface on a chat model. Safe to share between threads."""

    name = "llm"
    writes_languages: frozenset[str] | None = None  # the model writes the language asked for

    def __init__(self, settings: LLMSettings | None = None, *, fallback: Brain | None = None,
                 chat_model: BaseChatModel | None = None, prompts: Prompts | None = None,
                 sleep: Callable[[float], None] = time.sleep, history: int = 1000):
        """``chat_model`` replaces the client built from the settings (tests); ``sleep`` is used
        between retries. Nothing touches the network until the first call."""
        self.settings = settings or LLMSettings.from_environment()
        if fallback is None:
            from agent_graph.brain.offline import OfflineBrain

            fallback = OfflineBrain()
        self.fallback = fallback
        self.prompts = prompts or load_prompts()
        self.prompt_version = self.prompts.version
        self.usage = ModelUsage()
        self.calls = 0
        self.recent: deque[ModelCall] = deque(maxlen=history)
        self._chat_model = chat_model
        self._runnables: dict[str, Runnable[Any, Any]] = {}
        self._sleep = sleep
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, **overrides: Any) -> LLMBrain:
        return cls(LLMSettings.from_environment(**overrides))

    def __repr__(self) -> str:
        return f"LLMBrain({self.settings.describe()}, prompts {self.prompt_version})"

    # --- the interface -----------------------------------------------------------------------

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        messages = understand_messages(self.prompts, catalog, request)
        try:
            answer = self._ask("understand", UNDERSTAND_SCHEMA_NAME, understanding_schema(catalog), messages,
                               ModelUnderstanding)
        except ModelStepError as exc:
            log.warning("understand: the model gave no usable answer (%s); the offline engine reads this email", exc)
            return self.fallback.understand(catalog, request)
        assert isinstance(answer, ModelUnderstanding)
        return self._dispose(catalog, request, answer)

    def compose(self, request: ComposeRequest) -> str:
        messages = draft_messages(self.prompts, request)
        try:
            answer = self._ask("compose", DRAFT_SCHEMA_NAME, DRAFT_SCHEMA, messages, ModelDraft)
        except ModelStepError as exc:
            if not writes(self.fallback, request.language):
                raise WrongLanguageError(f"the model gave no usable answer ({exc}) and the {self.fallback.name} "
                                         f"engine does not write in '{request.language}'") from exc
            log.warning("compose: the model gave no usable answer (%s); the built-in wording is used", exc)
            return self.fallback.compose(request)
        assert isinstance(answer, ModelDraft)
        written_in = answer.language.strip().lower()[:2]
        if request.language and written_in and written_in != request.language:
            raise WrongLanguageError(f"the model wrote in '{written_in}', not in the customer's language "
                                     f"'{request.language}'")
        details = ungrounded_details(answer.body, compose_sources(request))
        if details:
            with self._lock:
                self.usage.held_drafts += 1
            error = UngroundedDraftError(details, answer.body)
            log.warning("compose: %s", error)
            raise error
        return answer.body

    def word_handoff(self, facts: HandoffFacts) -> str:
        """The hand-off summary in the model's words. Raises :class:`ModelStepError` when the model
        gives no usable answer, :class:`UnusableHandoffError` when code will not show its words;
        ``handoff_summary`` then uses the offline words, and logs and records why."""
        answer = self._ask("handoff", HANDOFF_SCHEMA_NAME, HANDOFF_SCHEMA, handoff_messages(self.prompts, facts),
                           ModelHandoff)
        assert isinstance(answer, ModelHandoff)
        problems = handoff_problems(answer.summary, facts)
        if problems:
            with self._lock:
                self.usage.refused_handoffs += 1
            raise UnusableHandoffError(problems)
        return answer.summary

    # --- one model call ----------------------------------------------------------------------

    def _model(self) -> BaseChatModel:
        with self._lock:
            if self._chat_model is None:
                log.info("language-model brain: %s, prompts %s", self.settings.describe(), self.prompt_version)
                self._chat_model = build_chat_model(self.settings)
            return self._chat_model

    def _runnable(self, schema_name: str, schema: dict[str, Any]) -> Runnable[Any, Any]:
        key = f"{schema_name}:{json.dumps(schema, sort_keys=True)}"
        with self._lock:
            cached = self._runnables.get(key)
        if cached is not None:
            return cached
        model = self._model()
        if self.settings.structured_method is StructuredMethod.JSON_SCHEMA:
            runnable = model.with_structured_output({"name": schema_name, "schema": schema, "strict": True},
                                                    method="json_schema", include_raw=True)
        else:
            tool = {"type": "function", "function": {"name": schema_name, "description": f"report the {schema_name}",
                                                     "parameters": schema}}
            runnable = model.with_structured_output(tool, method="function_calling", include_raw=True, strict=True)
        with self._lock:
            self._runnables[key] = runnable
        return runnable

    def _ask(self, step: Literal["understand", "compose", "handoff"], schema_name: str, schema: dict[str, Any],
             messages: list[Any], output: type[BaseModel]) -> BaseModel:
        """One model call with retries; a validated answer, or ModelStepError after recording why."""
        runnable = self._runnable(schema_name, schema)
        call = ModelCall(step=step, prompt_version=self.prompt_version, outcome="ok", attempts=0)
        started = time.perf_counter()
        try:
            result = invoke_with_retries(runnable, messages, call, self.settings, self._sleep)
            prompt, completion, cached = usage_of(result.get("raw"))
            call.prompt_tokens, call.completion_tokens, call.cached_prompt_tokens = prompt, completion, cached
            return validated(result, output)
        except ModelStepError as exc:
            call.outcome, call.reason = "fallback", exc.reason
            raise
        finally:
            call.latency_seconds = time.perf_counter() - started
            with self._lock:
                self.usage.add(call)
                self.calls = self.usage.calls
                self.recent.append(call)

    # --- code disposes -----------------------------------------------------------------------

    def _dispose(self, catalog: Catalog, request: UnderstandRequest, answer: ModelUnderstanding) -> Understanding:
        proposed = None if answer.intent.strip() in ("", no_intent_id(catalog)) else answer.intent.strip()
        ranking = [(proposed, answer.confidence), *self._alternatives(catalog, proposed, answer)] if proposed else []
        if request.known_intent is not None:
            guess = IntentGuess(intent_id=request.known_intent, confidence=1.0, ranking=ranking)
        else:
            # An id outside the catalog is passed on as proposed: save_fields makes it unidentified.
            guess = IntentGuess(intent_id=proposed, confidence=answer.confidence, ranking=ranking)
            if proposed is not None and catalog.intent(proposed) is None:
                log.warning("the model proposed intent %r, which is not in the catalog", proposed)
        guess = self._cross_checked(catalog, request, guess, answer.instructs_agent)
        intent = catalog.intent(guess.intent_id)
        attributes = intent.attributes if intent is not None else request.attributes_before_intent
        values = self._grounded_values(catalog, request, attributes, answer)
        reply = ReplyKind.OTHER
        if request.reply_to_resolution:
            reply = reconcile_reply(REPLY_KINDS.get(answer.reply_kind, ReplyKind.OTHER), request.new_text,
                                    request.language)
        if answer.instructs_agent:
            with self._lock:
                self.usage.injection_flags += 1
            log.warning("the customer's email tries to instruct the agent; it changes nothing (prompts %s)",
                        self.prompt_version)
        return Understanding.model_validate({
            "intent": guess, "values": values, "reply_kind": reply,
            "asks_for_person": answer.asks_for_person or asks_for_person(request.new_text, request.language),
            "language": answer.language or None, "instructs_agent": answer.instructs_agent,
            "prompt_version": self.prompt_version,
        })

    @staticmethod
    def _alternatives(catalog: Catalog, proposed: str, answer: ModelUnderstanding) -> list[tuple[str, float]]:
        """The other catalog intents the model says the email could just as well be about, each ranked
        as sure as the proposed one: to the decision path any of them leaves the proposed intent no
        margin, so under ``full`` its resolution is drafted for review (nodes/understanding.py
        ``rival_margin``). The model can only make the agent more careful this way, never less."""
        named = dict.fromkeys(i.strip() for i in answer.also_possible)
        return [(i, answer.confidence) for i in named if i != proposed and catalog.intent(i) is not None]

    def _cross_checked(self, catalog: Catalog, request: UnderstandRequest, guess: IntentGuess,
                       instructed: bool) -> IntentGuess:
        """The intent picks the line of business, and so how much the agent may do alone: a model
        must not move a case past review by naming another intent. When the offline classifier
        confidently reads a different intent, the two readers contradict each other and the intent
        whose line of business is more supervised wins (disabled, then confirm, then full; the
        offline reading on a tie). When the email tries to instruct the agent, only the offline
        reading is taken."""
        if request.known_intent is not None or guess.intent_id is None or catalog.intent(guess.intent_id) is None:
            return guess
        if not (self.settings.cross_check_intent or instructed):
            return guess
        offline = offline_intent(catalog, request)
        if offline.intent_id == guess.intent_id:
            return guess
        ranking = [*guess.ranking, *((i, c) for i, c in offline.ranking[:2] if i != guess.intent_id)]
        chosen = IntentGuess(intent_id=offline.intent_id, confidence=offline.confidence, ranking=ranking)
        if instructed:
            log.warning("the email tries to instruct the agent: the offline intent %r is used, not the model's %r",
                        offline.intent_id, guess.intent_id)
            return chosen
        if offline.intent_id is None:
            return guess
        with self._lock:
            self.usage.contradicted_intents += 1
        if _supervision(catalog, guess.intent_id) > _supervision(catalog, offline.intent_id):
            chosen = IntentGuess(intent_id=guess.intent_id, confidence=guess.confidence, ranking=ranking)
        log.warning("the model's intent %r contradicts the offline classifier's %r (%.2f): %r is taken",
                    guess.intent_id, offline.intent_id, offline.confidence, chosen.intent_id)
        return chosen

    def _grounded_values(self, catalog: Catalog, request: UnderstandRequest, attributes: list[Attribute],
                         answer: ModelUnderstanding) -> list[ExtractedValue]:
        """The model's values for these attributes (the intent's, or those a case without intent
        may hold) that its quoted spans support, at most one per attribute."""
        by_name = {a.name: a for a in attributes}
        texts = [request.new_text]
        if request.known_intent is None:
            texts += request.earlier_texts
            if is_first_subject(request.subject):
                texts.append(request.subject)
        kept: dict[str, ExtractedValue] = {}
        dropped: list[str] = []
        for item in answer.values:
            attribute = by_name.get(item.name)
            if attribute is None or item.name in kept:
                dropped.append(f"{item.name} (not an attribute asked for, or given twice)")
                continue
            if not span_in_texts(item.span, texts):
                dropped.append(f"{item.name} (span not in the customer's text)")
                continue
            value = supported_value(attribute, item.value, item.span, now=request.now, region=catalog.default_region)
            if value is None:
                dropped.append(f"{item.name} (value {item.value!r} is not what its span {item.span!r} says, "
                               f"or not a valid {attribute.type.value})")
                continue
            kept[item.name] = ExtractedValue(name=item.name, value=value, span=item.span,
                                             extractor=f"llm:{self.prompt_version}", confidence=answer.confidence)
        if dropped:
            with self._lock:
                self.usage.dropped_values += len(dropped)
            log.info("dropped model values: %s", "; ".join(dropped))
        return list(kept.values())


SUPERVISION = {AutomationLevel.FULL: 0, AutomationLevel.CONFIRM: 1, AutomationLevel.DISABLED: 2}


def _supervision(catalog: Catalog, intent_id: str | None) -> int:
    """How closely people watch the intent's line of business (the catalog's level)."""
    lob = catalog.lob_of_intent(intent_id) if intent_id else None
    return SUPERVISION[lob.automation] if lob else 0


def offline_intent(catalog: Catalog, request: UnderstandRequest) -> IntentGuess:
    """The offline classifier's reading of an email, as the offline engine makes it."""
    from agent_graph.brain.intent import classifier_for

    classifier = classifier_for(catalog)
    subject = request.subject.strip()
    guess = classifier.predict(f"{subject}\n\n{request.new_text}" if is_first_subject(subject) else request.new_text)
    if guess.intent_id is None and request.earlier_texts:
        guess = classifier.predict("\n".join([*request.earlier_texts, request.new_text]))
    return guess


@lru_cache(maxsize=8)
def shared_brain(settings: LLMSettings) -> LLMBrain:
    """One brain per settings per process, so a worker's counters and clients are shared by every
    node of every run (``context.make_brain`` is called per node when no brain is injected)."""
    return LLMBrain(settings)
