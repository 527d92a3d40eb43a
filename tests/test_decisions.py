"""The decision rows for an unclear reply to a proposed resolution, sending only on a confident intent,
and information requests that always ask: the pure functions row by row, then end to end on a real
store and a fake clock with a ferry operator's catalog (tests/fixtures/ferries)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from agent_graph.brain.base import ComposeRequest, Understanding
from agent_graph.brain.offline import OfflineBrain
from agent_graph.brain.types import IntentGuess, ReplyKind
from agent_graph.catalog import AutomationLevel, Catalog, Limits, load_catalog
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.domain import Action, CaseStatus, Outbound, OutboxStatus
from agent_graph.nodes.decision import decide_for_email
from agent_graph.nodes.guard import permitted_plan
from agent_graph.service import CaseAgent
from agent_graph.state import CaseUpdate, Delivery, Proposal
from agent_graph.store import Case, CaseStore
from agent_graph.templates import templates_that_do_not_ask
from tests.conftest import REPO, T0, thread_email

FERRIES = REPO / "tests/fixtures/ferries/catalog.yaml"
PASSENGER = "Ines Moreau <ines.moreau@example.org>"


@pytest.fixture
def ferries() -> Catalog:
    return load_catalog(FERRIES)


def a_case(**values: object) -> Case:
    base = Case(id=1, number="CAS-000001", title="Ferry", status=CaseStatus.RESOLUTION_PROPOSED,
                status_before_review=None, lob="sailings", intent="change_sailing", intent_confidence=0.97,
                customer_email="ines.moreau@example.org", customer_name="Ines Moreau", queue=None,
                routed_reason=None, info_requests=0, follow_ups=0, last_outbound_at=T0, last_inbound_at=T0,
                created_at=T0, updated_at=T0)
    return replace(base, **values)


def understood(reply: ReplyKind = ReplyKind.OTHER, asks_for_person: bool = False) -> Understanding:
    return Understanding(intent=IntentGuess(intent_id="change_sailing", confidence=1.0), reply_kind=reply,
                         asks_for_person=asks_for_person)


BOTH_FIELDS = {"booking_code", "new_date"}


@pytest.mark.parametrize("reply,update,fields,intent,action,reason", [
    (ReplyKind.OTHER, CaseUpdate(), BOTH_FIELDS, "change_sailing", Action.ROUTE_TO_REP, "reply not understood"),
    (ReplyKind.OTHER, CaseUpdate(written=["booking_code"]), BOTH_FIELDS, "change_sailing",
     Action.SEND_RESOLUTION, "every required attribute"),
    (ReplyKind.OTHER, CaseUpdate(written=["note"]), BOTH_FIELDS, "change_sailing",
     Action.ROUTE_TO_REP, "reply not understood"),   # free text is taken from chatter too
    (ReplyKind.OTHER, CaseUpdate(new_intent="cancel_booking"), {"booking_code"}, "cancel_booking",
     Action.SEND_RESOLUTION, "every required attribute of cancel_booking"),
    (ReplyKind.OTHER, CaseUpdate(new_intent="change_sailing"), {"booking_code"}, "change_sailing",
     Action.REQUEST_INFO, "new_date"),
    (ReplyKind.ACCEPTS, CaseUpdate(written=["new_date"]), BOTH_FIELDS, "change_sailing", Action.RESOLVE_CASE, ""),
    (ReplyKind.NEEDS_HELP, CaseUpdate(), BOTH_FIELDS, "change_sailing", Action.ROUTE_TO_REP, "still needs help"),
])
def test_reply_to_a_proposed_resolution(ferries, reply, update, fields, intent, action, reason):
    proposal = decide_for_email(ferries, a_case(intent=intent), fields, understood(reply), update)
    assert proposal.action is action and reason in proposal.reason


def test_unclear_reply_to_a_drafted_resolution_awaiting_review_counts_as_a_reply_to_it(ferries):
    case = a_case(status=CaseStatus.PENDING_REVIEW, status_before_review=CaseStatus.RESOLUTION_PROPOSED)
    assert decide_for_email(ferries, case, BOTH_FIELDS, understood(), CaseUpdate()).action is Action.ROUTE_TO_REP


@pytest.mark.parametrize("status", [CaseStatus.AWAITING_CUSTOMER, CaseStatus.NEW, CaseStatus.RESOLVED])
def test_a_reply_that_changes_nothing_elsewhere_is_decided_as_before(ferries, status):
    proposal = decide_for_email(ferries, a_case(status=status), BOTH_FIELDS, understood(), CaseUpdate())
    assert proposal.action is Action.SEND_RESOLUTION


def test_asking_for_a_person_keeps_its_own_reason(ferries):
    proposal = decide_for_email(ferries, a_case(), BOTH_FIELDS, understood(asks_for_person=True), CaseUpdate())
    assert (proposal.action, proposal.reason) == (Action.ROUTE_TO_REP, "the customer asked for a person")


RESOLUTION = Proposal(action=Action.SEND_RESOLUTION, reason="every required attribute is known")
ASK = Proposal(action=Action.REQUEST_INFO, missing=["new_date"], reason="missing")


@pytest.mark.parametrize("proposal,level,confidence,delivery,held", [
    (RESOLUTION, AutomationLevel.FULL, 0.95, Delivery.SEND, False),
    (RESOLUTION, AutomationLevel.FULL, 0.70, Delivery.SEND, False),   # exactly the limit is enough
    (RESOLUTION, AutomationLevel.FULL, 0.69, Delivery.REVIEW, True),
    (RESOLUTION, AutomationLevel.FULL, None, Delivery.REVIEW, True),
    (RESOLUTION, AutomationLevel.CONFIRM, 0.55, Delivery.REVIEW, False),
    (ASK, AutomationLevel.FULL, 0.55, Delivery.SEND, False),           # asking sends nothing irreversible
])
def test_send_confidence_holds_unsure_resolutions_under_full(proposal, level, confidence, delivery, held):
    plan = permitted_plan(proposal, a_case(intent_confidence=confidence), level, Limits(send_confidence=0.7))
    assert plan is not None and plan.action is proposal.action
    assert (plan.delivery, plan.held_for_review) == (delivery, held)
    assert ("limits.send_confidence 0.70" in plan.reason) is held


def test_send_confidence_leaves_disabled_lines_routed():
    plan = permitted_plan(RESOLUTION, a_case(intent_confidence=0.1), AutomationLevel.DISABLED, Limits())
    assert plan is not None and plan.action is Action.ROUTE_TO_REP and not plan.held_for_review


def test_the_rivals_of_an_intent_are_those_its_values_would_resolve_too(ferries):
    assert ferries.rivals("change_sailing") == ["cancel_booking"]  # booking_code is all a cancellation needs
    assert ferries.rivals("cancel_booking") == []                  # a cancellation does not give a new date


@pytest.mark.parametrize("level,margin,delivery,held", [
    (AutomationLevel.FULL, 0.1, Delivery.REVIEW, True),
    (AutomationLevel.FULL, 0.2, Delivery.SEND, False),
    (AutomationLevel.FULL, None, Delivery.SEND, False),   # no rival
    (AutomationLevel.CONFIRM, 0.1, Delivery.REVIEW, False),
])
def test_send_margin_holds_a_resolution_barely_ahead_of_a_rival_under_full(level, margin, delivery, held):
    case = a_case(intent_confidence=0.95, intent_rival="cancel_booking", intent_margin=margin)
    plan = permitted_plan(RESOLUTION, case, level, Limits(send_margin=0.15))
    assert plan is not None and (plan.delivery, plan.held_for_review) == (delivery, held)
    if held:
        assert "only 0.10 ahead of cancel_booking" in plan.reason and "limits.send_margin 0.15" in plan.reason


# --- end to end ---------------------------------------------------------------------------------

class Passenger:
    """Writes to the ferry operator and answers its last email, on one store and clock."""

    def __init__(self, catalog: Catalog, store: CaseStore, clock: FixedClock, tag: str = "p"):
        self.agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock))
        self.store, self.clock, self.tag, self.sent = store, clock, tag, 0
        self.case_id: int | None = None

    def writes(self, body: str, subject: str = "Ferry booking"):  # type: ignore[no-untyped-def]
        self.sent += 1
        self.clock.advance(timedelta(hours=1))
        last = self.store.last_message(self.case_id) if self.case_id else None
        raw = thread_email(body, subject=subject, sender=PASSENGER, to="help@marlow-ferries.example",
                           message_id=f"{self.tag}{self.sent}@example.org", at=self.clock.now(), last=last)
        result = self.agent.process_email(raw)
        self.case_id = result.case_id
        return result

    def last_email(self):  # type: ignore[no-untyped-def]
        return self.store.outbox(self.case_id)[-1]


@pytest.fixture
def passenger(ferries, store, clock) -> Passenger:
    return Passenger(ferries, store, clock)


MOVE = "Please move my crossing MF4821 to 12 June 2026, something came up at work."


def test_an_unclear_reply_to_a_resolution_goes_to_a_representative_not_the_same_email_again(passenger, store):
    assert passenger.writes(MOVE).outcome.action is Action.SEND_RESOLUTION
    result = passenger.writes("Hmm, let me check with my husband how this fits with the hotel.")
    assert result.outcome.action is Action.ROUTE_TO_REP and result.outcome.outbound is Outbound.NONE
    case = store.case(passenger.case_id)
    assert (case.status, case.queue, case.routed_reason) == (CaseStatus.WITH_REPRESENTATIVE, "sailings-desk",
                                                             "reply not understood")
    assert [i.action for i in store.outbox(case.id)] == [Action.SEND_RESOLUTION]


@pytest.mark.parametrize("correction", [
    "Small correction: the booking code is MF4410, not the one I wrote before.",
    "Sorry, wrong number - it is MF4410.",
    "My bad, I typed the wrong code: it should be MF4410, not MF4821.",
])
def test_a_corrected_value_in_reply_to_a_resolution_is_decided_again(passenger, store, correction):
    passenger.writes(MOVE)
    result = passenger.writes(correction)
    assert result.outcome.action is Action.SEND_RESOLUTION and result.outcome.outbound is Outbound.SENT
    assert "MF4410" in passenger.last_email().body
    assert store.case(passenger.case_id).status == CaseStatus.RESOLUTION_PROPOSED


def test_another_request_in_reply_to_a_resolution_replaces_the_intent(passenger, store):
    passenger.writes(MOVE)
    result = passenger.writes("Our plans have fallen through, we can no longer travel. "
                              "Please cancel the booking altogether.")
    case = store.case(passenger.case_id)
    assert case.intent == "cancel_booking" and result.outcome.action is Action.SEND_RESOLUTION
    assert "MF4821 is cancelled" in passenger.last_email().body


@pytest.mark.parametrize("question", [
    "Thanks. Could you cancel the booking altogether please? My mother is unwell so we will stay home.",
    "Is it possible to cancel the crossing altogether? Plans have fallen through.",
    "how do I cancel the whole booking, we're not going after all",
])
def test_a_question_raising_another_request_in_reply_to_a_resolution_is_decided_for_it(passenger, store, question):
    """An open question is a call for help, unless it is another request of the catalog: then the case
    is decided again for that request (the booking code already on the case), not routed."""
    passenger.writes(MOVE)
    result = passenger.writes(question)
    assert store.case(passenger.case_id).intent == "cancel_booking"
    assert result.outcome.action is Action.SEND_RESOLUTION and result.outcome.outbound is Outbound.SENT
    assert "MF4821 is cancelled" in passenger.last_email().body


@pytest.mark.parametrize("question", [
    "Will I be charged for moving it to the 12th?",
    "Thanks - what time does that sailing leave?",
    "Can I bring my dog on board?",
])
def test_a_question_about_the_same_request_or_nothing_of_the_catalog_still_goes_to_a_person(passenger, store,
                                                                                             question):
    passenger.writes(MOVE)
    result = passenger.writes(question)
    case = store.case(passenger.case_id)
    assert (case.intent, result.outcome.action, case.status) == ("change_sailing", Action.ROUTE_TO_REP,
                                                                 CaseStatus.WITH_REPRESENTATIVE)


def test_an_unsure_intent_under_full_is_drafted_with_the_reason_for_the_reviewer(ferries, store, clock):
    strict = ferries.model_copy(update={"limits": ferries.limits.model_copy(update={"send_confidence": 0.999})})
    passenger = Passenger(strict, store, clock)
    result = passenger.writes(MOVE)
    assert result.outcome.action is Action.SEND_RESOLUTION and result.outcome.outbound is Outbound.DRAFTED
    assert result.outcome.held_for_review
    assert store.case(passenger.case_id).status == CaseStatus.PENDING_REVIEW
    assert "below limits.send_confidence 1.00" in result.pending_review["description"]
    assert [i.status for i in store.outbox(passenger.case_id)] == [OutboxStatus.PENDING_REVIEW]


def test_the_identification_not_the_last_email_decides_whether_a_resolution_is_sent(ferries, store, clock):
    """The intent is identified on the first email; the reply only supplies the date. The resolution
    rests on that first identification: its confidence decides, and the reply changes nothing to it."""
    first = Passenger(ferries, store, clock)
    first.writes("I need to change the date of my ferry booking MF4821, something came up.")
    confidence = store.case(first.case_id).intent_confidence
    assert confidence is not None and confidence < 1.0
    just_above = ferries.model_copy(update={"limits": ferries.limits.model_copy(
        update={"send_confidence": confidence + 0.001})})
    held = Passenger(just_above, store, clock, tag="held")
    held.writes("I need to change the date of my ferry booking MF4821, something came up.")
    assert held.writes("We would like to sail on 12 June 2026 instead.").outcome.held_for_review
    assert first.writes("We would like to sail on 12 June 2026 instead.").outcome.outbound is Outbound.SENT


def test_an_information_request_from_a_template_that_does_not_ask_names_what_is_missing(passenger):
    result = passenger.writes("I need to change the date of my ferry booking, something came up.")
    assert result.outcome.action is Action.REQUEST_INFO
    body = passenger.last_email().body
    assert "booking code" in body and "the day they want to sail instead" in body
    assert "We will be in touch" not in body


def test_a_follow_up_of_a_case_awaiting_the_customer_names_what_is_still_missing(passenger, clock):
    passenger.writes("Hello, I need to change the date of my ferry booking MF4821.")
    clock.advance(timedelta(days=3))
    [result] = passenger.agent.tick()
    assert result.outcome.action is Action.FOLLOW_UP and result.outcome.outbound is Outbound.SENT
    body = passenger.last_email().body
    assert "new date" in body and "booking code" not in body


def test_check_catalog_warns_about_templates_that_cannot_ask(ferries):
    warnings = templates_that_do_not_ask(ferries)
    assert len(warnings) == 2
    assert any("'sailings_ask' is used for request_info" in w for w in warnings)
    assert any("'plain_note' is used for follow_up" in w for w in warnings)
    assert templates_that_do_not_ask(load_catalog(REPO / "examples/catalog.yaml")) == []


class VagueBrain(OfflineBrain):
    """A brain (as a language model might) that words an information request without naming anything."""

    def compose(self, request: ComposeRequest) -> str:
        return "Thank you, we are looking into your request."


def test_a_worded_request_that_names_nothing_is_replaced_by_the_built_in_wording(catalog, store, clock):
    from tests.conftest import email

    agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock, brain_engine=VagueBrain()))
    result = agent.process_email(email("Hi, I want to return the bike I bought, it is too big for me.",
                                       subject="Return"))
    assert result.outcome.action is Action.REQUEST_INFO and result.outcome.outbound is Outbound.SENT
    item = store.outbox(result.case_id)[-1]
    assert "order reference" in item.body and "looking into your request" not in item.body
    assert item.template_id is None
