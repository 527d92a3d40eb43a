"""The language-model brain: any OpenAI-compatible chat model behind the brain interface.

One structured call per inbound email (``understand``) and, only where no template fits or a
template wraps ``message``, one call to word an email (``compose``). The model proposes; code
disposes (``llm_guard.py`` here, then the graph's own guards):

- the intent must be one of the catalog's (``record_fields`` makes any other unidentified);
- a value is kept only when its quoted span is in the customer's text and reads as the value;
- "accepts" (which resolves a case) needs the offline reply reader's agreement;
- a drafted email with an address, link, phone number, amount or reference found in none of
  its sources raises :class:`~agent_graph.brain.llm_guard.UngroundedDraftError`: nothing is sent;
- a failed step (HTTP error after retries, timeout, refusal, invalid JSON, an answer that does
  not fit the schema) is done by the offline engine instead, whole: never half a model answer.

Providers: OpenAI, Azure OpenAI, or any OpenAI-compatible server by base URL (vLLM, Ollama,
LM Studio, a gateway). Settings come from environment variables (:class:`LLMSettings`); the
API key is read from the environment, kept as a secret, and never logged or stored. Clients
are built on first use, never at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import openai
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent_graph.brain.base import Brain, ComposeRequest, UnderstandRequest, Understanding, writes
from agent_graph.brain.llm_guard import (
    UngroundedDraftError,
    compose_sources,
    reconcile_reply,
    span_in_texts,
    supported_value,
    ungrounded_details,
)
from agent_graph.brain.replies import asks_for_person
from agent_graph.brain.types import ExtractedValue, IntentGuess, ReplyKind
from agent_graph.catalog import Attribute, AutomationLevel, Catalog
from agent_graph.cpu_slots import waiting
from agent_graph.errors import CaseAgentError, WrongLanguageError
from agent_graph.intake import is_first_subject
from agent_graph.template_engine import MissingDetail, missing_details

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

log = logging.getLogger(__name__)

PROMPTS_ENV = "CASE_AGENT_PROMPTS"
DEFAULT_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
PROMPT_FILES = ("understand.system.md", "understand.user.md", "draft.system.md", "draft.user.md")
UNDERSTAND_SCHEMA_NAME = "understanding"
DRAFT_SCHEMA_NAME = "drafted_email"
NO_INTENT = "none"


# --- configuration ---------------------------------------------------------------------------

class LLMConfigError(CaseAgentError):
    """The language-model brain is not configured well enough to be built."""


class LLMProvider(StrEnum):
    OPENAI = "openai"
    AZURE_OPENAI = "azure_openai"
    COMPATIBLE = "compatible"


class StructuredMethod(StrEnum):
    """How the schema reaches the model: ``response_format`` json_schema, or a forced tool call
    (for servers without json_schema support)."""

    JSON_SCHEMA = "json_schema"
    FUNCTION_CALLING = "function_calling"


ENV_VARS: dict[str, str] = {
    "provider": "CASE_AGENT_LLM_PROVIDER",
    "model": "CASE_AGENT_LLM_MODEL",
    "base_url": "CASE_AGENT_LLM_BASE_URL",
    "temperature": "CASE_AGENT_LLM_TEMPERATURE",
    "timeout": "CASE_AGENT_LLM_TIMEOUT",
    "max_retries": "CASE_AGENT_LLM_MAX_RETRIES",
    "max_retry_wait": "CASE_AGENT_LLM_MAX_RETRY_WAIT",
    "structured_method": "CASE_AGENT_LLM_STRUCTURED_OUTPUT",
    "cross_check_intent": "CASE_AGENT_LLM_CROSS_CHECK",
    "azure_endpoint": "AZURE_OPENAI_ENDPOINT",
    "azure_deployment": "AZURE_OPENAI_DEPLOYMENT",
    "api_version": "OPENAI_API_VERSION",
}
KEY_ENV = {LLMProvider.OPENAI: "OPENAI_API_KEY", LLMProvider.COMPATIBLE: "OPENAI_API_KEY",
           LLMProvider.AZURE_OPENAI: "AZURE_OPENAI_API_KEY"}


class LLMSettings(BaseModel):
    """Which model to ask and how. Build it with :meth:`from_env` (flags override variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: LLMProvider = LLMProvider.OPENAI
    model: str | None = Field(default=None, description="model name (for Azure: optional, the deployment decides)")
    base_url: str | None = Field(default=None, description="an OpenAI-compatible server, e.g. http://localhost:8000/v1")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(default=2, ge=0, le=10, description="retries after a 429, 5xx, timeout or lost connection")
    max_retry_wait: float = Field(default=20.0, ge=0,
                                  description="longest Retry-After honoured; a longer one falls back at once")
    structured_method: StructuredMethod = StructuredMethod.JSON_SCHEMA
    cross_check_intent: bool = Field(
        default=True,
        description="when the offline classifier confidently reads another intent, the more supervised one wins")
    azure_endpoint: str | None = None
    azure_deployment: str | None = None
    api_version: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False, exclude=True)

    @model_validator(mode="after")
    def _complete(self) -> LLMSettings:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """What is missing for this provider, worded as what to set."""
        missing = []
        key_env = KEY_ENV[self.provider]
        if self.provider is LLMProvider.AZURE_OPENAI:
            if not self.azure_endpoint:
                missing.append("set AZURE_OPENAI_ENDPOINT (https://NAME.openai.azure.com)")
            if not self.api_version:
                missing.append("set OPENAI_API_VERSION (e.g. 2024-10-21)")
            if not (self.azure_deployment or self.model):
                missing.append("set AZURE_OPENAI_DEPLOYMENT (or CASE_AGENT_LLM_MODEL / --model)")
            if self.api_key is None:
                missing.append(f"set {key_env}")
        else:
            if not self.model:
                missing.append("set CASE_AGENT_LLM_MODEL (or --model)")
            if self.provider is LLMProvider.COMPATIBLE and not self.base_url:
                missing.append("set CASE_AGENT_LLM_BASE_URL (or --base-url), e.g. http://localhost:11434/v1")
            if self.provider is LLMProvider.OPENAI and self.api_key is None:
                missing.append(f"set {key_env}")
        return missing

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMSettings:
        """Settings from the environment (see ``ENV_VARS``); keyword overrides (CLI flags) win
        when not None. Raises LLMConfigError naming what to set."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {field: env[var] for field, var in ENV_VARS.items() if env.get(var)}
        data.update({k: v for k, v in overrides.items() if v is not None and k != "api_key"})
        if "provider" not in data and data.get("base_url"):
            data["provider"] = LLMProvider.COMPATIBLE
        try:
            provider = LLMProvider(data.get("provider", LLMProvider.OPENAI))
        except ValueError:
            raise LLMConfigError(f"unknown language-model provider {data.get('provider')!r} "
                                 f"({ENV_VARS['provider']} or --provider): use one of "
                                 f"{', '.join(p.value for p in LLMProvider)}") from None
        key = overrides.get("api_key") or env.get(KEY_ENV[provider])
        if key:
            data["api_key"] = key
        try:
            return cls(**data)
        except ValidationError as exc:
            problems = "; ".join(_problem(e) for e in exc.errors())
            raise LLMConfigError(f"the language-model brain ({provider.value}) is not configured: {problems}") \
                from None

    def describe(self) -> str:
        """For logs and reports. Never holds the key."""
        if self.provider is LLMProvider.AZURE_OPENAI:
            return (f"azure_openai deployment {self.azure_deployment or self.model} at {self.azure_endpoint} "
                    f"(api-version {self.api_version})")
        where = self.base_url or "api.openai.com"
        return f"{self.provider.value} model {self.model} at {where}"


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if not where:
        return message
    env = ENV_VARS.get(where)
    return f"{where}{f' ({env})' if env else ''}: {message}"


# --- prompts ---------------------------------------------------------------------------------

class Prompts(BaseModel):
    """The prompt files of both steps, and their version (recorded on every model answer)."""

    model_config = ConfigDict(frozen=True)

    understand_system: str
    understand_user: str
    draft_system: str
    draft_user: str
    version: str


@lru_cache(maxsize=4)
def load_prompts(directory: Path | None = None) -> Prompts:
    """Read ``prompts/`` (or $CASE_AGENT_PROMPTS). The version is ``prompts/VERSION`` plus a hash of
    the four prompt files, so an edited prompt never goes out under an old version."""
    folder = Path(directory or os.environ.get(PROMPTS_ENV) or DEFAULT_PROMPTS)
    try:
        texts = {name: (folder / name).read_text(encoding="utf-8") for name in PROMPT_FILES}
        label = (folder / "VERSION").read_text(encoding="utf-8").strip() if (folder / "VERSION").exists() else "0"
    except OSError as exc:
        raise LLMConfigError(f"cannot read the prompt files in {folder}: {exc}; set {PROMPTS_ENV} to the "
                             f"folder holding {', '.join(PROMPT_FILES)}") from None
    digest = hashlib.sha256("\0".join(texts[name] for name in PROMPT_FILES).encode()).hexdigest()[:10]
    return Prompts(understand_system=texts["understand.system.md"], understand_user=texts["understand.user.md"],
                   draft_system=texts["draft.system.md"], draft_user=texts["draft.user.md"],
                   version=f"{label}+{digest}")


def _fill(template: str, **values: str) -> str:
    """``$name`` substitution: braces and dollars inside customer text are left alone."""
    return string.Template(template).substitute(values)


def _fenced(text: str) -> str:
    """Customer text goes between markers; a text cannot close them early."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("<<<") or stripped.endswith(">>>"):
            line = line.replace("<<<", "<< <").replace(">>>", "> >>")
        out.append(line)
    return "\n".join(out)


