"""The case agent as a sub-agent: one case or one inbound email in, one typed result out.

Other agents (a custom copilot, an orchestrator) hand a case to the case agent through
:class:`CaseRequest` and get a :class:`CaseResult` back, modelled on the contract of commercial
custom case agents: a ``response_type`` (``Question``, ``Resolved``, ``ResolveCase``,
``UnableToResolve``, ``NoAction``), whether a draft awaits a representative (``needs_review``),
the case number, its status and a short summary.

Three ways to call it, one result type:

* in process: :class:`LocalCaseSubAgent` (around a :class:`~agent_graph.service.CaseAgent`);
* against a LangGraph server: :class:`RemoteCaseSubAgent` (``RemoteGraph`` on the server's
  ``mailroom`` and ``case_agent`` graphs);
* from LangChain / LangGraph: :func:`case_agent_tool` (a ``StructuredTool``) and
  :func:`case_agent_subgraph` (a compiled graph to add as a node).

Threads. Every email of a case must run on the case's own thread
(:func:`~agent_graph.service.thread_id_for` of the case number), and a new email's case is only
known once the email is stored and threaded. So a run is two steps: the ``mailroom`` graph
(:data:`mailroom_graph`, stateless) stores the email, ties it to its case (opening one when
needed) and answers with the case and its thread id; then the ``case_agent`` graph runs on that
thread with the stored email's key. HTTP clients do the same two calls (docs/server.md).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_graph.context import Context, Services, services
from agent_graph.domain import Action, CaseStatus, Outbound, ResponseType
from agent_graph.errors import SubAgentError
from agent_graph.intake import GENERATED_ID_DOMAIN, build_email, parse_email
from agent_graph.mailroom import Receipt, receive, set_aside_unthreaded
from agent_graph.nodes.decision import due_step
from agent_graph.review import pending_request
from agent_graph.service import CaseAgent, TurnResult, open_checkpointer, thread_id_for
from agent_graph.state import Trigger, TurnOutcome, run_input
from agent_graph.store import Case, CaseStore

log = logging.getLogger(__name__)

T = TypeVar("T")

AGENT_GRAPH_ID = "case_agent"
MAILROOM_GRAPH_ID = "mailroom"


# --------------------------------------------------------------------------------------------
# the contract
# --------------------------------------------------------------------------------------------


RESPONSE_TYPES: dict[Action | None, ResponseType] = {
    Action.REQUEST_INFO: ResponseType.QUESTION,
    Action.FOLLOW_UP: ResponseType.QUESTION,
    Action.SEND_RESOLUTION: ResponseType.RESOLVED,
    Action.RESOLVE_CASE: ResponseType.RESOLVE_CASE,
    Action.ROUTE_TO_REP: ResponseType.UNABLE_TO_RESOLVE,
}


class EmailFields(BaseModel):
    """An inbound email given as fields instead of RFC 5322 text."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="the sender, e.g. 'Robin Vale <robin@example.net>'")
    to: str | None = Field(default=None, description="the address it was sent to (default: the catalog's mailbox)")
    subject: str = ""
    body: str
    in_reply_to: str | None = Field(default=None, description="Message-ID of the email this one answers")
    references: list[str] = Field(default_factory=list)
    message_id: str | None = Field(default=None, description="default: derived from the fields, so a retry is "
                                                              "recognised as the same email")
    date: datetime | None = None


class CaseRequest(BaseModel):
    """Hand a case to the agent: an inbound email, a case, or both.

    * ``email`` alone: the email is threaded to its case (In-Reply-To/References, a case number
      in the subject) or opens a new one, and the agent answers it.
    * ``case`` and ``email``: the email belongs to that case even without threading headers
      (an email of another case is refused).
    * ``case`` alone: the agent does what is due on the case now (a follow-up or a closure)
      and reports its state.
    """

    case: str | int | None = Field(default=None, description="a case number (CAS-000123) or a case id")
    email: str | EmailFields | None = Field(default=None, description="raw RFC 5322 text, or the email's fields")

    @model_validator(mode="after")
    def _something_to_do(self) -> CaseRequest:
        if self.case is None and self.email is None:
            raise ValueError("a case request needs a case (number or id), an email, or both")
        return self


