"""The decision table, row by row, under each automation level, on a real store and a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_graph.domain import Action, CaseStatus, Outbound, OutboxStatus
from tests.conftest import email

RETURN_COMPLETE = ("Hi, I want to return the bike I bought, the frame is too big for me. "
                   "My order is TB-1234. Thanks, Robin")
RETURN_MISSING = "Hi, I want to return the bike I bought last week, the frame is too big for me."
VAGUE = "Hello, I have a question about something."

pytestmark = pytest.mark.both_databases


def last_sent(store, case_id):
    return [i for i in store.outbox(case_id) if i.status == OutboxStatus.SENT][-1]


def answer(agent, store, case_id, body, *, n=2, subject="Re: Return", **more):
    """The customer's answer to the last email the agent sent on the case."""
    return agent.process_email(email(body, subject=subject, n=n, in_reply_to=last_sent(store, case_id).message_id,
                                     **more))


@pytest.mark.parametrize("level,outbound,status", [
    ("full", Outbound.SENT, CaseStatus.RESOLUTION_PROPOSED),
    ("confirm", Outbound.DRAFTED, CaseStatus.PENDING_REVIEW),
])
def test_sufficient_attributes_send_or_draft_the_resolution(make_agent, store, level, outbound, status):
    agent = make_agent(shop=level)
    result = agent.process_email(email(RETURN_COMPLETE, subject="Return"))
    assert result.outcome.action is Action.SEND_RESOLUTION
    assert result.outcome.outbound is outbound
    case = store.case(result.case_id)
    assert case.status == status
    assert case.intent == "return_bike"
    assert store.current_fields(case.id)["order_ref"].value == "TB-1234"
    item = store.outbox(case.id)[-1]
    assert item.template_id == "return_ok"
    assert "TB-1234" in item.body and item.to_address == "robin@example.net"


def test_sufficient_attributes_under_disabled_route_without_a_draft(make_agent, store):
    result = make_agent(shop="disabled").process_email(email(RETURN_COMPLETE, subject="Return"))
    assert result.outcome.action is Action.ROUTE_TO_REP and result.outcome.outbound is Outbound.NONE
    case = store.case(result.case_id)
    assert (case.status, case.queue, case.intent) == (CaseStatus.WITH_REPRESENTATIVE, "shop-desk", "return_bike")
    assert store.current_fields(case.id)["order_ref"].value == "TB-1234"
    assert store.outbox(case.id) == []


@pytest.mark.parametrize("level", ["full", "confirm"])
def test_acceptance_resolves_without_approval(make_agent, store, level):
    agent = make_agent(shop=level)
    first = agent.process_email(email(RETURN_COMPLETE, subject="Return"))
    if level == "confirm":
        agent.answer_review(first.case_id, [{"type": "accept", "args": None}])
    reply = answer(agent, store, first.case_id, "Perfect, thank you!")
    assert reply.outcome.action is Action.RESOLVE_CASE and reply.outcome.outbound is Outbound.NONE
    assert store.case(first.case_id).status == CaseStatus.RESOLVED


def test_confirm_level_follow_up_is_drafted(make_agent, store, clock):
    agent = make_agent(shop="confirm")
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    agent.answer_review(first.case_id, [{"type": "accept", "args": None}])
    clock.advance(timedelta(days=2))
    [result] = agent.tick()
    assert result.outcome.action is Action.FOLLOW_UP and result.outcome.outbound is Outbound.DRAFTED
    assert store.case(first.case_id).status == CaseStatus.PENDING_REVIEW
    sent = agent.answer_review(first.case_id, [{"type": "accept", "args": None}])
    assert sent.outcome.outbound is Outbound.SENT
    assert store.case(first.case_id).status == CaseStatus.AWAITING_CUSTOMER


@pytest.mark.parametrize("level", ["full", "confirm", "disabled"])
def test_missing_attributes(make_agent, store, level):
    result = make_agent(shop=level).process_email(email(RETURN_MISSING, subject="Return"))
    case = store.case(result.case_id)
    if level == "disabled":
        assert result.outcome.action is Action.ROUTE_TO_REP
        assert case.status == CaseStatus.WITH_REPRESENTATIVE and case.queue == "shop-desk"
        assert store.outbox(case.id) == []
        return
    assert result.outcome.action is Action.REQUEST_INFO
    item = store.outbox(case.id)[-1]
    assert "order ref" in item.body
    assert item.template_id == "generic"
    assert case.status == (CaseStatus.AWAITING_CUSTOMER if level == "full" else CaseStatus.PENDING_REVIEW)