def catalog_text(catalog: Catalog) -> str:
    """The catalog as the model reads it. The same for every email of a catalog, so it sits
    early in the prompt and a provider's prompt cache can reuse it."""
    lines: list[str] = []
    for lob in catalog.lines_of_business:
        lines.append(f"## {lob.name} (line of business `{lob.id}`)")
        for intent in lob.intents:
            lines.append(f"- intent `{intent.id}`: {intent.name}. {' '.join(intent.description.split())}".rstrip())
            if intent.examples:
                lines.append("  Examples: " + " | ".join(f'"{e}"' for e in intent.examples[:4]))
            for attribute in intent.attributes:
                facts = [attribute.type.value]
                if attribute.pattern:
                    facts.append(f"pattern {attribute.pattern}")
                if attribute.values:
                    facts.append("one of " + ", ".join(attribute.values))
                if not attribute.required:
                    facts.append("optional")
                description = f": {attribute.description}" if attribute.description else ""
                lines.append(f"  - attribute `{attribute.name}` ({'; '.join(facts)}){description}")
        lines.append("")
    return "\n".join(lines).strip()


# --- the output contracts --------------------------------------------------------------------

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


def _as_text(value: Any) -> Any:
    """A server without strict mode may send a number or a boolean where a string is due."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return value


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
        if not value.strip():
            raise ValueError("the drafted body is empty")
        return value.strip()


REPLY_KINDS = {"accepts": ReplyKind.ACCEPTS, "needs_help": ReplyKind.NEEDS_HELP}


# --- accounting ------------------------------------------------------------------------------

class FallbackReason(StrEnum):
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"
    CLIENT_ERROR = "client_error"
    REFUSAL = "refusal"
    INVALID_OUTPUT = "invalid_output"


class CallRecord(BaseModel):
    """One model call (one step: understand or compose), retries included."""

    step: Literal["understand", "compose"]
    prompt_version: str
    outcome: Literal["ok", "fallback"]
    reason: FallbackReason | None = None
    attempts: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    latency_seconds: float = 0.0


class ModelUsage(BaseModel):
    """Counters for a brain's lifetime (one eval run, or one worker process)."""

    calls: int = Field(default=0, description="model calls, one per step that asked the model")
    attempts: int = Field(default=0, description="HTTP requests, retries included")
    understand_calls: int = 0
    compose_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    latency_seconds: float = 0.0
    fallbacks: dict[str, int] = Field(default_factory=dict, description="steps done by the offline engine, by reason")
    dropped_values: int = Field(default=0, description="values whose span did not support them")
    held_drafts: int = Field(default=0, description="drafted emails not sent: ungrounded details")
    injection_flags: int = Field(default=0, description="emails the model found trying to instruct the agent")
    contradicted_intents: int = Field(default=0, description="model intents the offline classifier contradicted")

    def add(self, record: CallRecord) -> None:
        self.calls += 1
        self.attempts += record.attempts
        if record.step == "understand":
            self.understand_calls += 1
        else:
            self.compose_calls += 1
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        self.cached_prompt_tokens += record.cached_prompt_tokens
        self.latency_seconds += record.latency_seconds
        if record.reason is not None:
            self.fallbacks[record.reason.value] = self.fallbacks.get(record.reason.value, 0) + 1


