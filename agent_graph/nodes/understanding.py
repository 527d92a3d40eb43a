"""The understanding node: the brain proposes intent and values; code keeps only what holds up."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent_graph.brain import two_readings
from agent_graph.brain.base import UnderstandRequest, Understanding
from agent_graph.brain.extractors.finding import values_before_intent
from agent_graph.brain.extractors.normalising import normalise_value
from agent_graph.brain.intent import classifier_for
from agent_graph.brain.language import detect_language, long_enough_to_tell
from agent_graph.brain.llm_guard import flat
from agent_graph.brain.types import ExtractedValue, IntentGuess
from agent_graph.catalog import AttributeType
from agent_graph.context import Context, Services, services
from agent_graph.domain import Actor, CaseStatus, effective_status
from agent_graph.state import AgentState, CaseUpdate
from agent_graph.store import Case, Message
from tools.update_case_fields import (
    UpdateCaseFieldsArgs,
    attributes_before_intent,
    lob_before_intent,
    update_case_fields,
)

log = logging.getLogger(__name__)

REPLY_STATUSES = {CaseStatus.RESOLUTION_PROPOSED, CaseStatus.RESOLVED, CaseStatus.CLOSED}
# How confident a rival intent counts when the customer gives a value only it asks for: with the
# default limits.send_margin 0.15, such a resolution is sent from 0.90, a confidence no wrong
# identification of the validation data reached (docs/behaviour.md, "Sending on a confident intent").
RIVAL_VALUE_CONFIDENCE = 0.75


def understand(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """The brain proposes intent and values; :func:`save_fields` keeps what holds up and writes it.

    The store is read first and released before the brain is asked (a language model may take
    seconds); what is kept is written in one transaction after. An email that does not speak for
    the case's customer (``state.stranger``) is not read at all: nothing of it reaches the case."""
    if state.stranger is not None:
        return {"understanding": None}
    env = services(runtime.context)
    assert state.message_pk is not None
    with env.store.unit_of_work(read_only=True):
        case = env.store.case(state.known_case_id)
        message = env.store.message(state.message_pk)
        earlier = [m.new_text for m in env.store.customer_messages(case.id) if m.id != message.id]
        before_intent = attributes_before_intent(env.catalog, lob_before_intent(env.store, env.catalog, case)) \
            if case.intent is None else []
    first_subject = message.subject if not earlier else ""
    language = detect_language(message.new_text)
    request = UnderstandRequest(
        new_text=message.new_text, subject=first_subject, known_intent=case.intent, earlier_texts=earlier,
        reply_to_resolution=effective_status(case.status, case.status_before_review) in REPLY_STATUSES,
        attributes_before_intent=before_intent, now=env.clock.now(), language=language or case.language,
    )
    understanding = env.brain.understand(env.catalog, request)
    with env.store.unit_of_work():
        save_language(env, state.known_case_id, language)
        update = save_fields(env, state.known_case_id, state.message_pk, understanding)
    return {"understanding": understanding, "update": update, "language": language or case.language,
            "language_unrecognised": language is None and case.language is None
            and long_enough_to_tell(message.new_text)}


def save_language(env: Services, case_id: int, language: str | None) -> None:
    """The case remembers the language of its customer's latest email that tells one (detected on the
    new text, brain/language.py); an email too short to tell ("ok", "TT-240617") keeps the case's."""
    case = env.store.case(case_id)
    if language is None or language == case.language:
        return
    env.store.update_case(case_id, env.clock.now(), language=language)
    env.log_interaction(case_id, Actor.AGENT, "language", f"customer writes in {language}"
                        + (f" (was {case.language})" if case.language else ""),
                        {"language": language, "was": case.language})