class CaseResult(BaseModel):
    """What the case agent did with one request."""

    response_type: ResponseType
    needs_review: bool = Field(description="a drafted email waits for a representative's review")
    case_number: str | None
    case_id: int | None
    status: CaseStatus | None
    summary: str
    action: Action | None = None
    outbound: Outbound = Outbound.NONE
    thread_id: str | None = Field(default=None, description="the case's LangGraph thread")
    language: str | None = Field(default=None, description="the customer's language (ISO 639-1), when known")
    review_request: dict[str, Any] | None = Field(
        default=None, description="the Agent Inbox HumanInterrupt the case is paused on, when known")


class CaseRecord(BaseModel):
    """A case as the ``mailroom`` graph reports it."""

    id: int
    number: str
    status: CaseStatus
    title: str
    lob: str
    intent: str | None
    customer_email: str
    customer_name: str | None
    queue: str | None
    fields: dict[str, str]
    pending_review: bool
    language: str | None = None


class MailroomResult(BaseModel):
    """Output of the ``mailroom`` graph: the case an email or a case reference leads to, and its thread."""

    case_record: CaseRecord | None = None
    thread_id: str | None = None
    message_pk: int | None = Field(default=None, description="the stored email: the case_agent run's input")
    duplicate: bool = Field(default=False, description="this email was already processed: nothing to run")
    automatic_reason: str | None = None
    follow_up_due: bool = Field(default=False, description="a follow-up or a closure is due on the case now")
    note: str = ""


class SubAgent(Protocol):
    def handle(self, request: CaseRequest) -> CaseResult: ...


# --------------------------------------------------------------------------------------------
# receiving: shared by the mailroom graph and the in-process sub-agent
# --------------------------------------------------------------------------------------------


def email_source(email: str | EmailFields, mailbox: str, now: datetime) -> str:
    """RFC 5322 text for an email given either way.

    Without a Message-ID, fields get one derived from their content: the same email sent twice
    (a retried tool call) is stored once."""
    if isinstance(email, str):
        return email
    message_id = email.message_id or _derived_message_id(email)
    references = email.references or ([email.in_reply_to] if email.in_reply_to else [])
    raw = build_email(from_=email.from_, to=email.to or mailbox, subject=email.subject, body=email.body,
                      message_id=message_id, date=email.date or now, in_reply_to=email.in_reply_to,
                      references=references)
    return raw.decode("utf-8")


def _derived_message_id(email: EmailFields) -> str:
    content = email.model_dump(mode="json", exclude={"message_id"})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]
    return f"fields-{digest}@{GENERATED_ID_DOMAIN}"


def find_case_ref(store: CaseStore, ref: str | int) -> Case:
    """A case by number (``CAS-000123``, any case) or by id."""
    case = store.case_by_ref(ref)
    if case is None:
        raise SubAgentError(f"no case {str(ref).strip()!r}: give a case number such as CAS-000123, or a case id")
    return case


def case_record(env: Services, case: Case) -> CaseRecord:
    fields = {name: row.value for name, row in env.store.current_fields(case.id).items()}
    return CaseRecord(id=case.id, number=case.number or str(case.id), status=CaseStatus(case.status),
                      title=case.title, lob=case.lob, intent=case.intent, customer_email=case.customer_email,
                      customer_name=case.customer_name, queue=case.queue, fields=fields,
                      pending_review=bool(env.store.pending_drafts(case.id)), language=case.language)


