"""Model failures and retries: what went wrong with a request, whether trying again may help, and
how long to wait (the server's Retry-After, or a jittered backoff). A step that gives no usable
answer raises :class:`ModelStepError`, and the brain falls back for that step.

The loop is ours, not the SDK's (``max_retries=0`` on the client) nor tenacity's: every attempt is
counted on the step's :class:`~agent_graph.brain.llm.usage.ModelCall`, a Retry-After longer than
``max_retry_wait`` falls back at once instead of blocking a worker (the SDK waits its own backoff
and asks again), the wait hands the thread's CPU slot back, and tests inject the sleep. With
tenacity the same needs a wait callback that raises and a second classification of the failure.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import openai
from pydantic import BaseModel

from agent_graph.cpu_slots import waiting
from agent_graph.errors import CaseAgentError

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from agent_graph.brain.llm.settings import LLMSettings
    from agent_graph.brain.llm.usage import ModelCall

log = logging.getLogger(__name__)

class FallbackReason(StrEnum):
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"
    CLIENT_ERROR = "client_error"
    REFUSAL = "refusal"
    INVALID_OUTPUT = "invalid_output"


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
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


def invoke_with_retries(runnable: Runnable[Any, Any], messages: list[Any], call: ModelCall, settings: LLMSettings,
                        sleep: Callable[[float], None]) -> dict[str, Any]:
    """Invoke the model step, retrying what may succeed on another try; ModelStepError when it gives no
    usable answer. Each attempt is counted on ``call``."""
    attempts = settings.max_retries + 1
    for attempt in range(attempts):
        call.attempts += 1
        try:
            with waiting():
                answer: dict[str, Any] = runnable.invoke(messages)
                return answer
        except Exception as exc:
            failure = classify_failure(exc)
            if failure is None:
                raise
        if failure.reason is FallbackReason.CLIENT_ERROR:
            log.error("the model endpoint rejected the request (%s): check the model name, deployment, "
                      "API version and key (%s)", failure.detail, settings.describe())
        if not failure.retryable or attempt == attempts - 1:
            raise ModelStepError(failure.reason, failure.detail)
        wait = failure.retry_after if failure.retry_after is not None else backoff_seconds(attempt)
        if wait > settings.max_retry_wait:
            raise ModelStepError(FallbackReason.RETRY_AFTER_TOO_LONG,
                                 f"Retry-After {wait:.0f}s exceeds {settings.max_retry_wait:.0f}s "
                                 f"({failure.detail})")
        log.info("model request failed (%s); retry %d of %d in %.1fs", failure.reason.value, attempt + 1,
                 attempts - 1, wait)
        with waiting():
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
