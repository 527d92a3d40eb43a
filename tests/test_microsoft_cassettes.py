"""The requests case-agent sends to Entra ID, Graph and Dataverse, replayed from vcrpy cassettes
(``tests/cassettes/test_microsoft_cassettes/``), so that a change in what the code sends fails
without any server: every request is matched on method, path, query and body.

**The cassettes were recorded against tests/msstandin.py, the local stand-in, not against
Microsoft** (tests/cassettes/README.md says how to re-record). Secrets and tokens are scrubbed:
the client secret in the token request, the access token in its answer, every Authorization
header; the host is one canonical name (the stand-in's port changes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from agent_graph.dataverse.client import Dataverse, row_id
from agent_graph.mail import open_inbox, open_sender
from agent_graph.microsoft import MicrosoftRefused, MicrosoftSettings, TokenRefused
from tests.msstandin import MicrosoftStandIn

MAILBOX = "support@contoso.example"
REPLAY_BASE = "https://127.0.0.1:9"  # nothing listens there: in replay, vcrpy answers before any connection
SECRET_FIELDS = ("client_secret", "client_assertion")
SCRUBBED_HEADERS = ("authorization", "host", "user-agent", "cookie", "set-cookie", "client-request-id",
                    "x-client-sku", "x-client-ver", "x-client-os", "x-client-cpu", "x-client-current-telemetry",
                    "x-client-last-telemetry", "x-ms-lib-capability", "return-client-request-id")
TOKEN = "scrubbed-access-token"


def _scrub_request(request: Any) -> Any:
    for name in list(request.headers):
        if name.lower() in SCRUBBED_HEADERS:
            del request.headers[name]
    if request.body and request.uri.endswith("/oauth2/v2.0/token"):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        request.body = urlencode([(k, "SCRUBBED" if k in SECRET_FIELDS else _canonical(v) if k == "scope" else v)
                                  for k, v in parse_qsl(body)]).encode()
    request.uri = urlsplit(request.uri)._replace(scheme="https", netloc="microsoft.invalid").geturl()
    return request


def _canonical(url: str) -> str:
    """A URL on the canonical host when it is the stand-in's (a Dataverse scope names its host)."""
    parts = urlsplit(url)
    return parts._replace(netloc="microsoft.invalid").geturl() if parts.hostname == "127.0.0.1" else url


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {}).get("string") or b""
    if b'"access_token"' in body:
        answer = json.loads(body)
        answer["access_token"] = TOKEN
        response["body"]["string"] = json.dumps(answer).encode()
    return response


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return {"before_record_request": _scrub_request, "before_record_response": _scrub_response,
            "match_on": ["method", "path", "query", "body"]}


@pytest.fixture
def standin(record_mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            request: pytest.FixtureRequest) -> Iterator[MicrosoftStandIn | None]:
    """The stand-in while recording; in replay nothing at all (the settings name a dead address)."""
    # A client id per test: msal keeps one application (and its token cache) per authority and
    # client id for the process, and each cassette holds its own token request.
    client_id = f"app-{request.node.name.removeprefix('test_')[:40]}"
    server = None if record_mode == "none" else MicrosoftStandIn(
        tmp_path, client_id=client_id, mailbox=MAILBOX, custom_columns={"cr5a1_intent"}, queues=("Shop desk",))
    base = server.base if server else REPLAY_BASE
    env = {"CASE_AGENT_MS_TENANT": "contoso", "CASE_AGENT_MS_CLIENT_ID": client_id,
           "CASE_AGENT_MS_CLIENT_SECRET": "app-secret", "CASE_AGENT_MS_AUTHORITY_URL": base,
           "CASE_AGENT_GRAPH_URL": f"{base}/v1.0", "CASE_AGENT_DATAVERSE_URL": f"{base}/org"}
    if server:
        env["REQUESTS_CA_BUNDLE"] = str(server.cert)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield server
    if server:
        server.close()


def played(standin: MicrosoftStandIn | None, cassette: Any) -> bool:
    return standin is not None or cassette.all_played


