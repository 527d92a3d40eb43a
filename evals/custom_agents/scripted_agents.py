"""Scripted custom agents for the ``custom_agents`` suite (and the tests): small LangGraph graphs
that read the case through ``get_case`` and answer one fixed way, so replays run offline.

A thread links an intent to one of them with ``"agents": {"refund_request": {"graph":
"scripted_agents:resolved"}}``; the module is found in the suite folder.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent_graph.custom_agent import get_case

SCRIPTS: dict[str, dict[str, Any]] = {
    "question": {"responseType": "Question",
                 "message": "Which item of order {order_number} would you like us to refund: the jacket or the boots?"},
    "resolved": {"responseType": "Resolved", "message": "We have refunded order {order_number} in full."},
    "resolve_case": {"responseType": "ResolveCase",
                     "message": "Order {order_number} is refunded in full, so we are closing this case."},
    "unable": {"responseType": "UnableToResolve", "message": "Order {order_number} is past the 30-day return window."},
    "no_action": {"responseType": "NoAction", "message": ""},
    "needs_review": {"responseType": "Resolved", "message": "We have refunded order {order_number} as store credit.",
                     "handlingOptions": {"needsReview": True}},
    "ungrounded": {"responseType": "Resolved",
                   "message": "We have refunded $120.00 for order {order_number}, see https://refunds.example/r/77."},
    "invalid": {"responseType": "Refunded", "message": "We refunded it."},
}
"""What each scripted agent answers; ``{order_number}`` is the case's field (an empty one when missing)."""

SLOW_SECONDS = 10.0
"""How long ``slow`` takes: longer than the suite's timeout for it."""


def answer_for(script: str, case: dict[str, Any]) -> dict[str, Any]:
    """The scripted answer for a case as ``get_case`` returns it (JSON)."""
    answer = dict(SCRIPTS[script])
    answer["message"] = answer["message"].format(order_number=case["fields"].get("order_number", ""))
    return answer


class ScriptState(TypedDict, total=False):
    caseId: str
    responseType: str
    message: str
    handlingOptions: dict[str, Any]


def scripted(script: str, delay: float = 0.0) -> CompiledStateGraph:
    def answer(state: ScriptState) -> dict[str, Any]:
        case = get_case(state["caseId"]).as_json()
        time.sleep(delay)
        return answer_for(script, case)

    builder = StateGraph(ScriptState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile(name=f"scripted_{script}")


ITEMS = ("jacket", "boots")


def _which_item(state: ScriptState) -> dict[str, Any]:
    """Asks for what it lacks (the order number, then which item), then refunds: each call reads
    the case afresh, so a customer's answer shows up on the next call of the conversation."""
    case = get_case(state["caseId"])
    order = case.fields.get("order_number")
    if order is None:
        return {"responseType": "Question",
                "message": "Could you send us your order number? It is on your order confirmation."}
    latest = case.new_texts[-1].text.lower()
    item = next((name for name in ITEMS if name in latest), None)
    if item is None:
        return answer_for("question", case.as_json())
    return {"responseType": "Resolved", "message": f"We have refunded the {item} of order {order} in full."}


def _fails(state: ScriptState) -> dict[str, Any]:
    raise RuntimeError("the order system is down")


question = scripted("question")
resolved = scripted("resolved")
resolve_case = scripted("resolve_case")
unable = scripted("unable")
no_action = scripted("no_action")
needs_review = scripted("needs_review")
ungrounded = scripted("ungrounded")
invalid = scripted("invalid")
slow = scripted("resolved", delay=SLOW_SECONDS)
which_item = StateGraph(ScriptState).add_node("answer", _which_item).add_edge(START, "answer").compile(
    name="scripted_which_item")
broken = StateGraph(ScriptState).add_node("fail", _fails).add_edge(START, "fail").compile(name="scripted_broken")