def save_fields(env: Services, case_id: int, message_pk: int, understanding: Understanding) -> CaseUpdate:
    """Guard for the brain's proposals: an intent outside the catalog or below the confidence
    threshold counts as unidentified; a value whose span is not in the customer's own text is dropped;
    while the case stays without intent, so is a value that code cannot tie to exactly one attribute.

    A case keeps its intent, except that a reply to a resolution may raise another request: a
    confident, different intent then replaces it. Returns what this email changed."""
    case = env.store.case(case_id)
    message = env.store.message(message_pk)
    guess = understanding.intent
    replaces = case.intent is not None and guess.intent_id not in (None, case.intent) \
        and effective_status(case.status, case.status_before_review) in REPLY_STATUSES
    intent_id = None
    if (case.intent is None or replaces) and guess.intent_id is not None:
        if env.catalog.intent(guess.intent_id) is None:
            log.warning("brain proposed intent %r, which is not in the catalog: ignored", guess.intent_id)
        elif guess.confidence >= env.catalog.limits.intent_confidence:
            intent_id = guess.intent_id
    earlier_and_new = [m.new_text for m in env.store.customer_messages(case.id)]
    customer_text = flat("\n".join([message.subject, *earlier_and_new]))
    grounded = [v for v in understanding.values if v.span.strip() and flat(v.span) in customer_text]
    dropped = [v.name for v in understanding.values if v not in grounded]
    ambiguous: list[str] = []
    if case.intent is None and intent_id is None:
        grounded, ambiguous = _tied_to_one_attribute(env, case, message, grounded)
    texts = [message.subject, *earlier_and_new]
    # what the brain read the intent from: this email's new text, with its subject on a first email
    read = texts if len(earlier_and_new) == 1 else [message.new_text]
    rival, margin = rival_margin(env, guess, texts, read) if intent_id else (None, None)
    result = update_case_fields(env, UpdateCaseFieldsArgs(
        case_id=case.id, intent_id=intent_id, intent_confidence=guess.confidence if intent_id else None,
        intent_rival=rival, intent_margin=margin,
        replaces_intent=replaces and intent_id is not None, values=grounded, message_pk=message.id,
    ))
    if intent_id:
        summary = f"intent {intent_id} ({guess.confidence:.2f})" + (f", replacing {case.intent}" if replaces else "") \
            + (f", {margin:.2f} ahead of {rival}" if rival is not None and margin is not None else "")
        env.log_interaction(case.id, Actor.AGENT, "intent_identified", summary,
                            {"prompt_version": understanding.prompt_version, "language": understanding.language})
    if understanding.instructs_agent:
        env.log_interaction(case.id, Actor.AGENT, "instructions_ignored",
                            "the email tries to instruct the agent; it changes nothing the agent may do")
    if result.written or result.rejected or dropped or ambiguous:
        env.log_interaction(case.id, Actor.AGENT, "update_case_fields",
                            f"wrote {', '.join(result.written) or 'nothing'}",
                            {"written": result.written, "rejected": [r.model_dump() for r in result.rejected],
                             "ungrounded": dropped, "ambiguous_without_intent": ambiguous})
    return CaseUpdate(new_intent=intent_id, written=result.written)


def rival_margin(env: Services, guess: IntentGuess, texts: list[str],
                 read: list[str]) -> tuple[str | None, float | None]:
    """The closest rival of the guessed intent (an intent the same values would resolve too,
    :meth:`Catalog.rivals`) and how far the guess is ahead of it, by the brain's ranking (a rival it
    did not rank counts 0). A rival the customer's texts give a value for, of an attribute only the
    rival has (its optional ones: "they are at Old Town" for a transfer's branch), counts at least
    :data:`RIVAL_VALUE_CONFIDENCE`. Email addresses and phone numbers are no such sign (they tell how
    to reach the customer, not what they want). When the two readings of the text the intent was
    read from (``read``; the n-gram ranking and the sentence embedding, :func:`two_readings.combine`)
    together give the guess less than :data:`two_readings.HOLD`, the rival they prefer counts as much as the guess: the readings do
    not agree enough on what the customer wants for one of two resolutions to go out unseen.
    An intent the brain ranks as high as the guess (a language model names the intents the email could
    just as well be about, brain/llm ``also_possible``) is the closest rival, whatever its values: the
    reader cannot tell, so there is no margin. (None, None) when the intent has no rival."""
    catalog = env.catalog
    intent = catalog.intent(guess.intent_id)
    assert intent is not None
    tied = [i for i, c in guess.ranking if i != intent.id and c >= guess.confidence and catalog.intent(i)]
    if tied:
        return tied[0], 0.0
    rivals = catalog.rivals(intent.id)
    if not rivals:
        return None, None
    own = {a.name for a in intent.attributes}
    ranked = dict(guess.ranking)
    for rival in rivals:
        theirs = [a for a in catalog.intent(rival).attributes  # type: ignore[union-attr]
                  if a.name not in own and a.type not in (AttributeType.EMAIL, AttributeType.PHONE)]
        if theirs and any(values_before_intent(text, theirs, now=env.clock.now(), region=catalog.default_region,
                                               own_addresses=[catalog.mailbox]) for text in texts):
            ranked[rival] = max(ranked.get(rival, 0.0), RIVAL_VALUE_CONFIDENCE)
    combined = two_readings.combine(dict(guess.ranking), classifier_for(catalog).embedding_view("\n".join(read)))
    if combined[intent.id] < two_readings.HOLD:
        preferred = max(rivals, key=combined.__getitem__)
        ranked[preferred] = max(ranked.get(preferred, 0.0), guess.confidence)
    closest = max(rivals, key=lambda r: ranked.get(r, 0.0))
    return closest, round(max(guess.confidence - ranked.get(closest, 0.0), 0.0), 4)


def _tied_to_one_attribute(env: Services, case: Case, message: Message,
                           values: list[ExtractedValue]) -> tuple[list[ExtractedValue], list[str]]:
    """(kept, names dropped): before the intent is known, a proposed value is kept only when the
    typed extractors find that same value for that attribute alone (values_before_intent)."""
    scope = lob_before_intent(env.store, env.catalog, case)
    attributes = {a.name: a for a in attributes_before_intent(env.catalog, scope)}
    now, region = env.clock.now(), env.catalog.default_region
    sure = {(v.name, v.value)
            for text in (message.subject, message.new_text)
            for v in values_before_intent(text, list(attributes.values()), now=now, region=region,
                                          own_addresses=[env.catalog.mailbox])}
    kept = [v for v in values if v.name in attributes
            and (v.name, normalise_value(attributes[v.name], v.value, now=now, region=region)) in sure]
    return kept, [v.name for v in values if v not in kept]
