"""Recorded interactions: the typed API, the review path recording each decision, the draft as proposed
and as sent, feedback, and a catalog that records nothing personal. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_graph.brain.offline import OfflineBrain
from agent_graph.clock import FixedClock
from agent_graph.context import Context, services
from agent_graph.domain import Actor, Outbound, OutboxStatus
from agent_graph.errors import CaseAgentError, PolicyViolation
from agent_graph.handoff import HandoffFacts
from agent_graph.interactions import (
    InteractionKind,
    InteractionQuery,
    NewInteraction,
    catalog_version,
    edit_size,
    feedback,
    find,
    log_interaction,
)
from agent_graph.service import CaseAgent
from agent_graph.timeline import latest_handoff
from tests.conftest import T0, email
from tools.send_email import disclosure, with_disclosure
from tools.update_case_fields import EditFieldArgs, edit_field

pytestmark = pytest.mark.both_databases


def _services(catalog, store, clock):
    return services(Context(catalog=catalog, store=store, clock=clock))


def test_recorded_interaction_reads_back_typed_and_stamped(catalog, store, clock):
    env = _services(catalog, store, clock)
    log_interaction(env, NewInteraction(kind=InteractionKind.FEEDBACK, case_id=None, actor=Actor.REPRESENTATIVE,
                                        actor_name="dana", summary="not useful", useful=False, comment="wrong order",
                                        reason_code="wrong_intent"))
    (row,) = find(store, InteractionQuery(kinds=[InteractionKind.FEEDBACK]))
    assert (row.kind, row.actor, row.actor_name, row.useful, row.comment, row.reason_code) == (
        "feedback", "representative", "dana", False, "wrong order", "wrong_intent")
    assert row.at == T0 and row.catalog_version == catalog_version(catalog) and row.prompt_version is None
    assert find(store, InteractionQuery(since=T0 + timedelta(seconds=1))) == []
    assert find(store, InteractionQuery(kinds=[InteractionKind.ROUTED])) == []


def test_nothing_recorded_when_the_catalog_keeps_nothing_personal(catalog, store):
    env = _services(catalog.model_copy(update={"record_interactions": False}), store, FixedClock(T0))
    log_interaction(env, NewInteraction(kind=InteractionKind.FEEDBACK, case_id=None, actor=Actor.REPRESENTATIVE,
                                        actor_name="dana", useful=True))
    assert find(store) == []


def test_reason_code_is_an_identifier(db_url):
    with pytest.raises(ValueError, match="reason_code"):
        NewInteraction(kind=InteractionKind.DRAFT_IGNORED, case_id=1, actor=Actor.REPRESENTATIVE,
                       reason_code="Wrong Intent!")


def test_catalog_version_follows_the_content(catalog, db_url):
    assert catalog_version(catalog) == catalog_version(catalog.model_copy())
    assert catalog_version(catalog) != catalog_version(catalog.model_copy(update={"organisation": "Other"}))


@pytest.mark.parametrize(("before", "after", "size"), [
    ("same", "same", 0), ("Hello Robin", "Hello Robin!", 1), ("abc", "xyz", 6), ("", "new", 3)])
def test_edit_size_counts_characters_inserted_and_deleted(before, after, size, db_url):
    assert edit_size(before, after) == size


REPAIR = "Hello, my brakes squeak terribly. Could I bring my bike in for a repair on 10 March 2026? Thanks, Robin"


@pytest.fixture
def pending(make_agent, store, clock):
    agent = make_agent()
    result = agent.process_email(email(REPAIR, subject="Brake repair"))
    assert result.outcome.outbound is Outbound.DRAFTED
    clock.set(T0 + timedelta(minutes=30))  # the representative answers half an hour later
    return agent, result.case_id


def _kinds(store, case_id):
    return [i.kind for i in store.interactions(case_id) if i.kind in set(InteractionKind)]


def test_an_edited_draft_keeps_the_proposal_and_records_who_how_much_and_how_long(pending, store, catalog):
    agent, case_id = pending
    proposed = store.outbox(case_id)[-1]
    agent.answer_review(case_id, [{"type": "edit", "reviewer": "dana", "useful": True, "comment": "tone",
                                   "args": {"args": {"subject": proposed.subject,
                                                     "body": proposed.body + "\nSee you soon."}}}])
    sent = store.outbox(case_id)[-1]
    assert (sent.status, sent.proposed_subject, sent.proposed_body) == (OutboxStatus.SENT, proposed.subject,
                                                                        proposed.body)
    assert sent.body == proposed.body + "\nSee you soon."
    assert _kinds(store, case_id) == ["draft_proposed", "draft_edited", "draft_sent"]
    drafted, decided, _ = [i for i in store.interactions(case_id) if i.kind in set(InteractionKind)]
    assert (drafted.actor, drafted.outbox_id, drafted.template_id) == ("agent", sent.id, sent.template_id)
    assert (decided.actor, decided.actor_name, decided.edit_size, decided.decision_seconds) == (
        "representative", "dana", len("\nSee you soon."), 1800.0)
    assert (decided.useful, decided.comment, decided.catalog_version) == (True, "tone", catalog_version(catalog))


def test_an_accepted_draft_has_no_edit_and_a_proposal_equal_to_what_was_sent(pending, store):
    agent, case_id = pending
    agent.answer_review(case_id, {"type": "accept", "args": None})
    (decided,) = [i for i in store.interactions(case_id) if i.kind == InteractionKind.DRAFT_ACCEPTED]
    assert (decided.edit_size, decided.actor_name, decided.decision_seconds) == (0, None, 1800.0)
    assert store.outbox(case_id)[-1].proposed_body is None  # as proposed


def test_an_ignored_draft_records_the_reason_code(pending, store):
    agent, case_id = pending
    agent.answer_review(case_id, [{"type": "ignore", "args": None, "reviewer": "lee", "reason_code": "wrong_intent",
                                   "useful": False}])
    (decided,) = [i for i in store.interactions(case_id) if i.kind == InteractionKind.DRAFT_IGNORED]
    assert (decided.reason_code, decided.useful, decided.actor_name) == ("wrong_intent", False, "lee")
    assert "routed" in _kinds(store, case_id)


def test_a_catalog_that_records_nothing_personal_keeps_only_what_the_case_needs(catalog, store, clock):
    quiet = catalog.model_copy(update={"record_interactions": False})
    agent = CaseAgent(Context(catalog=quiet, store=store, clock=clock))
    case_id = agent.process_email(email(REPAIR, subject="Brake repair")).case_id
    agent.answer_review(case_id, [{"type": "edit", "reviewer": "dana", "args": {"args": {"body": "Booked."}}}])
    sent = store.outbox(case_id)[-1]
    assert (sent.status, sent.body, sent.proposed_body) == (OutboxStatus.SENT, "Booked.", None)
    assert _kinds(store, case_id) == []


def test_the_disclosure_is_appended_once_by_the_sending_tool(catalog, store, clock):
    told = catalog.model_copy(update={"disclosure": {"en": "This reply was drafted with the help of AI.",
                                                     "es": "Esta respuesta se redactó con ayuda de IA."}})
    agent = CaseAgent(Context(catalog=told, store=store, clock=clock))
    result = agent.process_email(email("I want to return the bike I bought, it is too big. Order TB-1234.",
                                       subject="Return"))
    (sent,) = [m for m in store.messages(result.case_id) if m.direction == "outbound"]
    assert sent.body_text.rstrip().endswith("This reply was drafted with the help of AI.")
    assert sent.body_text.count("drafted with the help of AI") == 1
    assert "help of AI" in store.outbox(result.case_id)[-1].body  # the outbox keeps what went out
    assert with_disclosure("Hi\n\nThis reply was drafted with the help of AI.\n",
                           "This reply was drafted with the help of AI.").count("AI") == 1
    assert disclosure(told, "es").startswith("Esta") and disclosure(told, "fr").startswith("This")


def test_a_routed_case_carries_a_hand_off_summary_from_the_facts(pending, store):
    agent, case_id = pending
    agent.answer_review(case_id, [{"type": "response", "args": "Call him instead, he is a VIP.", "reviewer": "lee"}])
    (routed,) = find(store, InteractionQuery(case_id=case_id, kinds=[InteractionKind.ROUTED]))
    handoff = routed.detail["handoff"]
    assert handoff["worded_by"] == "offline"
    assert handoff["facts"]["wants"].startswith("Repair booking (repair_booking)")
    assert handoff["facts"]["known"]["preferred_date"] == "2026-03-10"
    assert handoff["facts"]["tried"] == ["1 draft(s) discarded by a representative"]
    assert "VIP" in handoff["facts"]["why"] and "Routed because: representative feedback" in handoff["text"]


class _WordingBrain(OfflineBrain):
    def __init__(self, fail: bool = False):
        super().__init__()
        self.fail = fail

    def word_handoff(self, facts: HandoffFacts) -> str:
        if self.fail:
            raise CaseAgentError("the model is down")
        return f"{facts.case_number}: wants {facts.wants.split(' (')[0]}; {facts.why}"


@pytest.mark.parametrize("fail", [False, True])
def test_a_brain_that_can_words_the_hand_off_and_a_failing_one_falls_back(catalog, store, clock, fail):
    agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock, brain_engine=_WordingBrain(fail)))
    case_id = agent.process_email(email(REPAIR, subject="Brake repair")).case_id
    agent.answer_review(case_id, [{"type": "ignore", "args": None}])
    (routed,) = find(store, InteractionQuery(case_id=case_id, kinds=[InteractionKind.ROUTED]))
    handoff = routed.detail["handoff"]
    if fail:
        assert handoff["worded_by"] == "offline" and handoff["text"].startswith("Customer wants: Repair booking")
        assert handoff["fallback"] == "the model is down"
    else:
        assert handoff == {**handoff, "worded_by": "_WordingBrain",
                           "text": "CAS-000001: wants Repair booking; the representative discarded the draft"}
    shown = latest_handoff(store, case_id)
    assert shown is not None and shown.provenance == (
        "worded offline: the brain's words were not used (the model is down)" if fail else "worded by _WordingBrain")


def test_a_field_a_person_set_is_kept_from_the_agent_unless_the_catalog_allows(catalog, store, clock):
    for allowed in (False, True):
        shop = catalog.model_copy(update={"agent_may_override_human_edits": allowed})
        agent = CaseAgent(Context(catalog=shop, store=store, clock=clock))
        env = agent.env
        first = agent.process_email(email("I want to return the bike I bought, it is too big. Order TB-1234.",
                                          subject="Return", n=10 * allowed + 1,
                                          sender=f"Robin Vale <robin{int(allowed)}@example.net>"))
        edited = edit_field(env, EditFieldArgs(case_id=first.case_id, name="order_ref", value="TB-9999", person="dana"))
        assert (edited.value, edited.set_by, edited.extractor) == ("TB-9999", "dana", "representative")
        agent.process_email(email("Sorry, the order is TB-5555.", subject="Re: Return", n=10 * allowed + 2,
                                  sender=f"Robin Vale <robin{int(allowed)}@example.net>",
                                  in_reply_to=f"m{10 * allowed + 1}@customer.example"))
        current = store.current_fields(first.case_id)["order_ref"]
        assert current.value == ("TB-5555" if allowed else "TB-9999")
        (noted,) = find(store, InteractionQuery(case_id=first.case_id, kinds=[InteractionKind.FIELD_EDITED]))
        assert (noted.actor_name, noted.summary) == ("dana", "order_ref = TB-9999 (was TB-1234)")


def test_a_person_edit_is_validated_and_names_the_fields(make_agent, store):
    agent = make_agent()
    case_id = agent.process_email(email("I want to return the bike I bought. Order TB-1234.", subject="Return")).case_id
    with pytest.raises(PolicyViolation, match="not a valid string for 'order_ref' \\(pattern"):
        edit_field(agent.env, EditFieldArgs(case_id=case_id, name="order_ref", value="12", person="dana"))
    with pytest.raises(PolicyViolation, match="no field 'colour'; its fields are: order_ref, reason"):
        edit_field(agent.env, EditFieldArgs(case_id=case_id, name="colour", value="red", person="dana"))


def test_an_unnamed_person_when_the_catalog_records_nothing_personal(catalog, store, clock):
    agent = CaseAgent(Context(catalog=catalog.model_copy(update={"record_interactions": False}), store=store,
                              clock=clock))
    case_id = agent.process_email(email("I want to return the bike I bought. Order TB-1234.", subject="Return")).case_id
    edited = edit_field(agent.env, EditFieldArgs(case_id=case_id, name="order_ref", value="TB-4321", person="dana"))
    assert edited.set_by == "representative" and find(store) == []


def test_a_malformed_answer_leaves_the_draft_waiting_for_a_good_one(pending, store):
    agent, case_id = pending
    with pytest.raises(ValueError, match="reason_code"):
        agent.answer_review(case_id, [{"type": "ignore", "args": None, "reason_code": "Not Needed"}])
    assert agent.pending_review(case_id) is not None
    agent.answer_review(case_id, [{"type": "ignore", "args": None, "reason_code": "not_needed"}])
    assert store.outbox(case_id)[-1].status == OutboxStatus.DISCARDED


def test_feedback_on_a_suggestion_is_recorded_with_its_draft(pending, store, catalog, clock):
    agent, case_id = pending
    item = store.outbox(case_id)[-1]
    feedback(agent.env, store.case(case_id), "dana", useful=False, comment="asks for the date again",
             reason_code="redundant_question", outbox_id=item.id)
    (noted,) = find(store, InteractionQuery(case_id=case_id, kinds=[InteractionKind.FEEDBACK]))
    assert (noted.actor_name, noted.useful, noted.reason_code, noted.outbox_id, noted.summary) == (
        "dana", False, "redundant_question", item.id, "not useful: asks for the date again")
