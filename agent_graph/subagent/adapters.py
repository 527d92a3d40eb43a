"""The sub-agent for LangChain and LangGraph: :func:`case_agent_tool` (a ``StructuredTool``) and
:func:`case_agent_subgraph` (a compiled graph to add as a node of another graph)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from agent_graph.errors import SubAgentError
from agent_graph.subagent.contract import CaseRequest, CaseResult, EmailFields, SubAgent


class CaseToolArgs(BaseModel):
    """Flat arguments, easy for a model to fill: a case reference and/or one inbound email."""

    case: str | None = Field(default=None, description="case number (CAS-000123) of an existing case, if known")
    raw_email: str | None = Field(default=None, description="the inbound email as raw RFC 5322 text")
    sender: str | None = Field(default=None, description="the email's From, when not giving raw_email")
    to: str | None = Field(default=None, description="the address the email was sent to")
    subject: str | None = None
    body: str | None = Field(default=None, description="the email's text, when not giving raw_email")
    in_reply_to: str | None = Field(default=None, description="Message-ID the email answers, if any")


TOOL_DESCRIPTION = (
    "Hand one customer-support email, or an existing case, to the case agent. It ties the email to its "
    "case, decides, and answers the customer (or drafts the answer for a representative's review). "
    "Returns response_type (Question, Resolved, ResolveCase, UnableToResolve, NoAction), needs_review, "
    "case_number, status and a summary."
)


def request_from_tool_args(args: CaseToolArgs) -> CaseRequest:
    if args.raw_email and (args.sender or args.body):
        raise SubAgentError("give either raw_email or the email's fields (sender, body, ...), not both")
    email: str | EmailFields | None = args.raw_email
    if email is None and (args.sender or args.body):
        if not (args.sender and args.body):
            raise SubAgentError("an email given as fields needs at least sender and body")
        email = EmailFields.model_validate({"from": args.sender, "to": args.to, "subject": args.subject or "",
                                            "body": args.body, "in_reply_to": args.in_reply_to})
    return CaseRequest(case=args.case, email=email)


def case_agent_tool(subagent: SubAgent, name: str = "case_agent") -> StructuredTool:
    """The sub-agent as a LangChain tool. The model sees the result as JSON; the typed
    :class:`CaseResult` is the ``ToolMessage``'s artifact."""

    def run(**kwargs: Any) -> tuple[str, CaseResult]:
        result = subagent.handle(request_from_tool_args(CaseToolArgs(**kwargs)))
        return result.model_dump_json(exclude={"review_request"}, exclude_none=True), result

    return StructuredTool.from_function(func=run, name=name, description=TOOL_DESCRIPTION,
                                        args_schema=CaseToolArgs, response_format="content_and_artifact")


class CaseTask(CaseRequest):
    result: CaseResult | None = None


class CaseTaskOutput(BaseModel):
    result: CaseResult


def case_agent_subgraph(subagent: SubAgent,
                        name: str = "case_agent") -> CompiledStateGraph[CaseTask, None, CaseRequest, CaseTaskOutput]:
    """A graph to add as a node of another graph: it reads ``case``/``email`` from the parent's
    state and writes ``result`` (a :class:`CaseResult`). A draft awaiting review does not pause
    the parent: it is ``result.needs_review``."""

    def handle(state: CaseTask) -> dict[str, Any]:
        return {"result": subagent.handle(CaseRequest(case=state.case, email=state.email))}

    builder = StateGraph(CaseTask, input_schema=CaseRequest, output_schema=CaseTaskOutput)
    builder.add_node("handle_case", handle)
    builder.add_edge(START, "handle_case")
    builder.add_edge("handle_case", END)
    return builder.compile(name=name)
