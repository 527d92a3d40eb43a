"""``--cases dataverse``: Dataverse (Dynamics 365 Customer Service) as the cases' system of record.

The agent's store keeps its working state (runs, outbox, checkpoints); Dataverse gets what a
Dynamics user sees. :class:`~agent_graph.dataverse.sync.CaseSync` compares the store with what
was already sent and writes the difference to an outbox of operations (``dataverse_operations``),
then runs them, in order per case:

- a new case: an ``incident`` linked to the customer's contact (found by email address or
  created), title, description (≤ 2,000 characters), origin Email, the catalog's ``dataverse:``
  columns (intent, line of business, attributes);
- each inbound and each delivered outbound email: an email activity regarding the case;
- a change of title, intent, LOB or attributes: an update with ``If-Match``;
- resolved or closed: ``CloseIncident`` (Problem Solved, or Information Provided when closed
  after the follow-ups); with a representative: ``AddToQueue`` of the LOB's queue; active again:
  reactivated.

Each operation is idempotent (docs/microsoft.md says how); one that fails stays in the outbox and
is retried later (``Retry-After`` when Dataverse throttles, doubling waits otherwise), so an
outage never loses an email or blocks the mailbox.
"""