def locate(env: Services, request: CaseRequest) -> MailroomResult:
    """Store the request's email (once) and find its case and thread; or look a case up."""
    case = find_case_ref(env.store, request.case) if request.case is not None else None
    receipt: Receipt | None = None
    if request.email is not None:
        raw = email_source(request.email, env.catalog.mailbox, env.clock.now())
        email = parse_email(raw, own_addresses=[env.catalog.mailbox])
        with env.store.unit_of_work():
            receipt = receive(env.catalog, env.store, env.clock, email, case=case)
            if receipt.case_id is None:
                return MailroomResult(message_pk=receipt.message_pk, duplicate=receipt.duplicate,
                                      automatic_reason=receipt.automatic_reason,
                                      note=set_aside_unthreaded(env, receipt))
        case = env.store.case(receipt.case_id)
    assert case is not None  # CaseRequest guarantees a case or an email
    return MailroomResult(
        case_record=case_record(env, case), thread_id=thread_id_for(case.number or str(case.id)),
        message_pk=receipt.message_pk if receipt else None, duplicate=bool(receipt and receipt.duplicate),
        automatic_reason=receipt.automatic_reason if receipt else None,
        follow_up_due=receipt is None and due_step(env.catalog, case, env.clock.now()) is not None,
        note="duplicate: this email was already processed" if receipt and receipt.duplicate else "",
    )


# --------------------------------------------------------------------------------------------
# the mailroom graph (for the LangGraph server)
# --------------------------------------------------------------------------------------------


class MailroomState(CaseRequest, MailroomResult):
    pass


def mailroom_receive(state: MailroomState, runtime: Runtime[Context]) -> dict[str, Any]:
    request = CaseRequest(case=state.case, email=state.email)
    return locate(services(runtime.context), request).model_dump(mode="json")


def build_mailroom_graph() -> CompiledStateGraph[MailroomState, Context, CaseRequest, MailroomResult]:
    """Stateless: run it without a thread (``POST /runs/wait``); it has no checkpointer of its own."""
    builder = StateGraph(MailroomState, context_schema=Context, input_schema=CaseRequest,
                         output_schema=MailroomResult)
    builder.add_node("receive", mailroom_receive)
    builder.add_edge(START, "receive")
    builder.add_edge("receive", END)
    return builder.compile(name=MAILROOM_GRAPH_ID)


mailroom_graph = build_mailroom_graph()
"""For ``langgraph.json``: receive an email and/or look up a case; answers the case's thread id."""


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


SENT_WORDING = {
    Action.REQUEST_INFO: "asked the customer for the information still missing",
    Action.FOLLOW_UP: "sent the customer a follow-up",
    Action.SEND_RESOLUTION: "sent the customer the resolution",
}
DRAFT_WORDING = {
    Action.REQUEST_INFO: "drafted a request for the missing information",
    Action.FOLLOW_UP: "drafted a follow-up",
    Action.SEND_RESOLUTION: "drafted the resolution",
}
OTHER_WORDING = {
    Action.RESOLVE_CASE: "the customer accepted the resolution; the case is resolved",
    Action.ROUTE_TO_REP: "handed the case to a representative",
    Action.CLOSE_CASE: "closed the case: the follow-ups went unanswered",
    Action.UPDATE_ONLY: "recorded the new details; the case stays with a representative",
}


def summarize(outcome: TurnOutcome, case_number: str | None, needs_review: bool) -> str:
    """One line for a copilot's user: what happened, and what waits for whom."""
    action = outcome.action
    if action in DRAFT_WORDING and needs_review:
        text = f"{DRAFT_WORDING[action]}; it waits for a representative's review"
    elif action in SENT_WORDING and outcome.outbound is Outbound.SENT:
        text = SENT_WORDING[action]
    elif action in OTHER_WORDING:
        text = OTHER_WORDING[action]
    elif outcome.note:
        text = outcome.note
    else:
        text = "nothing to do"
    if action is Action.ROUTE_TO_REP and outcome.note:
        text += f" ({_shorten(outcome.note)})"
    return f"{case_number}: {text}" if case_number else text[:1].upper() + text[1:]


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def result_from_outcome(outcome: TurnOutcome, *, case_id: int | None, case_number: str | None,
                        review_request: dict[str, Any] | None = None, language: str | None = None) -> CaseResult:
    needs_review = (review_request is not None or outcome.outbound is Outbound.DRAFTED
                    or outcome.status is CaseStatus.PENDING_REVIEW)
    response_type = RESPONSE_TYPES.get(outcome.action, ResponseType.NO_ACTION)
    if outcome.action is Action.SEND_RESOLUTION and outcome.status is CaseStatus.RESOLVED:
        response_type = ResponseType.RESOLVE_CASE  # a custom agent's ResolveCase: sent, and resolved
    return CaseResult(
        response_type=response_type, needs_review=needs_review,
        case_number=case_number, case_id=case_id, status=outcome.status,
        summary=summarize(outcome, case_number, needs_review), action=outcome.action, outbound=outcome.outbound,
        thread_id=thread_id_for(case_number) if case_number else None, review_request=review_request,
        language=language,
    )


