"""The act node: another system asks the agent to act on an existing case (``case-agent act``, the
sub-agent API's :func:`agent_graph.act.act`, or the ``case_agent`` graph with ``trigger: resolve``
or ``enrich``).

``resolve`` runs the resolution path now: the information still missing is asked for, else the
resolution is sent — by the intent's custom agent when it has one, else by its template — through
the guard, with the run's automation level. ``enrich`` reads a stored message into the case's
fields and sends nothing. Each act runs once per (case, action, source): it is recorded when it
starts, and a repeated one does nothing and says so — also while the first waits for a review, so a
custom agent is never asked twice for one act. (A crash in the middle of an act leaves it recorded:
ask again with another source.)
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.context import Context, services
from agent_graph.domain import Action, Actor, CaseStatus, Outbound
from agent_graph.nodes import atomic
from agent_graph.nodes.decision import resolution_step
from agent_graph.nodes.intake import supersede_pending_drafts
from agent_graph.state import AgentState, Delivery, Plan, Trigger, TurnOutcome
from agent_graph.store import Case, OutboxItem

ACT = "act"
"""The interaction kind that records an act (its key in the detail)."""


def act_key(case_number: str, trigger: Trigger, source: str | None) -> str:
    """An act runs once per (case, action, source)."""
    return f"{case_number}:act:{trigger.value}:{source or '-'}"


@atomic
def act(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = env.store.case(state.known_case_id)
    key = act_key(case.number or str(case.id), state.trigger, state.source)
    done = next((i for i in env.store.interactions(case.id) if i.kind == ACT and i.detail.get("key") == key), None)
    if done is not None:
        return already_done(env.store.pending_drafts(case.id), case, key, f"already done: {key} ran at "
                                                                          f"{done.at.isoformat()}")
    env.store.add_interaction(case.id, Actor.SYSTEM, ACT, f"act {state.trigger.value} asked"
                              + (f" on {state.source}" if state.source else "")
                              + (f" at automation {state.automation.value}" if state.automation else ""),
                              env.clock.now(),
                              {"key": key, "action": state.trigger.value, "source": state.source,
                               "automation": state.automation.value if state.automation else None})
    if state.trigger is Trigger.ENRICH:
        return {}
    supersede_pending_drafts(runtime, case.id, own_prefix=key)
    case = env.store.case(case.id)
    return {"proposal": resolution_step(env.catalog, case, set(env.store.current_fields(case.id)), why="act resolve: ")}


def already_done(pending: list[OutboxItem], case: Case, key: str, note: str) -> dict[str, Any]:
    """Nothing runs again; a draft of the act that still waits for review is paused on again (a new run
    on the case's thread replaces the pause it had)."""
    draft = next((d for d in pending if d.idempotency_key.startswith(key)), None)
    if draft is None:
        return {"outcome": TurnOutcome(action=None, status=CaseStatus(case.status), note=note)}
    action = Action(draft.action)
    return {"draft_id": draft.id, "plan": Plan(action=action, delivery=Delivery.REVIEW, reason=note),
            "outcome": TurnOutcome(action=action, outbound=Outbound.DRAFTED, status=CaseStatus(case.status),
                                   outbox_id=draft.id, note=note)}