@pytest.mark.parametrize("level", ["full", "confirm", "disabled"])
def test_unidentified_intent(make_agent, store, level):
    result = make_agent(shop=level).process_email(email(VAGUE))
    case = store.case(result.case_id)
    assert case.intent is None
    expected = Action.ROUTE_TO_REP if level == "disabled" else Action.REQUEST_INFO
    assert result.outcome.action is expected
    if level == "full":
        assert "tell us a little more" in last_sent(store, case.id).body


def test_missing_then_supplied_then_accepted(make_agent, store, clock):
    agent = make_agent()
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    asked = last_sent(store, first.case_id)
    clock.advance(timedelta(hours=2))
    second = agent.process_email(email(f"Sure, it's TB-4321.\n\n> {asked.body}", subject="Re: Return", n=2,
                                       in_reply_to=asked.message_id))
    assert second.case_id == first.case_id
    assert second.outcome.action is Action.SEND_RESOLUTION
    assert store.case(first.case_id).status == CaseStatus.RESOLUTION_PROPOSED
    third = answer(agent, store, first.case_id, "Got it, thanks a lot!", n=3)
    assert third.outcome.action is Action.RESOLVE_CASE
    assert third.outcome.outbound is Outbound.NONE
    assert store.case(first.case_id).status == CaseStatus.RESOLVED


def test_still_needs_help_routes(make_agent, store):
    agent = make_agent()
    first = agent.process_email(email(RETURN_COMPLETE, subject="Return"))
    reply = answer(agent, store, first.case_id, "That doesn't help, the courier never came. I still need help.")
    assert reply.outcome.action is Action.ROUTE_TO_REP
    assert store.case(first.case_id).status == CaseStatus.WITH_REPRESENTATIVE


def test_value_only_in_quoted_history_is_not_taken(make_agent, store):
    agent = make_agent()
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    body = "I don't have it to hand yet, sorry.\n\nOn Mon, 2 Mar 2026 at 10:00, Help wrote:\n> order TB-9999 was\n> an example"
    second = answer(agent, store, first.case_id, body)
    assert "order_ref" not in store.current_fields(first.case_id)
    assert second.outcome.action is Action.REQUEST_INFO


def test_max_info_requests_routes(make_agent, store, clock):
    agent = make_agent()
    result = agent.process_email(email(RETURN_MISSING, subject="Return"))
    for n in (2, 3):
        clock.advance(timedelta(hours=1))
        result = answer(agent, store, result.case_id, "I'm not sure what you mean.", n=n)
    assert result.outcome.action is Action.ROUTE_TO_REP
    case = store.case(result.case_id)
    assert case.info_requests == 2 and case.queue == "shop-desk"


def test_case_number_in_subject_threads(make_agent, store):
    agent = make_agent()
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    number = store.case(first.case_id).number
    second = agent.process_email(email("The order is TB-5555", subject=f"About {number}", n=2))
    assert second.case_id == first.case_id
    assert second.outcome.action is Action.SEND_RESOLUTION


def test_same_email_twice_is_processed_once(make_agent, store):
    agent = make_agent()
    raw = email(RETURN_COMPLETE, subject="Return")
    agent.process_email(raw)
    again = agent.process_email(raw)
    assert again.duplicate
    assert len(store.outbox(again.case_id)) == 1


@pytest.mark.parametrize("headers,sender", [
    ({"Auto-Submitted": "auto-replied"}, "Robin Vale <robin@example.net>"),
    ({"Precedence": "bulk"}, "news@example.net"),
    ({}, "MAILER-DAEMON@mx.example.net"),
    ({"List-Id": "<bikes.lists.example.net>"}, "list@example.net"),
])
def test_automatic_mail_is_recorded_never_answered(make_agent, store, headers, sender):
    agent = make_agent()
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    auto = answer(agent, store, first.case_id, "I am out of the office until Monday.", subject="Automatic reply: Return",
                  sender=sender, headers=headers)
    assert auto.outcome.action is Action.IGNORE
    assert len(store.outbox(first.case_id)) == 1
    assert store.case(first.case_id).status == CaseStatus.AWAITING_CUSTOMER