@pytest.mark.vcr
def test_graph_reads_moves_and_sends_as_recorded(standin: MicrosoftStandIn | None, vcr: Any) -> None:
    if standin:
        standin.deliver(b"From: robin@example.net\r\nTo: support@contoso.example\r\nSubject: Return\r\n"
                        b"Message-ID: <robin-1@example.net>\r\n\r\nI want to return the bike.\r\n")
    inbox = open_inbox(f"graph://{MAILBOX}", "move:archive")
    [fetched] = list(inbox.fetch(None))
    assert b"<robin-1@example.net>" in fetched.raw and fetched.at.position and "deltatoken" in fetched.at.position
    inbox.done(fetched)
    sender = open_sender(None, f"graph://{MAILBOX}")
    raw = (b"From: support@contoso.example\r\nTo: robin@example.net\r\nSubject: Re: Return\r\n"
           b"Message-ID: <agent-1@contoso.example>\r\nIn-Reply-To: <robin-1@example.net>\r\n"
           b"References: <robin-1@example.net>\r\n\r\nHello Robin\r\n")
    assert sender.already_sent("agent-1@contoso.example") is False
    sender.send(raw, MAILBOX, ["robin@example.net"], "agent-1@contoso.example")
    assert sender.already_sent("agent-1@contoso.example") is True
    requests = vcr.requests
    assert all('IdType="ImmutableId"' in r.headers.get("Prefer", "") for r in requests if "/v1.0/" in r.uri)
    assert any(r.uri.endswith("/sendMail") and r.headers.get("Content-Type") == "text/plain" for r in requests)
    assert played(standin, vcr)


@pytest.mark.vcr
def test_dataverse_case_activity_resolution_and_queue_as_recorded(standin: MicrosoftStandIn | None,
                                                                   vcr: Any) -> None:
    dataverse = Dataverse(MicrosoftSettings.from_environment())
    contact = dataverse.contact_for("robin@example.net", "Robin Vale")
    incident = row_id("incident", "cassette")
    assert dataverse.create("incidents", incident, {"title": "Return a bike", "cr5a1_intent": "return_bike",
                                                    "caseorigincode": 2,
                                                    "customerid_contact@odata.bind": f"/contacts({contact})"})
    activity = row_id("email", "robin-1@example.net")
    dataverse.create("emails", activity, {
        "subject": "Return", "directioncode": False, "messageid": "<robin-1@example.net>",
        "regardingobjectid_incident_email@odata.bind": f"/incidents({incident})",
        "email_activity_parties": [{"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 1},
                                   {"addressused": MAILBOX, "participationtypemask": 2}]})
    dataverse.update("emails", activity, {"statecode": 1, "statuscode": 4})
    dataverse.resolve(incident, "CAS-000001: resolved by the agent", 5)
    dataverse.add_to_queue(incident, "Shop desk")  # reopens the case first
    sent = [(r.method, urlsplit(r.uri).path, r.headers) for r in vcr.requests if "/api/data/" in r.uri]
    assert all(h.get("OData-Version") == "4.0" and h.get("OData-MaxVersion") == "4.0" for _, _, h in sent)
    assert all(h.get("If-None-Match") == "*" or h.get("If-Match") for m, _, h in sent if m == "PATCH")
    assert [p.rsplit("/", 1)[-1] for m, p, _ in sent if m == "POST"] == ["CloseIncident",
                                                                         "Microsoft.Dynamics.CRM.AddToQueue"]
    assert played(standin, vcr)


@pytest.mark.vcr
def test_a_refused_secret_and_a_wrong_binding_as_recorded(standin: MicrosoftStandIn | None, vcr: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    dataverse = Dataverse(MicrosoftSettings.from_environment())
    with pytest.raises(MicrosoftRefused, match="undeclared property 'regardingobjectid_incident'"):
        dataverse.create("emails", row_id("email", "wrong"), {
            "subject": "Hi", "regardingobjectid_incident@odata.bind": f"/incidents({row_id('incident', 'x')})"})
    monkeypatch.setenv("CASE_AGENT_MS_CLIENT_ID", "unknown-app")
    monkeypatch.setenv("CASE_AGENT_MS_CLIENT_SECRET", "wrong-secret-4711")
    with pytest.raises(TokenRefused) as refused:
        Dataverse(MicrosoftSettings.from_environment()).contact_for("robin@example.net", None)
    assert "invalid_client" in str(refused.value) and "correlation_id" in str(refused.value)
    assert "wrong-secret-4711" not in str(refused.value)
    assert played(standin, vcr)