# --- errors and retries ----------------------------------------------------------------------

class ModelStepError(CaseAgentError):
    """A model step that gave no usable answer; the brain falls back for that step."""

    def __init__(self, reason: FallbackReason, detail: str):
        self.reason = reason
        super().__init__(f"{reason.value}: {detail}")


class ModelFailure(BaseModel):
    """Why a model request failed, and whether trying again may help."""

    reason: FallbackReason
    retryable: bool
    retry_after: float | None = None
    detail: str


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), as seconds."""
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(float(raw) / divisor, 0.0)
        except ValueError:
            pass
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            continue
        return max((moment - datetime.now(moment.tzinfo)).total_seconds(), 0.0)
    return None


def classify_failure(exc: BaseException) -> ModelFailure | None:
    """What went wrong with a model request, and whether retrying may help. None: not a model failure."""
    from langchain_core.exceptions import ModelError, ModelRefusalError, OutputParserException

    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, openai.APITimeoutError):
        return ModelFailure(reason=FallbackReason.TIMEOUT, retryable=True, detail=detail)
    if isinstance(exc, openai.APIConnectionError):
        return ModelFailure(reason=FallbackReason.CONNECTION, retryable=True, detail=detail)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        wait = retry_after_seconds(exc.response.headers if exc.response is not None else None)
        if status == 429:
            return ModelFailure(reason=FallbackReason.RATE_LIMITED, retryable=True, retry_after=wait, detail=detail)
        if status >= 500 or status in (408, 409):
            return ModelFailure(reason=FallbackReason.SERVER_ERROR, retryable=True, retry_after=wait, detail=detail)
        return ModelFailure(reason=FallbackReason.CLIENT_ERROR, retryable=False, detail=detail)
    if isinstance(exc, openai.ContentFilterFinishReasonError | ModelRefusalError):
        return ModelFailure(reason=FallbackReason.REFUSAL, retryable=False, detail=detail)
    if isinstance(exc, openai.LengthFinishReasonError | OutputParserException | json.JSONDecodeError):
        return ModelFailure(reason=FallbackReason.INVALID_OUTPUT, retryable=False, detail=detail)
    if isinstance(exc, ModelError):
        return ModelFailure(reason=FallbackReason.SERVER_ERROR if exc.is_retryable else FallbackReason.CLIENT_ERROR,
                       retryable=exc.is_retryable, detail=detail)
    if isinstance(exc, openai.OpenAIError):
        return ModelFailure(reason=FallbackReason.CLIENT_ERROR, retryable=False, detail=detail)
    return None


def backoff_seconds(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, ... up to 8 s, with up to 25 % jitter so workers do not retry in step."""
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


