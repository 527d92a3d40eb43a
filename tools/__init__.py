"""The tools the agent's nodes use, and other agents may call directly.

Each tool takes the resolved services and typed (pydantic) arguments, and refuses what the
policy forbids with :class:`agent_graph.errors.PolicyViolation` — whoever calls it.
"""

from tools.close_case import CloseCaseArgs, close_case
from tools.draft_email import DraftEmailArgs, draft_email
from tools.lookup_intent import LookupIntentArgs, lookup_intent
from tools.request_info import RequestInfoArgs, request_info
from tools.resolve_case import ResolveCaseArgs, resolve_case
from tools.route_to_rep import RouteToRepArgs, route_to_rep
from tools.send_email import SendEmailArgs, send_email
from tools.update_case_fields import UpdateCaseFieldsArgs, update_case_fields

__all__ = [
    "CloseCaseArgs", "DraftEmailArgs", "LookupIntentArgs", "RequestInfoArgs", "ResolveCaseArgs", "RouteToRepArgs",
    "SendEmailArgs", "UpdateCaseFieldsArgs", "close_case", "draft_email", "lookup_intent", "request_info",
    "resolve_case", "route_to_rep", "send_email", "update_case_fields",
]
