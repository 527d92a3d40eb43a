"""The case agent as a sub-agent: one case or one inbound email in, one typed result out.

Other agents (a custom copilot, an orchestrator) hand a case to the case agent through
:class:`CaseRequest` and get a :class:`CaseResult` back (:mod:`.contract`).

Three ways to call it, one result type:

* in process: :class:`LocalCaseSubAgent` (:mod:`.local`, around a :class:`~agent_graph.service.CaseAgent`);
* against a LangGraph server: :class:`RemoteCaseSubAgent` (:mod:`.remote`, ``RemoteGraph`` on the
  server's ``mailroom`` and ``case_agent`` graphs);
* from LangChain / LangGraph: :func:`case_agent_tool` (a ``StructuredTool``) and
  :func:`case_agent_subgraph` (a compiled graph to add as a node) (:mod:`.adapters`).

:mod:`.mailroom` stores and threads a request's email, and is the server's ``mailroom`` graph.
This package's names below are the stable entry point for other agents (docs/server.md).
"""

from agent_graph.domain import ResponseType
from agent_graph.errors import SubAgentError
from agent_graph.subagent.adapters import case_agent_subgraph, case_agent_tool
from agent_graph.subagent.contract import CaseRequest, CaseResult, EmailFields, SubAgent
from agent_graph.subagent.local import LocalCaseSubAgent, open_subagent
from agent_graph.subagent.remote import RemoteCaseSubAgent

__all__ = [
    "CaseRequest", "CaseResult", "EmailFields", "LocalCaseSubAgent", "RemoteCaseSubAgent", "ResponseType",
    "SubAgent", "SubAgentError", "case_agent_subgraph", "case_agent_tool", "open_subagent",
]