# --- building the client ---------------------------------------------------------------------

def build_chat_model(settings: LLMSettings) -> BaseChatModel:
    """The LangChain chat model for the settings. Retries are ours (see ``LLMBrain._ask``), so the
    SDK's are off: we count each attempt and fall back instead of blocking on a long Retry-After."""
    from langchain_openai import AzureChatOpenAI, ChatOpenAI

    common: dict[str, Any] = {"temperature": settings.temperature, "timeout": settings.timeout, "max_retries": 0,
                              "use_responses_api": False}
    key = settings.api_key
    if settings.provider is LLMProvider.AZURE_OPENAI:
        return AzureChatOpenAI(azure_endpoint=settings.azure_endpoint,
                               azure_deployment=settings.azure_deployment or settings.model,
                               api_version=settings.api_version, api_key=key, model=settings.model, **common)
    # A local server usually wants no key, but the SDK insists on one: send a placeholder.
    return ChatOpenAI(model=settings.model or "", base_url=settings.base_url,  # model: checked by LLMSettings
                      api_key=key or SecretStr("not-needed"), **common)


def _usage_of(raw: Any) -> tuple[int, int, int]:
    usage = getattr(raw, "usage_metadata", None) or {}
    details = usage.get("input_token_details") or {}
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), int(details.get("cache_read", 0) or 0)


