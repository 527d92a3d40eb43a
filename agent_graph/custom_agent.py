"""Custom agents: an intent's resolution done by another agent (formats.md §1 ``agent``, docs/server.md).

The case agent calls the custom agent with ``{"caseId": "<case number>"}`` on one conversation per
case; the custom agent reads the case through :func:`get_case` (in process, or the ``GET
/cases/{case}`` route of the LangGraph server), does the work, and answers an :class:`AgentAnswer`.
What the answer may cause is decided in ``nodes/custom_agent.py``, through the same guards as any
email: the model proposes, code disposes, and a custom agent is one more proposer.

Three transports, one answer type:

* ``graph``: a LangGraph graph or any Runnable in this process (``package.module:attribute``; the
  module is looked for first in the folder of the file that names it, then on the Python path);
* ``remote``: a graph on a LangGraph server, through ``RemoteGraph`` (the conversation is the
  server's thread);
* ``http``: a plain JSON POST of ``{"caseId": ..., "conversationId": ...}``.
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib
import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent_graph.catalog import CustomAgentRef
from agent_graph.context import Context, Services, services
from agent_graph.cpu_slots import waiting
from agent_graph.domain import ResponseType
from agent_graph.errors import CaseAgentError, bounded
from agent_graph.store import Case, CaseStore

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 20_000
"""Longest message a custom agent may answer; a longer one is an invalid answer."""

CONVERSATION_NAMESPACE = uuid.UUID("0b6f5d1e-3f0c-4b8e-9a57-1f2d6c7e8a90")


class CustomAgentError(CaseAgentError):
    """A custom agent could not be reached, loaded or asked (the case goes to a representative)."""


class CaseAccessError(CaseAgentError):
    """A custom agent asked for a case other than the one it was called for, or one that does not exist."""


# --------------------------------------------------------------------------------------------
# the contract
# --------------------------------------------------------------------------------------------


class HandlingOptions(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    needs_review: bool = Field(default=False, alias="needsReview",
                               description="draft the message for a representative even under full automation")


class AgentAnswer(BaseModel):
    """A custom agent's answer. Keys beyond these are ignored; a missing or wrong one makes the
    answer invalid, and an invalid answer sends nothing: the case goes to a representative."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    response_type: ResponseType = Field(alias="responseType")
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS)
    handling_options: HandlingOptions = Field(default_factory=HandlingOptions, alias="handlingOptions")

    @model_validator(mode="after")
    def _message_when_said(self) -> AgentAnswer:
        if self.response_type is not ResponseType.NO_ACTION and not self.message.strip():
            raise ValueError(f"a {self.response_type.value} answer needs a message")
        return self

    @property
    def needs_review(self) -> bool:
        """``needsReview`` counts with Question and Resolved only."""
        return self.handling_options.needs_review and self.response_type in (ResponseType.QUESTION,
                                                                              ResponseType.RESOLVED)


class Customer(BaseModel):
    email: str
    name: str | None = None


class CustomerText(BaseModel):
    at: datetime
    text: str


class CaseView(BaseModel):
    """What a custom agent may read of the case it was called for, and nothing of any other."""

    model_config = ConfigDict(populate_by_name=True)

    number: str
    status: str
    intent: str | None
    fields: dict[str, str]
    customer: Customer
    new_texts: list[CustomerText] = Field(alias="newTexts",
                                          description="the new text of each of the customer's emails, oldest first")

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# --------------------------------------------------------------------------------------------
# reading the case: get_case
# --------------------------------------------------------------------------------------------

_called_for: contextvars.ContextVar[tuple[Services, int] | None] = contextvars.ContextVar(
    "case_agent_custom_agent_case", default=None)
"""Inside an in-process call: the store to read and the one case the custom agent may read."""


def find_case(store: CaseStore, ref: str | int) -> Case:
    """A case by number (``CAS-000123``) or id; CaseAccessError when there is none."""
    case = store.case_by_ref(ref)
    if case is None:
        raise CaseAccessError(f"no case {bounded(str(ref).strip(), 40)!r}")
    return case


def case_view(env: Services, case: Case) -> CaseView:
    fields = env.store.field_values(case.id)
    texts = [CustomerText(at=m.at, text=m.new_text) for m in env.store.customer_messages(case.id)]
    return CaseView(number=case.number or str(case.id), status=case.status, intent=case.intent, fields=fields,
                    customer=Customer(email=case.customer_email, name=case.customer_name), new_texts=texts)


def get_case(case_id: str | int, context: Context | None = None) -> CaseView:
    """The case a custom agent was called for (``caseId``: its number, or its id).

    Inside an in-process call it reads the caller's store and refuses any other case; elsewhere (a
    custom agent served by the LangGraph server) it reads the store of ``context`` or of the
    environment (``CASE_AGENT_DB``), as the server's ``GET /cases/{case}`` route does."""
    scope = _called_for.get()
    env = scope[0] if scope is not None else services(context)
    with env.store.unit_of_work(read_only=True):
        case = find_case(env.store, case_id)
        if scope is not None and case.id != scope[1]:
            raise CaseAccessError(f"this custom agent was called for another case: it may not read {case_id!r}")
        return case_view(env, case)


def _get_case_for_tool(case_id: str) -> dict[str, Any]:
    return get_case(case_id).as_json()


get_case_tool = StructuredTool.from_function(
    func=_get_case_for_tool, name="get_case",
    description="Read the support case you were called for: number, status, intent, fields, customer and the "
                "customer's new texts. case_id is the caseId you were given.",
)
""":func:`get_case` as a LangChain tool, for a custom agent whose model calls tools."""