def _result_from_turn(turn: TurnResult, store: CaseStore) -> CaseResult:
    outcome = turn.outcome
    if outcome.status is None and turn.case_id is not None:
        outcome = outcome.model_copy(update={"status": CaseStatus(store.case(turn.case_id).status)})
    return result_from_outcome(outcome, case_id=turn.case_id, case_number=turn.case_number,
                               review_request=turn.pending_review,
                               language=store.case(turn.case_id).language if turn.case_id is not None else None)


def _state_result(record: CaseRecord, note: str, review_request: dict[str, Any] | None = None) -> CaseResult:
    """NoAction: the case as it stands."""
    outcome = TurnOutcome(action=None, status=record.status, note=note)
    result = result_from_outcome(outcome, case_id=record.id, case_number=record.number,
                                 review_request=review_request, language=record.language)
    return result.model_copy(update={"needs_review": result.needs_review or record.pending_review})


def _nothing_due_note(status: CaseStatus) -> str:
    if status is CaseStatus.PENDING_REVIEW:
        return "a draft waits for a representative's review; nothing else to do"
    return f"nothing due (status {status.value})"


def outside_any_run(fn: Callable[[], T]) -> T:
    """Call ``fn`` detached from an enclosing LangGraph run (a copilot's node or tool).

    A graph invoked inside a node picks up the caller's run config from a context variable;
    what it inherits decides whether it runs as the caller's subgraph, in the caller's
    checkpoint namespace, with its interrupt pausing the caller. The case agent must instead run
    on the case's own thread, and report a draft awaiting review as ``needs_review``. LangGraph
    1.2 already starts a fresh lineage for an explicit ``thread_id``; detaching keeps that
    guarantee whatever the version. The price: the case agent's run is traced on its own."""
    context = contextvars.copy_context()

    def detached() -> T:
        var_child_runnable_config.set(None)
        return fn()

    return context.run(detached)


# --------------------------------------------------------------------------------------------
# in process
# --------------------------------------------------------------------------------------------


class LocalCaseSubAgent:
    """The sub-agent over a :class:`CaseAgent` in this process."""

    def __init__(self, agent: CaseAgent):
        self.agent = agent

    def handle(self, request: CaseRequest) -> CaseResult:
        log.info("sub-agent request: case=%s email=%s", request.case, request.email is not None)
        return outside_any_run(lambda: self._handle(request))

    __call__ = handle

    def _handle(self, request: CaseRequest) -> CaseResult:
        env = self.agent.env
        case = find_case_ref(env.store, request.case) if request.case is not None else None
        if request.email is None:
            assert case is not None
            return self._due_on(case)
        raw = email_source(request.email, env.catalog.mailbox, env.clock.now())
        if case is not None:  # store it on that case first: process_email then finds it there
            email = parse_email(raw, own_addresses=[env.catalog.mailbox])
            with env.store.unit_of_work():
                receive(env.catalog, env.store, env.clock, email, case=case)
        return _result_from_turn(self.agent.process_email(raw), env.store)

    def _due_on(self, case: Case) -> CaseResult:
        turns = self.agent.tick([case.id])
        if turns:
            return _result_from_turn(turns[0], self.agent.env.store)
        record = case_record(self.agent.env, self.agent.env.store.case(case.id))
        return _state_result(record, _nothing_due_note(record.status), self.agent.pending_review(case.id))


