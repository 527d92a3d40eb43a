"""Accounting of model calls: one :class:`ModelCall` per step (retries included), and the
:class:`ModelUsage` counters of a brain's lifetime (calls, tokens, fallbacks, what code refused).

Tokens are read from each answer's ``usage_metadata``: the figures langchain-core's
``UsageMetadataCallbackHandler`` sums, but per call, so each :class:`ModelCall` holds its own tokens
without a handler per call.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agent_graph.brain.llm.retries import FallbackReason


class ModelCall(BaseModel):
    """One model call (one step: understand, compose or handoff), retries included."""

    step: Literal["understand", "compose", "handoff"]
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
    handoff_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    latency_seconds: float = 0.0
    fallbacks: dict[str, int] = Field(default_factory=dict, description="steps done by the offline engine, by reason")
    dropped_values: int = Field(default=0, description="values whose span did not support them")
    held_drafts: int = Field(default=0, description="drafted emails not sent: ungrounded details")
    refused_handoffs: int = Field(default=0, description="hand-off summaries not used: ungrounded details, or "
                                                         "words to the customer")
    injection_flags: int = Field(default=0, description="emails the model found trying to instruct the agent")
    contradicted_intents: int = Field(default=0, description="model intents the offline classifier contradicted")

    def add(self, call: ModelCall) -> None:
        self.calls += 1
        self.attempts += call.attempts
        if call.step == "understand":
            self.understand_calls += 1
        elif call.step == "compose":
            self.compose_calls += 1
        else:
            self.handoff_calls += 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        self.cached_prompt_tokens += call.cached_prompt_tokens
        self.latency_seconds += call.latency_seconds
        if call.reason is not None:
            self.fallbacks[call.reason.value] = self.fallbacks.get(call.reason.value, 0) + 1


def usage_of(raw: Any) -> tuple[int, int, int]:
    usage = getattr(raw, "usage_metadata", None) or {}
    details = usage.get("input_token_details") or {}
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), int(details.get("cache_read", 0) or 0)
