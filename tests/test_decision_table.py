"""docs/behaviour.md row by row, on the pure functions alone: the decision table
(``decide_for_email``), the guard (``permitted_plan``), the clock (``due_step``) and the graph's
routers. No brain and no classifier is involved, so a change to how emails are read cannot hide
a change to what is decided on them; each row's id names the rule it checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from langgraph.graph import END

from agent_graph.brain.base import Understanding
from agent_graph.brain.types import IntentGuess, ReplyKind
from agent_graph.catalog import AutomationLevel, Catalog, Limits
from agent_graph.domain import Action, CaseStatus
from agent_graph.graph import after_compose, after_ingest, after_review, carry_out
from agent_graph.nodes.decision import decide_for_email, due_step
from agent_graph.nodes.guard import permitted_plan
from agent_graph.state import AgentState, CaseUpdate, Delivery, Plan, Proposal, ReviewDecision, ReviewKind, Trigger
from agent_graph.store import Case
from tests.conftest import T0

S = CaseStatus
BOTH = {"order_ref", "reason"}  # the required attributes of return_bike (tests/conftest.py)


def a_case(status: CaseStatus = S.NEW, **values: object) -> Case:
    base = Case(id=1, number="CAS-000001", title="Return", status=status, status_before_review=None, lob="shop",
                intent="return_bike", intent_confidence=0.9, customer_email="robin@example.net",
                customer_name="Robin Vale", queue=None, routed_reason=None, info_requests=0, follow_ups=0,
                last_outbound_at=T0, last_inbound_at=T0 - timedelta(hours=1), created_at=T0, updated_at=T0)
    return replace(base, **values)


def understood(reply: ReplyKind = ReplyKind.OTHER, asks_for_person: bool = False) -> Understanding:
    return Understanding(intent=IntentGuess(intent_id="return_bike", confidence=0.9), reply_kind=reply,
                         asks_for_person=asks_for_person)


# --- 7. the decision table -----------------------------------------------------------------------
# (case status before the email, pending-review's own status, intent, fields known, reply kind,
#  asks for a person, what the email changed) -> (action, missing, a word of the reason)

NOTHING = CaseUpdate()
TYPED = CaseUpdate(written=["order_ref"])
FREE_TEXT = CaseUpdate(written=["reason"])
NEW_INTENT = CaseUpdate(new_intent="delivery_date")

DECISIONS = [
    # resolution_proposed
    ("proposed, accepts -> resolve", S.RESOLUTION_PROPOSED, None, "return_bike", BOTH, ReplyKind.ACCEPTS, False,
     NOTHING, Action.RESOLVE_CASE, [], "accepted"),
    ("proposed, needs help -> route", S.RESOLUTION_PROPOSED, None, "return_bike", BOTH, ReplyKind.NEEDS_HELP, False,
     NOTHING, Action.ROUTE_TO_REP, [], "still needs help"),
    ("proposed, neither and nothing changed -> route, not understood", S.RESOLUTION_PROPOSED, None, "return_bike",
     BOTH, ReplyKind.OTHER, False, NOTHING, Action.ROUTE_TO_REP, [], "reply not understood"),
    ("proposed, neither, only free text written -> not understood", S.RESOLUTION_PROPOSED, None, "return_bike",
     BOTH, ReplyKind.OTHER, False, FREE_TEXT, Action.ROUTE_TO_REP, [], "reply not understood"),
    ("proposed, neither, a typed value written -> decided again", S.RESOLUTION_PROPOSED, None, "return_bike",
     BOTH, ReplyKind.OTHER, False, TYPED, Action.SEND_RESOLUTION, [], "every required attribute"),
    ("proposed, neither, a new intent missing values -> request them", S.RESOLUTION_PROPOSED, None,
     "delivery_date", {"reason"}, ReplyKind.OTHER, False, NEW_INTENT, Action.REQUEST_INFO, ["order_ref"],
     "missing"),
    ("proposed, neither, asks for a person -> route", S.RESOLUTION_PROPOSED, None, "return_bike", BOTH,
     ReplyKind.OTHER, True, NOTHING, Action.ROUTE_TO_REP, [], "asked for a person"),
    ("proposed under review reads as proposed", S.PENDING_REVIEW, S.RESOLUTION_PROPOSED, "return_bike", BOTH,
     ReplyKind.ACCEPTS, False, NOTHING, Action.RESOLVE_CASE, [], "accepted"),
    # with_representative
    ("with a representative, any email -> update only", S.WITH_REPRESENTATIVE, None, "return_bike", set(),
     ReplyKind.OTHER, False, TYPED, Action.UPDATE_ONLY, [], "representative"),
    ("with a representative, even asking for a person", S.WITH_REPRESENTATIVE, None, "return_bike", BOTH,
     ReplyKind.NEEDS_HELP, True, NOTHING, Action.UPDATE_ONLY, [], "representative"),
    # any other status
    ("new, intent unidentified -> ask what they need", S.NEW, None, None, set(), ReplyKind.OTHER, False, NOTHING,
     Action.REQUEST_INFO, [], "could not be identified"),
    ("new, an intent not in the catalog -> ask what they need", S.NEW, None, "wire_refund", set(),
     ReplyKind.OTHER, False, NOTHING, Action.REQUEST_INFO, [], "could not be identified"),
    ("new, required attributes missing -> request exactly those", S.NEW, None, "return_bike", {"order_ref"},
     ReplyKind.OTHER, False, TYPED, Action.REQUEST_INFO, ["reason"], "missing: reason"),
    ("new, none given -> request both", S.NEW, None, "return_bike", set(), ReplyKind.OTHER, False, NOTHING,
     Action.REQUEST_INFO, ["order_ref", "reason"], "missing: order_ref, reason"),
    ("new, all present -> send the resolution", S.NEW, None, "return_bike", BOTH, ReplyKind.OTHER, False, NOTHING,
     Action.SEND_RESOLUTION, [], "every required attribute of return_bike"),
    ("new, asks for a person -> route", S.NEW, None, "return_bike", BOTH, ReplyKind.OTHER, True, NOTHING,
     Action.ROUTE_TO_REP, [], "asked for a person"),
    ("new, an acceptance decides nothing on its own", S.NEW, None, "return_bike", BOTH, ReplyKind.ACCEPTS, False,
     NOTHING, Action.SEND_RESOLUTION, [], "every required attribute"),
    ("awaiting the customer, values still missing", S.AWAITING_CUSTOMER, None, "return_bike", {"reason"},
     ReplyKind.OTHER, False, FREE_TEXT, Action.REQUEST_INFO, ["order_ref"], "missing: order_ref"),
    ("awaiting the customer, the last value given -> resolution", S.AWAITING_CUSTOMER, None, "return_bike", BOTH,
     ReplyKind.OTHER, False, TYPED, Action.SEND_RESOLUTION, [], "every required attribute"),
    ("awaiting, under review, reads as awaiting", S.PENDING_REVIEW, S.AWAITING_CUSTOMER, "return_bike", BOTH,
     ReplyKind.OTHER, False, TYPED, Action.SEND_RESOLUTION, [], "every required attribute"),
    # finished cases
    ("resolved, a thank-you -> update only", S.RESOLVED, None, "return_bike", BOTH, ReplyKind.ACCEPTS, False,
     NOTHING, Action.UPDATE_ONLY, [], "thank-you"),
    ("closed, a thank-you -> update only", S.CLOSED, None, "return_bike", BOTH, ReplyKind.ACCEPTS, False, NOTHING,
     Action.UPDATE_ONLY, [], "thank-you"),
    ("resolved, a new request is decided like any other", S.RESOLVED, None, "delivery_date", {"order_ref"},
     ReplyKind.OTHER, False, NEW_INTENT, Action.SEND_RESOLUTION, [], "every required attribute of delivery_date"),
    ("closed, needing help reopens: decided like any other", S.CLOSED, None, "return_bike", {"order_ref"},
     ReplyKind.NEEDS_HELP, False, NOTHING, Action.REQUEST_INFO, ["reason"], "missing: reason"),
]


@pytest.mark.parametrize("status,before_review,intent,fields,reply,person,update,action,missing,reason",
                         [row[1:] for row in DECISIONS], ids=[row[0] for row in DECISIONS])
def test_decision_table(catalog: Catalog, status, before_review, intent, fields, reply, person, update, action,
                        missing, reason):
    case = a_case(status, status_before_review=before_review, intent=intent)
    proposal = decide_for_email(catalog, case, set(fields), understood(reply, person), update)
    assert (proposal.action, proposal.missing) == (action, missing)
    assert reason in proposal.reason


def test_every_status_has_a_row():
    assert {row[1] for row in DECISIONS} == set(CaseStatus)


# --- 7-8. the guard: automation and limits ---------------------------------------------------------

LIMITS = Limits(max_info_requests=2, intent_confidence=0.5, send_confidence=0.55)
FULL, CONFIRM, DISABLED = AutomationLevel.FULL, AutomationLevel.CONFIRM, AutomationLevel.DISABLED

GUARD = [
    # (id, proposed action, automation, case values) -> (action, delivery, held for review, a word of the reason)
    ("full sends a resolution", Action.SEND_RESOLUTION, FULL, {}, Action.SEND_RESOLUTION, Delivery.SEND, False, ""),
    ("full sends an information request", Action.REQUEST_INFO, FULL, {}, Action.REQUEST_INFO, Delivery.SEND, False,
     ""),
    ("full sends a follow-up", Action.FOLLOW_UP, FULL, {}, Action.FOLLOW_UP, Delivery.SEND, False, ""),
    ("full holds a resolution on an unsure intent", Action.SEND_RESOLUTION, FULL, {"intent_confidence": 0.54},
     Action.SEND_RESOLUTION, Delivery.REVIEW, True, "below limits.send_confidence 0.55"),
    ("full sends at exactly send_confidence", Action.SEND_RESOLUTION, FULL, {"intent_confidence": 0.55},
     Action.SEND_RESOLUTION, Delivery.SEND, False, ""),
    ("no stored confidence counts as 0", Action.SEND_RESOLUTION, FULL, {"intent_confidence": None},
     Action.SEND_RESOLUTION, Delivery.REVIEW, True, "confidence 0.00"),
    ("an unsure intent does not hold an information request", Action.REQUEST_INFO, FULL,
     {"intent_confidence": 0.1}, Action.REQUEST_INFO, Delivery.SEND, False, ""),
    ("an unsure intent does not hold a follow-up", Action.FOLLOW_UP, FULL, {"intent_confidence": 0.1},
     Action.FOLLOW_UP, Delivery.SEND, False, ""),
    ("confirm drafts a resolution", Action.SEND_RESOLUTION, CONFIRM, {}, Action.SEND_RESOLUTION, Delivery.REVIEW,
     False, ""),
    ("confirm drafts an information request", Action.REQUEST_INFO, CONFIRM, {}, Action.REQUEST_INFO,
     Delivery.REVIEW, False, ""),
    ("confirm drafts a follow-up", Action.FOLLOW_UP, CONFIRM, {}, Action.FOLLOW_UP, Delivery.REVIEW, False, ""),
    ("confirm on an unsure intent drafts, not 'held'", Action.SEND_RESOLUTION, CONFIRM, {"intent_confidence": 0.1},
     Action.SEND_RESOLUTION, Delivery.REVIEW, False, ""),
    ("disabled routes a resolution", Action.SEND_RESOLUTION, DISABLED, {}, Action.ROUTE_TO_REP, Delivery.NONE,
     False, "automation is disabled"),
    ("disabled routes an information request", Action.REQUEST_INFO, DISABLED, {}, Action.ROUTE_TO_REP,
     Delivery.NONE, False, "automation is disabled"),
    ("the information-request limit routes", Action.REQUEST_INFO, FULL, {"info_requests": 2}, Action.ROUTE_TO_REP,
     Delivery.NONE, False, "2 information requests already sent (limit 2)"),
    ("under the limit asks again", Action.REQUEST_INFO, FULL, {"info_requests": 1}, Action.REQUEST_INFO,
     Delivery.SEND, False, ""),
    ("the limit routes under confirm too", Action.REQUEST_INFO, CONFIRM, {"info_requests": 3}, Action.ROUTE_TO_REP,
     Delivery.NONE, False, "limit 2"),
    ("the limit does not stop a resolution", Action.SEND_RESOLUTION, FULL, {"info_requests": 5},
     Action.SEND_RESOLUTION, Delivery.SEND, False, ""),
    ("resolving on acceptance needs no approval (confirm)", Action.RESOLVE_CASE, CONFIRM, {}, Action.RESOLVE_CASE,
     Delivery.NONE, False, ""),
    ("resolving on acceptance needs no approval (disabled)", Action.RESOLVE_CASE, DISABLED, {}, Action.RESOLVE_CASE,
     Delivery.NONE, False, ""),
    ("routing passes under any automation", Action.ROUTE_TO_REP, DISABLED, {}, Action.ROUTE_TO_REP, Delivery.NONE,
     False, ""),
    ("update only passes", Action.UPDATE_ONLY, FULL, {}, Action.UPDATE_ONLY, Delivery.NONE, False, ""),
    ("closing passes under disabled", Action.CLOSE_CASE, DISABLED, {}, Action.CLOSE_CASE, Delivery.NONE, False, ""),
]


@pytest.mark.parametrize("proposed,level,values,action,delivery,held,reason", [row[1:] for row in GUARD],
                         ids=[row[0] for row in GUARD])
def test_guard(proposed, level, values, action, delivery, held, reason):
    proposal = Proposal(action=proposed, missing=["reason"] if proposed is Action.REQUEST_INFO else [],
                        reason="proposed")
    plan = permitted_plan(proposal, a_case(S.AWAITING_CUSTOMER, **values), level, LIMITS)
    assert plan is not None
    assert (plan.action, plan.delivery, plan.held_for_review) == (action, delivery, held)
    assert reason in plan.reason
    if plan.action.sends_email:
        assert plan.missing == proposal.missing  # what is asked for is what the table found missing


def test_guard_drops_a_follow_up_under_disabled_automation():
    """The clock sends nothing under `disabled` (and routes nothing either: the case waits)."""
    assert permitted_plan(Proposal(action=Action.FOLLOW_UP), a_case(S.AWAITING_CUSTOMER), DISABLED, LIMITS) is None


def test_every_action_and_automation_meets_the_guard():
    assert {row[1] for row in GUARD} | {Action.FOLLOW_UP} == set(Action) - {Action.IGNORE}
    assert {row[2] for row in GUARD} == set(AutomationLevel)


# --- the clock --------------------------------------------------------------------------------------
# follow_up: after P2D, max_follow_ups 2, close_after_last P3D (tests/conftest.py)

CLOCK = [
    # (id, status, follow-ups sent, time since our last email, a customer email after it) -> action or None
    ("awaiting, not yet due", S.AWAITING_CUSTOMER, 0, timedelta(days=2) - timedelta(seconds=1), False, None),
    ("awaiting, due -> follow-up", S.AWAITING_CUSTOMER, 0, timedelta(days=2), False, Action.FOLLOW_UP),
    ("proposed, due -> follow-up", S.RESOLUTION_PROPOSED, 0, timedelta(days=2), False, Action.FOLLOW_UP),
    ("second follow-up", S.AWAITING_CUSTOMER, 1, timedelta(days=2), False, Action.FOLLOW_UP),
    ("ten days late: still one follow-up", S.AWAITING_CUSTOMER, 0, timedelta(days=10), False, Action.FOLLOW_UP),
    ("the customer wrote since: nothing", S.AWAITING_CUSTOMER, 0, timedelta(days=9), True, None),
    ("all follow-ups sent, not yet closing", S.AWAITING_CUSTOMER, 2, timedelta(days=3) - timedelta(seconds=1),
     False, None),
    ("all follow-ups sent, close_after_last elapsed -> close", S.AWAITING_CUSTOMER, 2, timedelta(days=3), False,
     Action.CLOSE_CASE),
    ("proposed, all follow-ups sent -> close", S.RESOLUTION_PROPOSED, 2, timedelta(days=30), False,
     Action.CLOSE_CASE),
    ("new cases are not followed up", S.NEW, 0, timedelta(days=30), False, None),
    ("pending review is not followed up", S.PENDING_REVIEW, 0, timedelta(days=30), False, None),
    ("with a representative: not followed up", S.WITH_REPRESENTATIVE, 0, timedelta(days=30), False, None),
    ("resolved: not followed up", S.RESOLVED, 0, timedelta(days=30), False, None),
    ("closed: not followed up", S.CLOSED, 2, timedelta(days=30), False, None),
]


@pytest.mark.parametrize("status,sent,elapsed,answered,action", [row[1:] for row in CLOCK],
                         ids=[row[0] for row in CLOCK])
def test_clock(catalog: Catalog, status, sent, elapsed, answered, action):
    inbound = T0 + timedelta(minutes=5) if answered else T0 - timedelta(hours=1)
    case = a_case(status, follow_ups=sent, last_outbound_at=T0, last_inbound_at=inbound)
    step = due_step(catalog, case, T0 + elapsed)
    assert (step.action if step else None) == action


def test_clock_without_follow_up_or_our_email(catalog: Catalog):
    late = T0 + timedelta(days=30)
    assert due_step(catalog.model_copy(update={"follow_up": None}), a_case(S.AWAITING_CUSTOMER), late) is None
    assert due_step(catalog, a_case(S.AWAITING_CUSTOMER, last_outbound_at=None), late) is None
    assert due_step(catalog, a_case(S.AWAITING_CUSTOMER, last_inbound_at=None), late).action is Action.FOLLOW_UP


# --- the routers ----------------------------------------------------------------------------------

def state(**values: object) -> AgentState:
    return AgentState(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("values,node", [
    ({"trigger": Trigger.TICK, "case_id": 1}, "decide_on_clock"),
    ({"case_id": 1, "duplicate": True}, "set_aside"),
    ({"case_id": 1, "automatic_reason": "Auto-Submitted: auto-replied"}, "set_aside"),
    ({"case_id": None}, "set_aside"),  # an automatic email that threads nowhere opens no case
    ({"case_id": 1}, "understand"),
    ({"case_id": 1, "stranger": "not the case's customer"}, "understand"),  # routed by the decision, not here
], ids=["tick", "duplicate", "automatic", "no case", "email", "stranger"])
def test_after_ingest(values, node):
    assert after_ingest(state(**values)) == node


@pytest.mark.parametrize("plan,node", [
    (None, END),
    (Plan(action=Action.SEND_RESOLUTION, delivery=Delivery.SEND), "compose"),
    (Plan(action=Action.REQUEST_INFO, delivery=Delivery.REVIEW), "compose"),
    (Plan(action=Action.FOLLOW_UP, delivery=Delivery.SEND), "compose"),
    (Plan(action=Action.RESOLVE_CASE), "resolve"),
    (Plan(action=Action.ROUTE_TO_REP), "route"),
    (Plan(action=Action.CLOSE_CASE), "close"),
    (Plan(action=Action.UPDATE_ONLY), "update_only"),
    (Plan(action=Action.IGNORE), END),
], ids=lambda v: v.action.value if isinstance(v, Plan) else str(v))
def test_carry_out(plan, node):
    """The guard's router, for a case whose intent has no custom agent (tests/test_custom_agents.py has the rest)."""
    assert carry_out(state(case_id=1, plan=plan)) == node


@pytest.mark.parametrize("plan,node", [
    (Plan(action=Action.SEND_RESOLUTION, delivery=Delivery.SEND), "send"),
    (Plan(action=Action.SEND_RESOLUTION, delivery=Delivery.REVIEW), "review"),
    (Plan(action=Action.ROUTE_TO_REP), "route"),  # the template failed to render
], ids=["send", "review", "template failed"])
def test_after_compose(plan, node):
    assert after_compose(state(case_id=1, plan=plan)) == node


@pytest.mark.parametrize("kind,action,node", [
    (ReviewKind.ACCEPT, Action.SEND_RESOLUTION, "send"),
    (ReviewKind.EDIT, Action.SEND_RESOLUTION, "send"),
    (ReviewKind.RESPONSE, Action.ROUTE_TO_REP, "route"),
    (ReviewKind.IGNORE, Action.ROUTE_TO_REP, "route"),
])
def test_after_review(kind, action, node):
    reviewed = state(case_id=1, review=ReviewDecision(kind=kind), plan=Plan(action=action, delivery=Delivery.REVIEW))
    assert after_review(reviewed) == node
