"""The language-model brain: any OpenAI-compatible chat model behind the brain interface.

One structured call per inbound email (``understand``) and, only where no template fits or a
template wraps ``message``, one call to word an email (``compose``); one call per routed case to
word its hand-off summary (``word_handoff``). The model proposes; code disposes (``llm_guard.py``
here, then the graph's own guards):

- the intent must be one of the catalog's (``save_fields`` makes any other unidentified);
- a value is kept only when its quoted span is in the customer's text and reads as the value;
- "accepts" (which resolves a case) needs the offline reply reader's agreement;
- a drafted email with an address, link, phone number, amount or reference found in none of
  its sources raises :class:`~agent_graph.brain.llm_guard.UngroundedDraftError`: nothing is sent;
- a hand-off summary with such a detail or a number the facts lack, or words to the customer,
  raises :class:`~agent_graph.brain.llm_guard.UnusableHandoffError`: the offline words are shown;
- a failed step (HTTP error after retries, timeout, refusal, invalid JSON, an answer that does
  not fit the schema) is done by the offline engine instead, whole: never half a model answer.

The modules: :mod:`.settings` (which model, from the environment; the client), :mod:`.prompts`
(the prompt files and the messages), :mod:`.schema` (the output contracts), :mod:`.retries`
(failures, retries, backoff), :mod:`.usage` (model calls and counters), :mod:`.brain` (the
brain itself).
"""