@contextmanager
def open_subagent(context: Context) -> Iterator[LocalCaseSubAgent]:
    """A sub-agent whose pauses are checkpointed beside a SQLite store, as the CLI's are:
    a draft it leaves can then be answered with ``case-agent review``."""
    with open_checkpointer(context.db_url) as checkpointer:
        yield LocalCaseSubAgent(CaseAgent(context, checkpointer))


# --------------------------------------------------------------------------------------------
# against a LangGraph server
# --------------------------------------------------------------------------------------------


class RemoteCaseSubAgent:
    """The sub-agent on a LangGraph server (``langgraph dev`` / ``make serve``), through ``RemoteGraph``.

    ``context`` is sent with every run (``catalog_path``, ``db_url``, ``automation``); leave it out
    to use the server's environment (``CASE_AGENT_DB``, ``CASE_AGENT_CATALOG``), which is also what
    Agent Inbox's resumes get, as it sends no context.
    """

    def __init__(self, url: str | None = None, *, context: dict[str, Any] | None = None,
                 sync_client: Any = None, agent_graph_id: str = AGENT_GRAPH_ID,
                 mailroom_graph_id: str = MAILROOM_GRAPH_ID):
        from langgraph.pregel.remote import RemoteGraph

        self.context = context
        self.mailroom = RemoteGraph(mailroom_graph_id, url=url, sync_client=sync_client)
        self.agent = RemoteGraph(agent_graph_id, url=url, sync_client=sync_client)

    def handle(self, request: CaseRequest) -> CaseResult:
        log.info("remote sub-agent request: case=%s email=%s", request.case, request.email is not None)
        return outside_any_run(lambda: self._handle(request))

    __call__ = handle

    def _handle(self, request: CaseRequest) -> CaseResult:
        payload = request.model_dump(mode="json", by_alias=True, exclude_none=True)
        located = MailroomResult.model_validate(self.mailroom.invoke(payload, context=self.context))
        record = located.case_record
        if record is None or located.thread_id is None:
            return result_from_outcome(TurnOutcome(action=Action.IGNORE, note=located.note), case_id=None,
                                       case_number=None)
        if located.duplicate:
            return _state_result(record, located.note)
        if located.message_pk is not None:
            return self._run(record, located.thread_id, run_input(message_pk=located.message_pk, case_id=record.id))
        if located.follow_up_due:
            return self._run(record, located.thread_id, run_input(trigger=Trigger.TICK, case_id=record.id))
        return _state_result(record, _nothing_due_note(record.status))

    def _run(self, record: CaseRecord, thread_id: str, graph_input: dict[str, Any]) -> CaseResult:
        output = self.agent.invoke(graph_input, {"configurable": {"thread_id": thread_id}}, context=self.context,
                                   version="v2")
        outcome = TurnOutcome.model_validate(output.value.get("outcome") or {"action": None, "status": record.status})
        review = pending_request(output.interrupts)
        if review is not None:
            outcome = outcome.model_copy(update={"outbound": Outbound.DRAFTED})
        return result_from_outcome(outcome, case_id=record.id, case_number=record.number, review_request=review,
                                   language=output.value.get("language") or record.language)


# --------------------------------------------------------------------------------------------
# LangChain tool and LangGraph subgraph
# --------------------------------------------------------------------------------------------


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


__all__ = [
    "CaseRecord", "CaseRequest", "CaseResult", "EmailFields", "LocalCaseSubAgent", "MailroomResult",
    "RemoteCaseSubAgent", "ResponseType", "SubAgent", "SubAgentError", "case_agent_subgraph", "case_agent_tool",
    "email_source", "locate", "mailroom_graph", "open_subagent", "result_from_outcome",
]
