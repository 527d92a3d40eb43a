"""A custom copilot that hands customer emails to the case agent — offline, no LLM, no key.

The copilot is a small LangGraph graph: a chat-model node that decides tool calls, and a
``ToolNode`` with the case agent's LangChain tool (``agent_graph.subagent.case_agent_tool``).
The chat model here is scripted (``ScriptedCopilotModel``): it turns each email the user pastes
into a ``case_agent`` tool call and each tool result into a one-line answer. Swap in a real
tool-calling model (``init_chat_model(...).bind_tools([tool])``) and nothing else changes.

    .venv/bin/python examples/custom_copilot.py

Each email runs the real case agent on the demo catalog (``examples/catalog.yaml``) against a
throwaway SQLite store; the script prints the sub-agent's typed results (``CaseResult``).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from agent_graph.context import Context
from agent_graph.intake.building import build_email
from agent_graph.subagent import CaseResult, case_agent_tool, open_subagent

REPO = Path(__file__).resolve().parent.parent

ASK = "Please handle this customer email:\n"

# (from, to, subject, body): one line of business per automation level of the demo catalog.
INBOX = [
    ("Elena Petrova <elena.petrova@example.net>", "support@pinecrest.example", "Fridge not delivered",
     ("Hi,\n\nMy new fridge was meant to be delivered on Saturday and it never came. "
      "The order number is ORD-205117.\n\nElena")),
    ("Elena Petrova <elena.petrova@example.net>", "support@pinecrest.example",
     "Re: Fridge not delivered [CAS-000001]",
     "Thanks so much, the courier just texted me a delivery window for tomorrow. All good!\n\nElena"),
    ("Amira Haddad <amira.haddad@example.net>", "support@pinecrest.example", "Refund for the coffee machine",
     ("Hello,\n\nThe coffee machine I bought leaks water all over the counter every time I use it. "
      "I'd like a refund to my original card, please.\n\nAmira Haddad")),
    ("Grace Okoye <grace.okoye@example.net>", "repairs@pinecrest.example", "Washing machine leaking",
     ("Good morning,\n\nOur WM820 washing machine has started leaking from the door seal during every wash. "
      "We bought it on August 3, 2025. Can someone come and repair it?\n\nGrace Okoye")),
    ("Harriet Lane <harriet.lane@example.net>", "support@pinecrest.example", "Please cancel",
     "Hello,\n\nI'd like to cancel the slow cooker I ordered yesterday - I found a better deal locally.\n\nHarriet"),
]


class ScriptedCopilotModel(BaseChatModel):
    """Stands in for a tool-calling LLM, deterministically.

    A user message carrying an email becomes a ``case_agent`` call with the raw email; a tool
    result becomes the copilot's answer to the user."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-copilot"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedCopilotModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            result: CaseResult = last.artifact
            reply = AIMessage(content=f"Done. {result.summary}")
        else:
            self.calls += 1
            raw_email = str(last.content).removeprefix(ASK)
            reply = AIMessage(content="", tool_calls=[
                {"name": "case_agent", "args": {"raw_email": raw_email}, "id": f"call-{self.calls}"}])
        return ChatResult(generations=[ChatGeneration(message=reply)])


def build_copilot(model: BaseChatModel, tools: list[Any]):  # type: ignore[no-untyped-def]
    """The classic tool loop: the model decides, the ToolNode runs the case agent, the model answers."""
    bound = model.bind_tools(tools)

    def copilot(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [bound.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("copilot", copilot)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "copilot")
    builder.add_conditional_edges("copilot", tools_condition, ["tools", END])
    builder.add_edge("tools", "copilot")
    return builder.compile(name="custom-copilot")


def inbox_emails() -> list[str]:
    at = datetime.now(UTC)
    return [build_email(from_=sender, to=to, subject=subject, body=body, message_id=f"copilot-{n}@example.net",
                        date=at).decode()
            for n, (sender, to, subject, body) in enumerate(INBOX, start=1)]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="custom-copilot-") as folder:
        context = Context(catalog_path=str(REPO / "examples" / "catalog.yaml"),
                          db_url=f"sqlite:///{Path(folder) / 'copilot.db'}")
        with open_subagent(context) as subagent:
            copilot = build_copilot(ScriptedCopilotModel(), [case_agent_tool(subagent)])
            for raw in inbox_emails():
                messages = copilot.invoke({"messages": [HumanMessage(ASK + raw)]})["messages"]
                result = next(m.artifact for m in messages if isinstance(m, ToolMessage))
                print(f"{result.case_number}  response_type={result.response_type.value}  "
                      f"needs_review={result.needs_review}  status={result.status.value if result.status else '-'}")
                print(f"    copilot: {messages[-1].content}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
