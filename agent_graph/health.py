"""``case-agent status --check``: is the service working? For health checks (Compose, Kubernetes, cron).

Healthy when the database opens (at the newest schema, as every command brings it) and the workers
keep up: every mailbox ``run`` reads was fetched lately and its last fetch did not fail, and no
outbox email has been due for delivery for long. The database is shared, so this says whether *the
service* works, not whether one particular worker does (a dead worker's work is taken over by the
others; its container restarts on its own).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agent_graph.store import CaseStore


def health_problems(store: CaseStore, now: datetime, stale_after: timedelta) -> list[str]:
    """What is wrong, one sentence each; empty when healthy."""
    problems = []
    for position in store.mailbox_positions():
        fetched = position.last_fetch_at
        if position.last_error_at is not None and (fetched is None or position.last_error_at >= fetched):
            problems.append(f"mailbox {position.name}: the last fetch failed "
                            f"({position.last_error_at:%Y-%m-%d %H:%M:%S}): {position.last_error}")
        elif fetched is None or now - fetched > stale_after:
            since = f"{fetched:%Y-%m-%d %H:%M:%S}" if fetched else "never"
            problems.append(f"mailbox {position.name}: not fetched for over {stale_after.total_seconds():g} s "
                            f"(last: {since}); is a `case-agent run` worker up?")
    cutoff = now - stale_after
    stuck = [at for item in store.undelivered() if (at := item.next_attempt_at or item.sent_at) and at <= cutoff]
    if stuck:
        problems.append(f"outbox: {len(stuck)} email(s) due for delivery since {min(stuck):%Y-%m-%d %H:%M:%S} "
                        "or earlier and not delivered; is a `case-agent run` worker up?")
    return problems
