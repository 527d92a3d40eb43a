"""HTTP routes the LangGraph server serves beside its own (``langgraph.json`` ``http.app``).

``GET /cases/{case}``: the case a custom agent was called for (``caseId``: its number, or its id),
as :func:`agent_graph.custom_agent.get_case` returns it, from the server's store
(``CASE_AGENT_DB``). One case per request; there is no route that lists cases.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent_graph.custom_agent import CaseAccessError, get_case


async def case_for_agent(request: Request) -> JSONResponse:
    try:
        view = await run_in_threadpool(get_case, request.path_params["case"])
    except CaseAccessError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    return JSONResponse(view.as_json())


app = Starlette(routes=[Route("/cases/{case}", case_for_agent, methods=["GET"])])
