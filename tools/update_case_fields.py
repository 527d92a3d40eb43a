"""update_case_fields: set a case's intent and write validated attribute values with provenance; edit_field:
a representative sets one."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent_graph.brain.extractors.normalising import normalise_value
from agent_graph.brain.types import ExtractedValue
from agent_graph.catalog import Attribute, AttributeType, Catalog, Intent
from agent_graph.context import Services
from agent_graph.domain import Actor
from agent_graph.errors import PolicyViolation
from agent_graph.interactions import InteractionKind, NewInteraction, log_interaction, person
from agent_graph.store import Case, CaseField, CaseStore


class UpdateCaseFieldsArgs(BaseModel):
    case_id: int
    intent_id: str | None = Field(default=None, description="set the case's intent (only while it has none)")
    intent_confidence: float | None = None
    intent_rival: str | None = Field(default=None, description="the best-ranked intent the same values would "
                                                                "resolve too (Catalog.rivals)")
    intent_margin: float | None = Field(default=None, description="intent_confidence minus intent_rival's")
    replaces_intent: bool = Field(default=False, description="the customer raised another request in reply to "
                                                             "a resolution: intent_id replaces the case's intent")
    values: list[ExtractedValue] = Field(default_factory=list)
    message_pk: int | None = Field(default=None, description="the email the values came from")


class Rejected(BaseModel):
    name: str
    value: str
    reason: str


class UpdateCaseFieldsResult(BaseModel):
    written: list[str] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)


def update_case_fields(env: Services, args: UpdateCaseFieldsArgs) -> UpdateCaseFieldsResult:
    """Values that fail their attribute's type or pattern are rejected, never stored. Before the
    case has an intent, only :func:`attributes_before_intent` may be written.

    Free-text values only fill an empty field (a later "thanks!" must not replace the reason
    a customer gave); typed values replace an older value. A value a representative set
    (:func:`edit_field`) is never replaced, unless the catalog says ``agent_may_override_human_edits``.
    """
    now = env.clock.now()
    case = env.store.case(args.case_id)
    if args.intent_id is not None and args.intent_id != case.intent:
        _set_intent(env, case.id, args)
        case = env.store.case(args.case_id)
    intent = env.catalog.intent(case.intent)
    if intent is not None:
        attributes, holder = intent.attributes, f"intent '{intent.id}'"
    else:
        scope = lob_before_intent(env.store, env.catalog, case)
        attributes = attributes_before_intent(env.catalog, scope)
        holder = f"a case of '{scope}' without intent" if scope else "a case without intent"
    by_name = {a.name: a for a in attributes}
    result = UpdateCaseFieldsResult()
    current = env.store.current_fields(case.id)
    accepted: list[ExtractedValue] = []
    for value in args.values:
        attribute = by_name.get(value.name)
        if attribute is None:
            result.rejected.append(Rejected(name=value.name, value=value.value,
                                            reason=f"{holder} has no attribute '{value.name}'"))
            continue
        normalised = normalise_value(attribute, value.value, now=now, region=env.catalog.default_region)
        if normalised is None:
            result.rejected.append(Rejected(name=value.name, value=value.value,
                                            reason=f"not a valid {attribute.type.value}"
                                            + (f" matching {attribute.pattern}" if attribute.pattern else "")))
            continue
        existing = current.get(value.name)
        if existing is not None and existing.set_by and not env.catalog.agent_may_override_human_edits:
            if existing.value != normalised:
                result.rejected.append(Rejected(name=value.name, value=value.value,
                                                reason=f"set by a representative ({existing.set_by}); the catalog "
                                                       f"does not let the agent override it"))
            continue
        if existing is not None and (existing.value == normalised or attribute.type is AttributeType.TEXT):
            continue
        accepted.append(value.model_copy(update={"value": normalised}))
    env.store.write_fields(case.id, accepted, args.message_pk, now)
    result.written = [v.name for v in accepted]
    return result


class EditFieldArgs(BaseModel):
    case_id: int
    name: str = Field(min_length=1, max_length=64)
    value: str = Field(min_length=1, max_length=4000)
    person: str = Field(min_length=1, max_length=200, description="the representative who sets it")


def edit_field(env: Services, args: EditFieldArgs) -> CaseField:
    """A representative sets a case field (the CLI's ``case-agent field`` and the console): validated as the
    agent's values are, written with the person as its provenance, and recorded. Any attribute of the case's
    intent, or before an intent, of its line of business's intents."""
    case = env.store.case(args.case_id)
    intent = env.catalog.intent(case.intent)
    attributes = intent.attributes if intent else [a for i in _lob_intents(env.catalog, case.lob) for a in i.attributes]
    attribute = next((a for a in attributes if a.name == args.name), None)
    if attribute is None:
        names = sorted({a.name for a in attributes})
        raise PolicyViolation(f"case {case.number} has no field '{args.name}'; its fields are: "
                              f"{', '.join(names) or 'none (no intent, no attributes)'}")
    normalised = normalise_value(attribute, args.value, now=env.clock.now(), region=env.catalog.default_region)
    if normalised is None:
        raise PolicyViolation(f"{args.value!r} is not a valid {attribute.type.value} for '{attribute.name}'"
                              + (f" (pattern {attribute.pattern})" if attribute.pattern else ""))
    before = env.store.current_fields(case.id).get(attribute.name)
    who = person(env, args.person)
    env.store.write_fields(case.id, [ExtractedValue(name=attribute.name, value=normalised, span="",
                                                    extractor="representative", confidence=1.0)],
                           None, env.clock.now(), set_by=who)
    log_interaction(env, NewInteraction(kind=InteractionKind.FIELD_EDITED, case_id=case.id, actor=Actor.REPRESENTATIVE,
                                        actor_name=args.person, summary=f"{attribute.name} = {normalised}"
                                        + (f" (was {before.value})" if before else ""),
                                        detail={"name": attribute.name, "value": normalised,
                                                "before": before.value if before else None}))
    return env.store.current_fields(case.id)[attribute.name]


def _lob_intents(catalog: Catalog, lob_id: str) -> list[Intent]:
    lob = catalog.lob(lob_id)
    return lob.intents if lob else []


def attributes_before_intent(catalog: Catalog, lob_id: str | None) -> list[Attribute]:
    """The attributes a case may hold before its intent is known: those of the intents of LOB
    ``lob_id``, or of every LOB's intents when ``lob_id`` is None (see :func:`lob_before_intent`).

    A name used by several intents is one attribute when they define it alike (type, pattern,
    values); defined differently, it belongs to none of them until the intent tells which.
    Free text and booleans are never among them: they are read from what the customer says
    about the request, which means nothing before the request is known.
    """
    lob = catalog.lob(lob_id)
    intents = catalog.intents() if lob_id is None else lob.intents if lob else []
    by_name: dict[str, list[Attribute]] = {}
    for intent in intents:
        for attribute in intent.attributes:
            by_name.setdefault(attribute.name, []).append(attribute)
    return [
        versions[0] for versions in by_name.values()
        if versions[0].type not in (AttributeType.TEXT, AttributeType.BOOLEAN)
        and len({(a.type, a.pattern, tuple(a.values or ())) for a in versions}) == 1
    ]


def lob_before_intent(store: CaseStore, catalog: Catalog, case: Case) -> str | None:
    """Whose attributes a case without intent may hold: its LOB's when the customer's first email was
    sent to that LOB's own address; else (mail to the general mailbox, whose case is only parked in
    the first LOB) None, every LOB's."""
    first = next(iter(store.customer_messages(case.id)), None)
    addresses = first.to_addresses.split(",") if first is not None else []
    lob = catalog.lob_by_address(addresses)
    return lob.id if lob is not None and lob.id == case.lob else None


def _set_intent(env: Services, case_id: int, args: UpdateCaseFieldsArgs) -> None:
    case = env.store.case(case_id)
    if case.intent is not None and not args.replaces_intent:
        raise PolicyViolation(f"case {case.number} already has intent '{case.intent}'; it is not changed")
    assert args.intent_id is not None
    lob = env.catalog.lob_of_intent(args.intent_id)
    if lob is None:
        raise PolicyViolation(f"'{args.intent_id}' is not an intent of the catalog")
    env.store.update_case(case_id, env.clock.now(), intent=args.intent_id, intent_confidence=args.intent_confidence,
                          intent_rival=args.intent_rival, intent_margin=args.intent_margin, lob=lob.id)