# --- the brain -------------------------------------------------------------------------------

class LLMBrain:
    """The brain interface on a chat model. Safe to share between threads."""

    name = "llm"
    writes_languages: frozenset[str] | None = None  # the model writes the language asked for

    def __init__(self, settings: LLMSettings | None = None, *, fallback: Brain | None = None,
                 chat_model: BaseChatModel | None = None, prompts: Prompts | None = None,
                 sleep: Callable[[float], None] = time.sleep, history: int = 1000):
        """``chat_model`` replaces the client built from the settings (tests); ``sleep`` is used
        between retries. Nothing touches the network until the first call."""
        self.settings = settings or LLMSettings.from_env()
        if fallback is None:
            from agent_graph.brain.offline import OfflineBrain

            fallback = OfflineBrain()
        self.fallback = fallback
        self.prompts = prompts or load_prompts()
        self.prompt_version = self.prompts.version
        self.usage = ModelUsage()
        self.calls = 0
        self.recent: deque[CallRecord] = deque(maxlen=history)
        self._chat_model = chat_model
        self._runnables: dict[str, Runnable] = {}
        self._sleep = sleep
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMBrain:
        return cls(LLMSettings.from_env(**overrides))

    def __repr__(self) -> str:
        return f"LLMBrain({self.settings.describe()}, prompts {self.prompt_version})"

    # --- the interface ---------------------------------------------------------------------

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        messages = self._understand_messages(catalog, request)
        try:
            answer = self._ask("understand", UNDERSTAND_SCHEMA_NAME, understanding_schema(catalog), messages,
                               ModelUnderstanding)
        except ModelStepError as exc:
            log.warning("understand: the model gave no usable answer (%s); the offline engine reads this email", exc)
            return self.fallback.understand(catalog, request)
        assert isinstance(answer, ModelUnderstanding)
        return self._dispose(catalog, request, answer)

    def compose(self, request: ComposeRequest) -> str:
        messages = self._draft_messages(request)
        try:
            answer = self._ask("compose", DRAFT_SCHEMA_NAME, DRAFT_SCHEMA, messages, ModelDraft)
        except ModelStepError as exc:
            if not writes(self.fallback, request.language):
                raise WrongLanguageError(f"the model gave no usable answer ({exc}) and the {self.fallback.name} "
                                         f"engine does not write in '{request.language}'") from exc
            log.warning("compose: the model gave no usable answer (%s); the built-in wording is used", exc)
            return self.fallback.compose(request)
        assert isinstance(answer, ModelDraft)
        written_in = answer.language.strip().lower()[:2]
        if request.language and written_in and written_in != request.language:
            raise WrongLanguageError(f"the model wrote in '{written_in}', not in the customer's language "
                                     f"'{request.language}'")
        details = ungrounded_details(answer.body, compose_sources(request))
        if details:
            with self._lock:
                self.usage.held_drafts += 1
            error = UngroundedDraftError(details, answer.body)
            log.warning("compose: %s", error)
            raise error
        return answer.body

    # --- prompts ---------------------------------------------------------------------------

    def _understand_messages(self, catalog: Catalog, request: UnderstandRequest) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        earlier = "\n-----\n".join(_fenced(t.strip()) for t in request.earlier_texts) or "(none)"
        user = _fill(
            self.prompts.understand_user,
            organisation=catalog.organisation, catalog=catalog_text(catalog),
            today=request.now.date().isoformat(), known_intent=request.known_intent or "none yet",
            awaiting_answer="yes" if request.reply_to_resolution else "no",
            subject=_fenced(request.subject.strip()), earlier=earlier, new_text=_fenced(request.new_text.strip()),
        )
        return [SystemMessage(self.prompts.understand_system), HumanMessage(user)]

    def _draft_messages(self, request: ComposeRequest) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        intent = request.intent
        missing = [_missing_line(detail) for detail in missing_details(intent, request.missing, request.language)]
        user = _fill(
            self.prompts.draft_user,
            organisation=request.organisation, purpose=request.purpose.value,
            language=request.language or "the organisation's usual language (English if unsure)",
            intent=f"{intent.name}: {' '.join(intent.description.split())}" if intent else "not identified yet",
            follow_up_number=str(request.follow_up_number),
            fields=json.dumps(request.fields, ensure_ascii=False, indent=1, sort_keys=True),
            missing="\n".join(missing) or "(nothing)", knowledge=request.knowledge.strip() or "(none)",
        )
        return [SystemMessage(self.prompts.draft_system), HumanMessage(user)]

    # --- one model call --------------------------------------------------------------------

    def _model(self) -> BaseChatModel:
        with self._lock:
            if self._chat_model is None:
                log.info("language-model brain: %s, prompts %s", self.settings.describe(), self.prompt_version)
                self._chat_model = build_chat_model(self.settings)
            return self._chat_model

    def _runnable(self, schema_name: str, schema: dict[str, Any]) -> Runnable:
        key = f"{schema_name}:{json.dumps(schema, sort_keys=True)}"
        with self._lock:
            cached = self._runnables.get(key)
        if cached is not None:
            return cached
        model = self._model()
        if self.settings.structured_method is StructuredMethod.JSON_SCHEMA:
            runnable = model.with_structured_output({"name": schema_name, "schema": schema, "strict": True},
                                                    method="json_schema", include_raw=True)
        else:
            tool = {"type": "function", "function": {"name": schema_name, "description": f"report the {schema_name}",
                                                     "parameters": schema}}
            runnable = model.with_structured_output(tool, method="function_calling", include_raw=True, strict=True)
        with self._lock:
            self._runnables[key] = runnable
        return runnable

    def _ask(self, step: Literal["understand", "compose"], schema_name: str, schema: dict[str, Any],
             messages: list[Any], output: type[BaseModel]) -> BaseModel:
        """One model call with retries; a validated answer, or ModelStepError after recording why."""
        runnable = self._runnable(schema_name, schema)
        record = CallRecord(step=step, prompt_version=self.prompt_version, outcome="ok", attempts=0)
        started = time.perf_counter()
        try:
            result = self._invoke_with_retries(runnable, messages, record)
            prompt, completion, cached = _usage_of(result.get("raw"))
            record.prompt_tokens, record.completion_tokens, record.cached_prompt_tokens = prompt, completion, cached
            return _validated(result, output)
        except ModelStepError as exc:
            record.outcome, record.reason = "fallback", exc.reason
            raise
        finally:
            record.latency_seconds = time.perf_counter() - started
            with self._lock:
                self.usage.add(record)
                self.calls = self.usage.calls
                self.recent.append(record)

    def _invoke_with_retries(self, runnable: Runnable, messages: list[Any], record: CallRecord) -> dict[str, Any]:
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            record.attempts += 1
            try:
                with waiting():
                    return runnable.invoke(messages)
            except Exception as exc:
                failure = classify_failure(exc)
                if failure is None:
                    raise
            if failure.reason is FallbackReason.CLIENT_ERROR:
                log.error("the model endpoint rejected the request (%s): check the model name, deployment, "
                          "API version and key (%s)", failure.detail, self.settings.describe())
            if not failure.retryable or attempt == attempts - 1:
                raise ModelStepError(failure.reason, failure.detail)
            wait = failure.retry_after if failure.retry_after is not None else backoff_seconds(attempt)
            if wait > self.settings.max_retry_wait:
                raise ModelStepError(FallbackReason.RETRY_AFTER_TOO_LONG,
                                     f"Retry-After {wait:.0f}s exceeds {self.settings.max_retry_wait:.0f}s "
                                     f"({failure.detail})")
            log.info("model request failed (%s); retry %d of %d in %.1fs", failure.reason.value, attempt + 1,
                     attempts - 1, wait)
            with waiting():
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- code disposes ---------------------------------------------------------------------

    def _dispose(self, catalog: Catalog, request: UnderstandRequest, answer: ModelUnderstanding) -> Understanding:
        proposed = None if answer.intent.strip() in ("", no_intent_id(catalog)) else answer.intent.strip()
        ranking = [(proposed, answer.confidence)] if proposed else []
        if request.known_intent is not None:
            guess = IntentGuess(intent_id=request.known_intent, confidence=1.0, ranking=ranking)
        else:
            # An id outside the catalog is passed on as proposed: record_fields makes it unidentified.
            guess = IntentGuess(intent_id=proposed, confidence=answer.confidence, ranking=ranking)
            if proposed is not None and catalog.intent(proposed) is None:
                log.warning("the model proposed intent %r, which is not in the catalog", proposed)
        guess = self._cross_checked(catalog, request, guess, answer.instructs_agent)
        intent = catalog.intent(guess.intent_id)
        attributes = intent.attributes if intent is not None else request.attributes_before_intent
        values = self._grounded_values(catalog, request, attributes, answer)
        reply = ReplyKind.OTHER
        if request.reply_to_resolution:
            reply = reconcile_reply(REPLY_KINDS.get(answer.reply_kind, ReplyKind.OTHER), request.new_text,
                                    request.language)
        if answer.instructs_agent:
            with self._lock:
                self.usage.injection_flags += 1
            log.warning("the customer's email tries to instruct the agent; it changes nothing (prompts %s)",
                        self.prompt_version)
        return Understanding.model_validate({
            "intent": guess, "values": values, "reply_kind": reply,
            "asks_for_person": answer.asks_for_person or asks_for_person(request.new_text, request.language),
            "language": answer.language or None, "instructs_agent": answer.instructs_agent,
            "prompt_version": self.prompt_version,
        })

    def _cross_checked(self, catalog: Catalog, request: UnderstandRequest, guess: IntentGuess,
                       instructed: bool) -> IntentGuess:
        """The intent picks the line of business, and so how much the agent may do alone: a model
        must not move a case past review by naming another intent. When the offline classifier
        confidently reads a different intent, the two readers contradict each other and the intent
        whose line of business is more supervised wins (disabled, then confirm, then full; the
        offline reading on a tie). When the email tries to instruct the agent, only the offline
        reading is taken."""
        if request.known_intent is not None or guess.intent_id is None or catalog.intent(guess.intent_id) is None:
            return guess
        if not (self.settings.cross_check_intent or instructed):
            return guess
        offline = offline_intent(catalog, request)
        if offline.intent_id == guess.intent_id:
            return guess
        ranking = [*guess.ranking, *((i, c) for i, c in offline.ranking[:2] if i != guess.intent_id)]
        chosen = IntentGuess(intent_id=offline.intent_id, confidence=offline.confidence, ranking=ranking)
        if instructed:
            log.warning("the email tries to instruct the agent: the offline intent %r is used, not the model's %r",
                        offline.intent_id, guess.intent_id)
            return chosen
        if offline.intent_id is None:
            return guess
        with self._lock:
            self.usage.contradicted_intents += 1
        if _supervision(catalog, guess.intent_id) > _supervision(catalog, offline.intent_id):
            chosen = IntentGuess(intent_id=guess.intent_id, confidence=guess.confidence, ranking=ranking)
        log.warning("the model's intent %r contradicts the offline classifier's %r (%.2f): %r is taken",
                    guess.intent_id, offline.intent_id, offline.confidence, chosen.intent_id)
        return chosen

    def _grounded_values(self, catalog: Catalog, request: UnderstandRequest, attributes: list[Attribute],
                         answer: ModelUnderstanding) -> list[ExtractedValue]:
        """The model's values for these attributes (the intent's, or those a case without intent
        may hold) that its quoted spans support, at most one per attribute."""
        by_name = {a.name: a for a in attributes}
        texts = [request.new_text]
        if request.known_intent is None:
            texts += request.earlier_texts
            if is_first_subject(request.subject):
                texts.append(request.subject)
        kept: dict[str, ExtractedValue] = {}
        dropped: list[str] = []
        for item in answer.values:
            attribute = by_name.get(item.name)
            if attribute is None or item.name in kept:
                dropped.append(f"{item.name} (not an attribute asked for, or given twice)")
                continue
            if not span_in_texts(item.span, texts):
                dropped.append(f"{item.name} (span not in the customer's text)")
                continue
            value = supported_value(attribute, item.value, item.span, now=request.now, region=catalog.default_region)
            if value is None:
                dropped.append(f"{item.name} (value {item.value!r} is not what its span {item.span!r} says, "
                               f"or not a valid {attribute.type.value})")
                continue
            kept[item.name] = ExtractedValue(name=item.name, value=value, span=item.span,
                                             extractor=f"llm:{self.prompt_version}", confidence=answer.confidence)
        if dropped:
            with self._lock:
                self.usage.dropped_values += len(dropped)
            log.info("dropped model values: %s", "; ".join(dropped))
        return list(kept.values())