def test_automatic_mail_opens_no_case(make_agent, store):
    result = make_agent().process_email(email("Out of office", headers={"Auto-Submitted": "auto-replied"}))
    assert result.outcome.action is Action.IGNORE and result.case_id is None
    assert store.count_cases() == 0


def test_follow_ups_then_close(make_agent, store, clock):
    agent = make_agent()
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    case_id = first.case_id
    clock.advance(timedelta(days=1))
    assert agent.tick() == []
    actions = []
    for days in (2, 2, 3):
        clock.advance(timedelta(days=days))
        actions += [r.outcome.action for r in agent.tick()]
    assert actions == [Action.FOLLOW_UP, Action.FOLLOW_UP, Action.CLOSE_CASE]
    assert store.case(case_id).status == CaseStatus.CLOSED
    assert len([i for i in store.outbox(case_id) if i.action == Action.FOLLOW_UP]) == 2


def test_customer_reply_resets_follow_ups(make_agent, store, clock):
    agent = make_agent()
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    clock.advance(timedelta(days=2))
    assert [r.outcome.action for r in agent.tick()] == [Action.FOLLOW_UP]
    clock.advance(timedelta(hours=1))
    answer(agent, store, first.case_id, "Here it is: TB-2222")
    assert store.case(first.case_id).follow_ups == 0
    assert store.case(first.case_id).status == CaseStatus.RESOLUTION_PROPOSED


def test_customer_asking_for_a_person_is_routed(make_agent, store):
    result = make_agent().process_email(email(
        "I want to return my bike, order TB-1111. Please have a real person call me, I don't want a robot.",
        subject="Return"))
    assert result.outcome.action is Action.ROUTE_TO_REP


def test_reply_while_with_representative_only_updates(make_agent, store):
    agent = make_agent(shop="disabled")
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    second = agent.process_email(email("My order is TB-3333", subject="Re: Return", n=2,
                                       in_reply_to="m1@customer.example"))
    assert second.outcome.action is Action.UPDATE_ONLY
    assert store.current_fields(first.case_id)["order_ref"].value == "TB-3333"
    assert store.outbox(first.case_id) == []


def test_graph_run_twice_on_the_same_stored_email_acts_once(make_agent, store):
    """A server client may repeat a run: the stored email is recognised as processed."""
    from langgraph.checkpoint.memory import InMemorySaver

    from agent_graph.graph import build_graph
    from agent_graph.state import run_input

    agent = make_agent()
    first = agent.process_email(email(RETURN_COMPLETE, subject="Return"))
    message = store.messages(first.case_id)[0]
    graph = build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "repeat"}}
    values = graph.invoke(run_input(message_pk=message.id), config, context=agent.context)
    assert values["duplicate"] and values["outcome"].action is None
    assert len(store.outbox(first.case_id)) == 1


@pytest.mark.parametrize("level", ["full", "confirm", "disabled"])
def test_every_finished_or_paused_run_leaves_nothing_for_recovery(make_agent, store, clock, level):
    """Ending nodes remove the run's row in their own transaction; a pause or a run with
    nothing to do is closed by the service. A row left behind would be re-run at next start."""
    agent = make_agent(shop=level)
    first = agent.process_email(email(RETURN_MISSING, subject="Return"))
    assert store.unfinished_runs() == []
    if first.pending_review is not None:
        agent.answer_review(first.case_id, [{"type": "accept", "args": None}])
        assert store.unfinished_runs() == []
    agent.process_email(email("Out of office", subject="Automatic reply: Return", n=2,
                              headers={"Auto-Submitted": "auto-replied"}))
    clock.advance(timedelta(days=30))
    agent.tick()
    assert store.unfinished_runs() == []
    assert agent.recover() == []


def test_warm_up_loads_what_the_first_email_would_otherwise_wait_for(make_agent):
    from agent_graph.brain import language

    language._identifier.cache_clear()
    make_agent().warm_up()
    assert language._identifier.cache_info().currsize == 1
