"""Which language model to ask and how: :class:`LLMSettings` from environment variables (command-line
flags override them), and the LangChain chat model built from them.

Providers: OpenAI, Azure OpenAI, or any OpenAI-compatible server by base URL (vLLM, Ollama,
LM Studio, a gateway). The API key is read from the environment, kept as a secret, and never
logged or stored. Clients are built on first use, never at import time.

A pydantic model read by :meth:`LLMSettings.from_environment` rather than a ``pydantic-settings`` class:
the key's variable depends on the provider, a base URL alone implies an OpenAI-compatible server,
every error names the variable to set, and callers (tests, the CLI) pass their own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from agent_graph.errors import CaseAgentError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


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


VARIABLES: dict[str, str] = {
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
KEY_VARIABLES = {LLMProvider.OPENAI: "OPENAI_API_KEY", LLMProvider.COMPATIBLE: "OPENAI_API_KEY",
           LLMProvider.AZURE_OPENAI: "AZURE_OPENAI_API_KEY"}


class LLMSettings(BaseModel):
    """Which model to ask and how. Build it with :meth:`from_environment` (flags override variables)."""

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
        key_variable = KEY_VARIABLES[self.provider]
        if self.provider is LLMProvider.AZURE_OPENAI:
            if not self.azure_endpoint:
                missing.append("set AZURE_OPENAI_ENDPOINT (https://NAME.openai.azure.com)")
            if not self.api_version:
                missing.append("set OPENAI_API_VERSION (e.g. 2024-10-21)")
            if not (self.azure_deployment or self.model):
                missing.append("set AZURE_OPENAI_DEPLOYMENT (or CASE_AGENT_LLM_MODEL / --model)")
            if self.api_key is None:
                missing.append(f"set {key_variable}")
        else:
            if not self.model:
                missing.append("set CASE_AGENT_LLM_MODEL (or --model)")
            if self.provider is LLMProvider.COMPATIBLE and not self.base_url:
                missing.append("set CASE_AGENT_LLM_BASE_URL (or --base-url), e.g. http://localhost:11434/v1")
            if self.provider is LLMProvider.OPENAI and self.api_key is None:
                missing.append(f"set {key_variable}")
        return missing

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMSettings:
        """Settings from the environment (see ``VARIABLES``); keyword overrides (CLI flags) win
        when not None. Raises LLMConfigError naming what to set."""
        environ = os.environ if environ is None else environ
        data: dict[str, Any] = {field: environ[var] for field, var in VARIABLES.items() if environ.get(var)}
        data.update({k: v for k, v in overrides.items() if v is not None and k != "api_key"})
        if "provider" not in data and data.get("base_url"):
            data["provider"] = LLMProvider.COMPATIBLE
        try:
            provider = LLMProvider(data.get("provider", LLMProvider.OPENAI))
        except ValueError:
            raise LLMConfigError(f"unknown language-model provider {data.get('provider')!r} "
                                 f"({VARIABLES['provider']} or --provider): use one of "
                                 f"{', '.join(p.value for p in LLMProvider)}") from None
        key = overrides.get("api_key") or environ.get(KEY_VARIABLES[provider])
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
    variable = VARIABLES.get(where)
    return f"{where}{f' ({variable})' if variable else ''}: {message}"


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
