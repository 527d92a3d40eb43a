"""The graph's steps on an email: a LangGraph step costs CPU of its own (README, "Performance"), so
the decision table runs in the understanding node's step, not in a step of its own."""

from __future__ import annotations

from agent_graph.state import run_input
from tests.conftest import email

RETURN_COMPLETE = ("Hi, I want to return the bike I bought, the frame is too big for me. "
                   "My order is TB-1234. Thanks, Robin")


def test_an_email_is_understood_and_decided_in_one_step_then_guarded(make_agent):
    agent = make_agent(shop="full")
    raw = email(RETURN_COMPLETE, subject="Return").decode()
    config = {"configurable": {"thread_id": "steps"}}
    updates = list(agent.graph.stream(run_input(raw_email=raw), config, context=agent.context,
                                      stream_mode="updates"))
    assert [node for update in updates for node in update] == ["ingest", "understand", "guard", "compose", "send"]
    understood = updates[1]["understand"]
    assert understood["understanding"].intent.intent_id == "return_bike"
    assert understood["proposal"].action.value == "send_resolution"
    assert updates[2]["guard"]["plan"].action.value == "send_resolution"
