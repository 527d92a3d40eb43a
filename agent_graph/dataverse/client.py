"""Dataverse Web API v9.2 calls the case sync makes, each safe to repeat.

- Rows the agent creates get their id from the agent (uuid5 of what they stand for) and are
  created with ``PATCH …(id)`` and ``If-None-Match: *``: a repeat answers 412 and changes
  nothing, so a crash between Dataverse's answer and the store's commit never makes two.
- Updates carry ``If-Match`` (the row's ETag): never an accidental upsert; on 412 the row
  is read again and the update re-applied.
- A resolved or cancelled case is reactivated before it is edited (Dataverse refuses edits of a
  closed case).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any
from urllib.parse import quote

from agent_graph.microsoft import Application, MicrosoftRefused, MicrosoftSettings, RestClient, slots_for

API_PATH = "/api/data/v9.2"
CONCURRENCY = 8
"""Requests in flight per environment (Dataverse allows 52 per user and web server)."""
UPDATE_TRIES = 3
FRESH = {"If-None-Match": "null"}
"""On reads, as Microsoft recommends: no cached answer."""

NAMESPACE = uuid.UUID("2b0e9f64-0d6c-4d0f-9f0e-6a1f3c1d7e55")


def row_id(kind: str, key: str) -> str:
    """The Dataverse id of the row the agent makes for ``key`` (the same on every retry). Dataverse's
    own word for a row is now "row" (formerly "record"), for a table "table" (the Web API still says
    "entity set")."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


class IncidentState:
    ACTIVE = 0
    RESOLVED = 1
    CANCELLED = 2
    IN_PROGRESS = 1
    """statuscode of an active case."""
    PROBLEM_SOLVED = 5
    INFORMATION_PROVIDED = 1000


class Dataverse:
    def __init__(self, settings: MicrosoftSettings, application: Application | None = None):
        if not settings.dataverse_url:
            raise ValueError("no Dataverse URL")
        self.url = settings.dataverse_url
        self.client = RestClient(application or Application(settings), self.url + API_PATH, f"{self.url}/.default",
                                 {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"},
                                 slots_for(self.url, CONCURRENCY), f"Dataverse {self.url}")
        self._queues: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- generic -----------------------------------------------------------------------------
    def find(self, entity_set: str, column: str, value: str, key: str) -> str | None:
        """The id (``key`` column) of the first ``entity_set`` row whose ``column`` equals ``value``."""
        literal = quote(value.replace("'", "''"))
        found = self.client.request("GET", f"{entity_set}?$select={key}&$filter={column} eq '{literal}'&$top=1",
                                    headers={**FRESH, "Prefer": "odata.maxpagesize=1"}).json()
        rows = found.get("value") or []
        return str(rows[0][key]) if rows else None

    def create(self, entity_set: str, row: str, body: dict[str, Any]) -> bool:
        """Create ``entity_set(row)`` unless it exists; True when this call created it."""
        try:
            self.client.request("PATCH", f"{entity_set}({row})", json=body, headers={"If-None-Match": "*"},
                                expect=(200, 201, 204))
        except MicrosoftRefused as exc:
            if exc.status == 412:  # made by an earlier attempt
                return False
            raise
        return True

    def read(self, entity_set: str, row: str, columns: str) -> dict[str, Any]:
        return dict(self.client.request("GET", f"{entity_set}({row})?$select={columns}", headers=FRESH).json())

    def update(self, entity_set: str, row: str, body: dict[str, Any], etag: str = "*") -> None:
        self.client.request("PATCH", f"{entity_set}({row})", json=body, headers={"If-Match": etag},
                            expect=(200, 204))

    # --- cases ---------------------------------------------------------------------------------
    def contact_for(self, email: str, name: str | None) -> str:
        """The contact with this email address, created when there is none."""
        found = self.find("contacts", "emailaddress1", email, "contactid")
        if found:
            return found
        contact = row_id("contact", email.lower())
        first, _, last = (name or "").strip().rpartition(" ")
        self.create("contacts", contact, {"emailaddress1": email, "firstname": first or None,
                                          "lastname": last or email.split("@")[0]})
        return contact

    def incident(self, incident: str) -> dict[str, Any]:
        return self.read("incidents", incident, "incidentid,statecode,statuscode")

    def reopen(self, incident: str, etag: str) -> None:
        self.update("incidents", incident, {"statecode": IncidentState.ACTIVE,
                                            "statuscode": IncidentState.IN_PROGRESS}, etag)

    def update_case(self, incident: str, columns: dict[str, Any]) -> bool:
        """Set ``columns`` on the case, reactivating it first when it is closed; True when it was closed."""
        reopened = False
        for attempt in range(1, UPDATE_TRIES + 1):
            current = self.incident(incident)
            etag = str(current.get("@odata.etag") or "*")
            try:
                if current.get("statecode") != IncidentState.ACTIVE:
                    self.reopen(incident, etag)
                    reopened = True
                    continue
                self.update("incidents", incident, columns, etag)
                return reopened
            except MicrosoftRefused as exc:
                if exc.status != 412 or attempt == UPDATE_TRIES:  # 412: changed meanwhile, read it again
                    raise
        raise MicrosoftRefused(f"Dataverse: case {incident} kept changing while it was updated", 412)

    def make_active(self, incident: str) -> None:
        current = self.incident(incident)
        if current.get("statecode") != IncidentState.ACTIVE:
            self.reopen(incident, str(current.get("@odata.etag") or "*"))

    def resolve(self, incident: str, subject: str, status: int) -> None:
        """CloseIncident with an IncidentResolution (nothing to do when it is resolved already)."""
        current = self.incident(incident)
        if current.get("statecode") == IncidentState.RESOLVED:
            return
        if current.get("statecode") == IncidentState.CANCELLED:
            self.reopen(incident, str(current.get("@odata.etag") or "*"))
        self.client.request("POST", "CloseIncident", expect=(200, 204), json={
            "IncidentResolution": {"@odata.type": "Microsoft.Dynamics.CRM.incidentresolution",
                                   "subject": subject[:200], "incidentid@odata.bind": f"/incidents({incident})"},
            "Status": status})

    def queue_id(self, name: str) -> str:
        """A queue's id by its name, looked up once per process."""
        with self._lock:
            if name not in self._queues:
                found = self.find("queues", "name", name, "queueid")
                if found is None:
                    raise MicrosoftRefused(f"Dataverse {self.url}: no queue named {name!r} (create it, or map the "
                                           "line of business to another in the catalog's dataverse.queues)", 404)
                self._queues[name] = found
            return self._queues[name]

    def add_to_queue(self, incident: str, queue: str) -> None:
        self.make_active(incident)
        self.client.request("POST", f"queues({self.queue_id(queue)})/Microsoft.Dynamics.CRM.AddToQueue",
                            json={"Target": {"@odata.type": "Microsoft.Dynamics.CRM.incident",
                                             "incidentid": incident}})