SUPERVISION = {AutomationLevel.FULL: 0, AutomationLevel.CONFIRM: 1, AutomationLevel.DISABLED: 2}


def _supervision(catalog: Catalog, intent_id: str | None) -> int:
    """How closely people watch the intent's line of business (the catalog's level)."""
    lob = catalog.lob_of_intent(intent_id) if intent_id else None
    return SUPERVISION[lob.automation] if lob else 0


def offline_intent(catalog: Catalog, request: UnderstandRequest) -> IntentGuess:
    """The offline classifier's reading of an email, as the offline engine makes it."""
    from agent_graph.brain.intent import classifier_for

    classifier = classifier_for(catalog)
    subject = request.subject.strip()
    guess = classifier.predict(f"{subject}\n\n{request.new_text}" if is_first_subject(subject) else request.new_text)
    if guess.intent_id is None and request.earlier_texts:
        guess = classifier.predict("\n".join([*request.earlier_texts, request.new_text]))
    return guess


def _validated(result: dict[str, Any], output: type[BaseModel]) -> BaseModel:
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


def _missing_line(detail: MissingDetail) -> str:
    return f"- {detail['label']}" + (f" ({detail['description']})" if detail["description"] else "")


@lru_cache(maxsize=8)
def shared_brain(settings: LLMSettings) -> LLMBrain:
    """One brain per settings per process, so a worker's counters and clients are shared by every
    node of every run (``context.make_brain`` is called per node when no brain is injected)."""
    return LLMBrain(settings)