# --------------------------------------------------------------------------------------------
# calling the agent
# --------------------------------------------------------------------------------------------


class AgentCall(BaseModel):
    """One call of a custom agent, as recorded on the case timeline."""

    agent: str
    conversation_id: str
    request: dict[str, Any]
    answer: AgentAnswer | None = None
    error: str | None = None
    latency_ms: float

    def summary(self) -> str:
        took = f"{self.latency_ms / 1000:.2f} s"
        if self.answer is None:
            return f"{self.agent} failed after {took}: {self.error}"
        review = ", needs review" if self.answer.needs_review else ""
        text = f": {bounded(self.answer.message, 160)}" if self.answer.message else ""
        return f"{self.agent} answered {self.answer.response_type.value}{review} in {took}{text}"

    def detail(self) -> dict[str, Any]:
        return {"agent": self.agent, "conversation_id": self.conversation_id, "request": self.request,
                "answer": self.answer.model_dump(mode="json", by_alias=True) if self.answer else None,
                "error": self.error, "latency_ms": round(self.latency_ms, 1)}


def conversation_id_for(case_number: str) -> str:
    """One conversation (LangGraph thread, ``conversationId``) per case, the same for every call;
    a UUID, as the LangGraph server requires for thread ids."""
    return str(uuid.uuid5(CONVERSATION_NAMESPACE, case_number))


def call_custom_agent(env: Services, ref: CustomAgentRef, case: Case) -> AgentCall:
    """Ask the agent about the case; never raises: a failure is the call's ``error``."""
    number = case.number or str(case.id)
    request = {"caseId": number}
    conversation = conversation_id_for(number)
    started = time.perf_counter()
    answer, error = None, None
    try:
        raw = _within(ref.timeout, lambda: _invoke(ref, request, conversation), (env, case.id))
        answer = AgentAnswer.model_validate(_as_mapping(raw))
    except TimeoutError:
        error = f"no answer within {ref.timeout:g} s"
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors())
        error = f"invalid answer ({bounded(problems, 300)})"
    except Exception as exc:
        log.info("custom agent %s failed on %s", ref.label, number, exc_info=True)
        error = f"{type(exc).__name__}: {bounded(str(exc), 300)}"
    latency = (time.perf_counter() - started) * 1000
    return AgentCall(agent=ref.label, conversation_id=conversation, request=request, answer=answer, error=error,
                     latency_ms=latency)


def _as_mapping(raw: Any) -> Any:
    return raw.model_dump(by_alias=True) if isinstance(raw, BaseModel) else raw


def _within(timeout: float, call: Callable[[], Any], scope: tuple[Services, int]) -> Any:
    """``call()`` in a daemon thread, given ``timeout`` seconds; TimeoutError after that (the thread
    is left to finish on its own: its answer is ignored).

    The thread sees the case it may read (:func:`get_case`) and is detached from the case agent's
    own LangGraph run, so an in-process graph runs as a graph of its own, not as a subgraph."""
    context = contextvars.copy_context()
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        var_child_runnable_config.set(None)
        _called_for.set(scope)
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=context.run, args=(run,), name="custom-agent", daemon=True)
    worker.start()
    with waiting():  # other cases may run meanwhile (cpu_slots.py)
        worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if failure:
        raise failure[0]
    return outcome[0]


def _invoke(ref: CustomAgentRef, request: dict[str, Any], conversation: str) -> Any:
    config: RunnableConfig = {"configurable": {"thread_id": conversation}}
    if ref.graph is not None:
        return load_graph(ref).invoke(request, config)
    if ref.remote is not None:
        from langgraph.pregel.remote import RemoteGraph
        from langgraph_sdk import get_sync_client

        client = get_sync_client(url=ref.remote.url, api_key=None, timeout=ref.timeout)
        return RemoteGraph(ref.remote.graph, sync_client=client).invoke(request, config)
    assert ref.http is not None
    import httpx

    response = httpx.post(ref.http, json={**request, "conversationId": conversation}, timeout=ref.timeout)
    response.raise_for_status()
    return response.json()


# --------------------------------------------------------------------------------------------
# loading an in-process graph
# --------------------------------------------------------------------------------------------

_lock = threading.Lock()
_modules: dict[Path, ModuleType] = {}


def load_graph(ref: CustomAgentRef) -> Runnable[Any, Any]:
    """The Runnable ``ref.graph`` names; CustomAgentError when it cannot be loaded."""
    assert ref.graph is not None
    module_name, _, attribute = ref.graph.partition(":")
    target: Any = agent_module(module_name, ref._folder)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CustomAgentError(f"agent graph {ref.graph}: module {module_name} has no {attribute}") from None
    if not isinstance(target, Runnable):
        raise CustomAgentError(f"agent graph {ref.graph} is a {type(target).__name__}, not a LangGraph graph "
                               "or a Runnable")
    return target


def agent_module(name: str, folder: Path | None) -> ModuleType:
    """A module beside the catalog (or suite) that names it, else one on the Python path."""
    path = folder / (name.replace(".", "/") + ".py") if folder is not None else None
    if path is None or not path.is_file():
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            where = f" nor in {folder}" if folder is not None else ""
            raise CustomAgentError(f"agent module {name} is not on the Python path{where}: {exc}") from None
    with _lock:
        if path not in _modules:
            unique = f"case_agent_custom_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
            spec = importlib.util.spec_from_file_location(unique, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[unique]
                raise CustomAgentError(f"agent module {path} failed to load: {type(exc).__name__}: {exc}") from exc
            _modules[path] = module
        return _modules[path]
