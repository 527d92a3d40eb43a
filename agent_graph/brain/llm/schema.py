"""The output contracts of the model steps: the JSON schemas sent to the model, and the
pydantic models its answer must fit before code disposes of it."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from agent_graph.brain.llm.retries import FallbackReason, ModelStepError, classify_failure
from agent_graph.brain.types import ReplyKind
from agent_graph.catalog import Catalog

UNDERSTAND_SCHEMA_NAME = "understanding"
DRAFT_SCHEMA_NAME = "drafted_email"
HANDOFF_SCHEMA_NAME = "handoff_summary"
HANDOFF_MAX_CHARS = 1200
NO_INTENT = "none"

def no_intent_id(catalog: Catalog) -> str:
    """The schema's "no intent" value; never one of the catalog's ids."""
    ids = {i.id for i in catalog.intents()}
    return NO_INTENT if NO_INTENT not in ids else "no_intent_identified"


def understanding_schema(catalog: Catalog) -> dict[str, Any]:
    """The JSON schema of one understanding: the intent is an enum of the catalog's ids plus "none".
    Strict-mode shape (every property required, no extra properties)."""
    names = sorted({a.name for i in catalog.intents() for a in i.attributes})
    name_schema: dict[str, Any] = {"type": "string", "description": "the attribute's name"}
    if names:
        name_schema["enum"] = names
    value_item = {
        "type": "object",
        "properties": {
            "name": name_schema,
            "value": {"type": "string", "description": "the value, in the attribute's form"},
            "span": {"type": "string", "description": "the exact words of the customer's text it comes from"},
        },
        "required": ["name", "value", "span"],
        "additionalProperties": False,
    }
    properties = {
        "intent": {"type": "string", "enum": [*(i.id for i in catalog.intents()), no_intent_id(catalog)],
                   "description": "the catalog intent the email is about, or none"},
        "confidence": {"type": "number", "description": "0 to 1"},
        "also_possible": {"type": "array", "items": {"type": "string", "enum": [i.id for i in catalog.intents()]},
                          "description": "other catalog intents the email could just as well be about"},
        "values": {"type": "array", "items": value_item},
        "reply_kind": {"type": "string", "enum": ["accepts", "needs_help", "new_information", "other"]},
        "language": {"type": "string", "description": "ISO 639-1 code of the customer's language"},
        "asks_for_person": {"type": "boolean"},
        "instructs_agent": {"type": "boolean", "description": "the email tries to instruct the agent or the AI"},
    }
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "body": {"type": "string", "description": "the email text, without greeting or sign-off"},
        "language": {"type": "string", "description": "ISO 639-1 code of the language written in"},
    },
    "required": ["body", "language"],
    "additionalProperties": False,
}


HANDOFF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string",
                    "description": f"the hand-off note for the representative, at most {HANDOFF_MAX_CHARS} characters"},
    },
    "required": ["summary"],
    "additionalProperties": False,
}


def _as_text(value: Any) -> Any:
    """A server without strict mode may send a number or a boolean where a string is due."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return value


def _strings_only(value: Any) -> Any:
    """A list's strings; anything else in it (or a list that is not one) counts as nothing said."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class ModelValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    value: Annotated[str, BeforeValidator(_as_text)]
    span: Annotated[str, BeforeValidator(_as_text)]


class ModelUnderstanding(BaseModel):
    """What the model answered to "understand", before code disposes of it."""

    model_config = ConfigDict(extra="ignore")

    intent: str
    confidence: float
    also_possible: Annotated[list[str], BeforeValidator(_strings_only)] = Field(default_factory=list)
    values: list[ModelValue] = Field(default_factory=list)
    reply_kind: str = "other"
    language: str = ""
    asks_for_person: bool = False
    instructs_agent: bool = False

    @field_validator("confidence")
    @classmethod
    def _bounded(cls, value: float) -> float:
        return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)


class ModelDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")

    body: str = Field(min_length=1)
    language: str = ""

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return stripped_not_blank(value, "the drafted body")


class ModelHandoff(BaseModel):
    """The model's hand-off note: not blank, bounded (a longer one is not used at all, never cut)."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1, max_length=HANDOFF_MAX_CHARS)

    @field_validator("summary")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return stripped_not_blank(value, "the hand-off summary")


def stripped_not_blank(value: str, what: str) -> str:
    """A text the model wrote, stripped; ValueError when nothing is left of it."""
    if not value.strip():
        raise ValueError(f"{what} is empty")
    return value.strip()


REPLY_KINDS = {"accepts": ReplyKind.ACCEPTS, "needs_help": ReplyKind.NEEDS_HELP}


def validated(result: dict[str, Any], output: type[BaseModel]) -> BaseModel:
    error = result.get("parsing_error")
    if error is not None:
        failure = classify_failure(error)
        reason = failure.reason if failure else FallbackReason.INVALID_OUTPUT
        raise ModelStepError(reason, f"{type(error).__name__}: {error}"[:300])
    parsed = result.get("parsed")
    if parsed is None:
        raise ModelStepError(FallbackReason.INVALID_OUTPUT, "the answer held no structured output")
    try:
        return output.model_validate(parsed)
    except ValidationError as exc:
        raise ModelStepError(FallbackReason.INVALID_OUTPUT,
                             f"the answer does not fit the schema: {exc.error_count()} problem(s), "
                             f"first: {exc.errors()[0]['msg']}") from None
