"""A local stand-in for the Microsoft endpoints case-agent uses: Entra ID's token endpoint,
Microsoft Graph (one shared mailbox) and the Dataverse Web API (incidents, contacts, emails,
queues, CloseIncident, AddToQueue).

Written from the public contract (``../shared/reference/microsoft-apis.md`` and the Microsoft
pages it cites), and strict where the real services are: a request without the OData headers,
an unknown property or a wrong binding name (``regardingobjectid_incident@odata.bind`` on an
email), an edit of a resolved case, a stale ETag, an expired or wrong-audience token, more than 4
concurrent requests on a mailbox, a mailbox the application may not open. ``PATCH`` without
``If-Match`` on a missing id is an upsert, as in Dataverse: it creates the record and is
recorded in ``upserts`` so that a test can prove the agent never relies on it.

On demand (``fail``): 429 with ``Retry-After``, or 503, for the next N requests matching a path.
One HTTPS server on 127.0.0.1 (msal insists on an https authority), its self-signed certificate
trusted through ``REQUESTS_CA_BUNDLE``. Not a Microsoft product: behaviour the contract leaves open
(e.g. whether an activity may be added to a resolved case) is accepted.
"""

from __future__ import annotations

import base64
import binascii
import email
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.mailservers import _self_signed_certificate

GRAPH_AUDIENCE = "https://graph.microsoft.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAILBOX_CONCURRENCY = 4


class Answer(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def rsa_certificate() -> tuple[bytes, bytes, str]:
    """(the private key and certificate as one PEM, the certificate alone, its SHA-1 thumbprint in
    hex as Entra ID shows it): msal signs client assertions with RSA."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "case-agent")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    public = certificate.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return private + public, public, certificate.fingerprint(hashes.SHA1()).hex().upper()


def odata_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers)


@dataclass
class Failure:
    path: str
    count: int
    status: int
    retry_after: int | None
    taken: bool = False
    """The request is carried out, and its answer lost (replaced by this failure)."""


@dataclass
class MailMessage:
    id: str
    raw: bytes
    folder: str
    received: str
    internet_message_id: str
    is_read: bool = False
    seq: int = 0


@dataclass
class Table:
    entity_set: str
    key: str
    columns: set[str]
    binds: dict[str, str] = field(default_factory=dict)
    """navigation property -> the entity set it points to"""
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


INCIDENT_COLUMNS = {"incidentid", "title", "description", "caseorigincode", "emailaddress", "prioritycode",
                    "casetypecode", "statecode", "statuscode", "versionnumber", "_customerid_value"}
EMAIL_COLUMNS = {"activityid", "subject", "description", "directioncode", "messageid", "statecode", "statuscode",
                 "email_activity_parties", "_regardingobjectid_value"}
ACTIVE_REASONS, RESOLVED_REASONS, CANCELLED_REASONS = {1, 2, 3, 4}, {5, 1000}, {6, 2000}


class MicrosoftStandIn:
    def __init__(self, root: Path, tenant: str = "contoso", client_id: str = "case-agent-app",
                 client_secret: str = "app-secret", mailbox: str = "support@contoso.example",
                 custom_columns: set[str] | None = None, queues: tuple[str, ...] = ()):
        self.tenant, self.client_id, self.client_secret, self.mailbox = tenant, client_id, client_secret, mailbox
        self.token_lifetime = 3600
        self.certificate: bytes | None = None
        """The PEM certificate registered for the client (certificate credentials)."""
        self.tokens: dict[str, tuple[str, float]] = {}
        """access token -> (audience, expiry)"""
        self.issued = 0
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.upserts: list[str] = []
        self.edit_after_next_read: tuple[str, dict[str, Any]] | None = None
        """(record id, changes): someone else edits that record right after its next read."""
        self.in_flight = 0
        self.most_in_flight = 0
        self.messages: list[MailMessage] = []
        self.sent: list[MailMessage] = []
        self.folders = {"inbox": "inbox", "sentitems": "sentitems", "archive": "archive"}
        self._seq = 0
        self._lock = threading.Lock()
        self.tables = {
            "contacts": Table("contacts", "contactid", {"emailaddress1", "firstname", "lastname"}),
            "incidents": Table("incidents", "incidentid", INCIDENT_COLUMNS | (custom_columns or set()),
                               {"customerid_contact": "contacts", "customerid_account": "accounts",
                                "primarycontactid": "contacts"}),
            "emails": Table("emails", "activityid", EMAIL_COLUMNS, {"regardingobjectid_incident_email": "incidents"}),
            "queues": Table("queues", "queueid", {"name"}),
            "incidentresolutions": Table("incidentresolutions", "activityid", set()),
            "queueitems": Table("queueitems", "queueitemid", set()),
        }
        for name in queues:
            queue = str(uuid.uuid4())
            self.tables["queues"].rows[queue] = {"queueid": queue, "name": name}
        self.cert = root / "msstandin.pem"
        self.cert.write_bytes(_self_signed_certificate())
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # --- for tests ----------------------------------------------------------------------------
    @property
    def graph_url(self) -> str:
        return f"{self.base}/v1.0"

    @property
    def dataverse_url(self) -> str:
        return f"{self.base}/org"

    def environment(self) -> dict[str, str]:
        return {"CASE_AGENT_MS_TENANT": self.tenant, "CASE_AGENT_MS_CLIENT_ID": self.client_id,
                "CASE_AGENT_MS_CLIENT_SECRET": self.client_secret, "CASE_AGENT_MS_AUTHORITY_URL": self.base,
                "CASE_AGENT_GRAPH_URL": self.graph_url, "CASE_AGENT_DATAVERSE_URL": self.dataverse_url,
                "REQUESTS_CA_BUNDLE": str(self.cert)}

    def deliver(self, raw: bytes) -> MailMessage:
        """A new email in the shared mailbox's Inbox."""
        parsed = email.message_from_bytes(raw, policy=policy.default)
        with self._lock:
            self._seq += 1
            message = MailMessage(id="AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" + secrets.token_urlsafe(18),
                                  raw=raw, folder="inbox", received=f"2026-12-03T10:{self._seq // 60:02d}:"
                                  f"{self._seq % 60:02d}Z", internet_message_id=str(parsed["Message-ID"] or ""),
                                  seq=self._seq)
            self.messages.append(message)
        return message

    def fail(self, path: str, count: int = 1, status: int = 429, retry_after: int | None = 1,
             taken: bool = False) -> None:
        """The next ``count`` requests whose path contains ``path`` answer ``status`` (with Retry-After);
        ``taken``: they are carried out all the same (the answer is lost on the way back)."""
        self.failures.append(Failure(path, count, status, retry_after, taken))

    def expire_tokens(self) -> None:
        self.tokens = {token: (audience, 0.0) for token, (audience, _) in self.tokens.items()}

    def rows(self, entity_set: str) -> list[dict[str, Any]]:
        return list(self.tables[entity_set].rows.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- HTTP ---------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    standin._route(self.command, self.path, dict(self.headers.items()), body)
                    raise Answer(500, {"error": {"code": "standin", "message": "no answer"}})
                except Answer as answer:
                    data = (answer.body if isinstance(answer.body, bytes)
                            else b"" if answer.body is None else json.dumps(answer.body).encode())
                    self.send_response(answer.status)
                    headers = {"Content-Type": "application/json; odata.metadata=minimal", **answer.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return Handler

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        url = urlsplit(target)
        path = unquote(url.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.requests.append((method, target, headers))
        if path.endswith("/.well-known/openid-configuration"):
            tenant = path.strip("/").split("/")[0]
            raise Answer(200, {"issuer": f"{self.base}/{tenant}/v2.0",
                               "token_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/token",
                               "authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/authorize"})
        if path == f"/{self.tenant}/oauth2/v2.0/token" and method == "POST":
            self._token(parse_qs(body.decode()))
        for failure in self.failures:
            if failure.count > 0 and failure.path in path:
                failure.count -= 1
                if failure.taken:
                    try:
                        self._dispatch(method, path, query, headers, body)
                    except Answer:
                        pass
                raise odata_error(failure.status, "TooManyRequests" if failure.status == 429 else "ServiceUnavailable",
                                  "stand-in: failing on demand",
                                  {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {})
        self._dispatch(method, path, query, headers, body)

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        if path.startswith("/v1.0/"):
            self._authorize(headers, GRAPH_AUDIENCE)
            with self._lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                busy = self.in_flight > MAILBOX_CONCURRENCY
            try:
                if busy:
                    raise odata_error(429, "ApplicationThrottled",
                                      "Application is over its MailboxConcurrency limit.", {"Retry-After": "1"})
                time.sleep(0.01)  # long enough for concurrent requests to overlap
                self._graph(method, path.removeprefix("/v1.0"), query, headers, body)
            finally:
                with self._lock:
                    self.in_flight -= 1
        if path.startswith("/org/api/data/v9.2/"):
            self._authorize(headers, self.dataverse_url)
            self._dataverse(method, path.removeprefix("/org/api/data/v9.2/"), query, headers, body)
        raise odata_error(404, "NotFound", f"stand-in: no such endpoint {method} {path}")

    # --- Entra ID -----------------------------------------------------------------------------
    def _token(self, form: dict[str, list[str]]) -> None:
        values = {key: value[0] for key, value in form.items()}
        correlation = str(uuid.uuid4())
        if values.get("grant_type") != "client_credentials":
            raise Answer(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003",
                               "correlation_id": correlation})
        if values.get("client_assertion_type") == JWT_BEARER:
            self._check_assertion(values, correlation)
        elif values.get("client_id") != self.client_id or values.get("client_secret") != self.client_secret:
            raise Answer(401, {"error": "invalid_client", "error_codes": [7000215], "correlation_id": correlation,
                               "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the "
                                                    "secret being sent in the request is the client secret value, "
                                                    "not the client secret ID"})
        scope = values.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            raise Answer(400, {"error": "invalid_scope", "correlation_id": correlation,
                               "error_description": "AADSTS1002012: The provided value for scope is not valid. "
                                                    "Client credential flows must have a scope value with /.default"})
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (scope.removesuffix("/.default"), time.time() + self.token_lifetime)
        self.issued += 1
        raise Answer(200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token})

    def _check_assertion(self, values: dict[str, str], correlation: str) -> None:
        """A client assertion (certificate credentials): a JWT signed by the key of a certificate
        registered for the client, naming its SHA-1 thumbprint (``x5t``), for this token endpoint."""
        import jwt
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        def refuse(why: str) -> Answer:
            return Answer(401, {"error": "invalid_client", "error_codes": [700027], "correlation_id": correlation,
                                "error_description": f"AADSTS700027: Client assertion failed signature validation. "
                                                     f"{why}"})

        assertion = values.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise refuse("not a JWT") from None
        certificate = x509.load_pem_x509_certificate(self.certificate) if self.certificate else None
        thumbprint = (base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA1())).decode().rstrip("=")
                      if certificate else None)
        if certificate is None or values.get("client_id") != self.client_id \
                or str(header.get("x5t", "")).rstrip("=") != thumbprint:
            raise refuse("No certificate registered for this client with that thumbprint.")
        try:
            claims = jwt.decode(assertion, certificate.public_key(), algorithms=["RS256", "PS256"],
                                audience=f"{self.base}/{self.tenant}/oauth2/v2.0/token", issuer=self.client_id)
        except jwt.PyJWTError as exc:
            raise refuse(str(exc)) from None
        if claims.get("sub") != self.client_id:
            raise refuse("sub is not the client id")

    def _authorize(self, headers: dict[str, str], audience: str) -> None:
        bearer = headers.get("Authorization", "")
        token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else ""
        known = self.tokens.get(token)
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if known is None or known[0] != audience:
            raise odata_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.",
                              challenge)
        if known[1] < time.time():
            raise odata_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                              challenge)

    # --- Graph --------------------------------------------------------------------------------
    def _graph(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        match = re.fullmatch(r"/users/([^/]+)(/.*)", path)
        if not match:
            raise odata_error(400, "BadRequest", "Resource not found for the segment.")
        if match.group(1).lower() != self.mailbox:
            raise odata_error(403, "ErrorAccessDenied", "Access to OData is disabled.")
        rest = match.group(2)
        if rest == "/mailFolders/inbox/messages/delta" and method == "GET":
            self._delta(query, headers)
        if rest == "/mailFolders/sentitems/messages" and method == "GET":
            wanted = re.fullmatch(r"internetMessageId eq '(.*)'", query.get("$filter", ""))
            if not wanted:
                raise odata_error(400, "BadRequest", "stand-in: filter by internetMessageId only")
            found = [m for m in self.sent if m.internet_message_id == wanted.group(1).replace("''", "'")]
            raise Answer(200, {"value": [{"id": m.id, "internetMessageId": m.internet_message_id} for m in found]})
        if rest == "/mailFolders" and method == "GET":
            wanted = re.fullmatch(r"displayName eq '(.*)'", query.get("$filter", ""))
            names = [name for name in self.folders if wanted and name.lower() == wanted.group(1).lower()]
            raise Answer(200, {"value": [{"id": self.folders[name], "displayName": name} for name in names]})
        if rest == "/sendMail" and method == "POST":
            self._send_mail(headers, body)
        found = re.fullmatch(r"/messages/([^/]+)(/\$value|/move)?", rest)
        if not found:
            raise odata_error(400, "BadRequest", f"stand-in: unsupported Graph request {method} {rest}")
        message = next((m for m in self.messages if m.id == found.group(1)), None)
        if message is None:
            raise odata_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        action = found.group(2)
        if action == "/$value" and method == "GET":
            raise Answer(200, message.raw, {"Content-Type": "text/plain"})
        if action == "/move" and method == "POST":
            destination = self._json(headers, body).get("destinationId", "")
            if destination not in self.folders.values():
                raise odata_error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
            message.folder = destination
            if 'IdType="ImmutableId"' not in headers.get("Prefer", ""):
                message.id = "AAMk" + secrets.token_urlsafe(18)  # a regular id changes with the folder
            raise Answer(201, {"id": message.id, "parentFolderId": destination})
        if action is None and method == "PATCH":
            changes = self._json(headers, body)
            if set(changes) - {"isRead", "categories", "flag"}:
                raise odata_error(400, "ErrorInvalidPropertyRequest", "stand-in: read-only property")
            message.is_read = bool(changes.get("isRead", message.is_read))
            raise Answer(200, {"id": message.id, "isRead": message.is_read})
        raise odata_error(405, "BadRequest", "method not allowed")

    def _delta(self, query: dict[str, str], headers: dict[str, str]) -> None:
        size = int(m.group(1)) if (m := re.search(r"odata\.maxpagesize=(\d+)", headers.get("Prefer", ""))) else 10
        if "$deltatoken" in query:
            state = json.loads(base64.urlsafe_b64decode(query["$deltatoken"]))
            since, skip = int(state["since"]), 0
        elif "$skiptoken" in query:
            state = json.loads(base64.urlsafe_b64decode(query["$skiptoken"]))
            since, skip = int(state["since"]), int(state["skip"])
        else:
            if query.get("changeType") not in (None, "created", "updated", "deleted"):
                raise odata_error(400, "BadRequest", "Invalid changeType")
            since, skip = 0, 0
        changed = [m for m in self.messages if m.seq > since]
        page = changed[skip:skip + size]
        base = f"{self.graph_url}/users/{self.mailbox}/mailFolders/inbox/messages/delta"
        value: list[dict[str, Any]] = [
            {"id": m.id, "internetMessageId": m.internet_message_id, "receivedDateTime": m.received}
            if m.folder == "inbox" else {"id": m.id, "@removed": {"reason": "deleted"}} for m in page]
        if skip + size < len(changed):
            token = base64.urlsafe_b64encode(json.dumps({"since": since, "skip": skip + size}).encode()).decode()
            raise Answer(200, {"value": value, "@odata.nextLink": f"{base}?$skiptoken={token}"})
        top = max([since] + [m.seq for m in changed])
        token = base64.urlsafe_b64encode(json.dumps({"since": top}).encode()).decode()
        raise Answer(200, {"value": value, "@odata.deltaLink": f"{base}?$deltatoken={token}"})

    def _send_mail(self, headers: dict[str, str], body: bytes) -> None:
        if not headers.get("Content-Type", "").startswith("text/plain"):
            raise odata_error(400, "ErrorInvalidRequest", "stand-in: MIME sendMail only (Content-Type: text/plain)")
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise odata_error(400, "ErrorMimeContentInvalidBase64String",
                              "Invalid base64 string for MIME content.") from None
        parsed = email.message_from_bytes(raw, policy=policy.default)
        message_id = str(parsed["Message-ID"] or f"<{uuid.uuid4()}@standin>")
        self.sent.append(MailMessage(id="AAMkSent" + secrets.token_urlsafe(12), raw=raw, folder="sentitems",
                                     received="", internet_message_id=message_id))
        raise Answer(202)

    # --- Dataverse ----------------------------------------------------------------------------
    def _dataverse(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        if headers.get("OData-Version") != "4.0" or headers.get("OData-MaxVersion") != "4.0":
            raise odata_error(400, "0x80048d19", "stand-in: send OData-Version: 4.0 and OData-MaxVersion: 4.0")
        if "application/json" not in headers.get("Accept", ""):
            raise odata_error(406, "0x80060888", "stand-in: Accept: application/json")
        if path == "CloseIncident" and method == "POST":
            self._close_incident(self._json(headers, body))
        if (m := re.fullmatch(r"queues\(([0-9a-f-]{36})\)/Microsoft\.Dynamics\.CRM\.AddToQueue", path)) \
                and method == "POST":
            self._add_to_queue(m.group(1), self._json(headers, body))
        if (m := re.fullmatch(r"(\w+)\(([0-9a-f-]{36})\)", path)) and m.group(1) in self.tables:
            table = self.tables[m.group(1)]
            if method == "GET":
                row = self._row(table, m.group(2))
                answer = self._select(row, query)
                if self.edit_after_next_read and self.edit_after_next_read[0] == m.group(2):
                    row.update(self.edit_after_next_read[1])
                    row["versionnumber"] = row.get("versionnumber", 1) + 1
                    self.edit_after_next_read = None
                raise Answer(200, answer)
            if method == "PATCH":
                self._patch(table, m.group(2), headers, self._json(headers, body))
        if path in self.tables and method == "GET":
            table = self.tables[path]
            wanted = re.fullmatch(r"(\w+) eq '(.*)'", query.get("$filter", ""))
            if not wanted or wanted.group(1) not in table.columns:
                raise odata_error(400, "0x80060888", "stand-in: filter on one known column with eq")
            value = wanted.group(2).replace("''", "'")
            rows = [r for r in table.rows.values() if str(r.get(wanted.group(1), "")).lower() == value.lower()]
            raise Answer(200, {"value": [self._select(r, query) for r in rows]})
        raise odata_error(404, "0x80060888", f"Resource not found for the segment '{path}'.")

    def _json(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if not headers.get("Content-Type", "").startswith("application/json"):
            raise odata_error(415, "0x80048d19", "stand-in: Content-Type: application/json")
        value = json.loads(body or b"{}")
        if not isinstance(value, dict):
            raise odata_error(400, "0x80048d19", "stand-in: a JSON object")
        return value

    def _row(self, table: Table, key: str) -> dict[str, Any]:
        if key not in table.rows:
            raise odata_error(404, "0x80040217", f"{table.entity_set} With Id = {key} Does Not Exist")
        return table.rows[key]

    def _select(self, row: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        columns = [c for c in query.get("$select", "").split(",") if c]
        chosen = {c: row.get(c) for c in columns} if columns else dict(row)
        return {"@odata.etag": f'W/"{row.get("versionnumber", 1)}"', **chosen}

    def _patch(self, table: Table, key: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        exists = key in table.rows
        if headers.get("If-None-Match") == "*" and exists:
            raise odata_error(412, "0x80060892", "A record with matching key values already exists.")
        if_match = headers.get("If-Match")
        if if_match and not exists:
            raise odata_error(404, "0x80040217", f"{table.entity_set} With Id = {key} Does Not Exist")
        if if_match and if_match != "*" and if_match != f'W/"{table.rows[key].get("versionnumber", 1)}"':
            raise odata_error(412, "0x80060882", "The version of the existing record doesn't match the RowVersion "
                                                 "property provided.")
        if not exists and not if_match and headers.get("If-None-Match") != "*":
            self.upserts.append(f"{table.entity_set}({key})")
        values = self._values(table, body)
        if exists:
            row = table.rows[key]
            if table.entity_set == "incidents":
                self._check_incident_edit(row, values)
            row.update(values)
            row["versionnumber"] = row.get("versionnumber", 1) + 1
        else:
            if table.entity_set == "incidents":
                if not values.get("title"):
                    raise odata_error(400, "0x80040200", "Case Title: Required fields must be filled in.")
                if not (values.get("_customerid_value")):
                    raise odata_error(400, "0x80040200", "Customer: Required fields must be filled in.")
                values.setdefault("statecode", 0)
                values.setdefault("statuscode", 1)
            if table.entity_set == "emails":
                values.setdefault("statecode", 0)
                values.setdefault("statuscode", 1)
            table.rows[key] = {table.key: key, "versionnumber": 1, **values}
        raise Answer(204, None, {"OData-EntityId": f"{self.dataverse_url}/api/data/v9.2/{table.entity_set}({key})"})

    def _values(self, table: Table, body: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                navigation = name.removesuffix("@odata.bind")
                if navigation not in table.binds:
                    raise odata_error(400, "0x80048d19", f"An undeclared property '{navigation}' which only has "
                                                         "property annotations in the payload but no property value "
                                                         "was found in the payload.")
                target = re.fullmatch(r"/(\w+)\(([0-9a-f-]{36})\)", str(value))
                if not target or target.group(1) != table.binds[navigation]:
                    raise odata_error(400, "0x80048d19", f"stand-in: {name} must point to /{table.binds[navigation]}(id)")
                if target.group(2) not in self.tables.get(target.group(1), Table("", "", set())).rows:
                    raise odata_error(404, "0x80040217", f"{target.group(1)} With Id = {target.group(2)} Does Not Exist")
                lookup = navigation.split("_")[0] if navigation.startswith("customerid") else navigation
                values[f"_{lookup.removesuffix('_email').removesuffix('_incident')}_value"] = target.group(2)
                continue
            if name not in table.columns:
                raise odata_error(400, "0x80048d19", f"Invalid property '{name}' was found in entity "
                                                     f"'Microsoft.Dynamics.CRM.{table.entity_set.removesuffix('s')}'.")
            values[name] = value
        if table.entity_set == "incidents":
            if len(str(values.get("title") or "")) > 200:
                raise odata_error(400, "0x80044331", "A validation error occurred. The length of the 'title' "
                                                     "attribute of the 'incident' entity exceeded the maximum")
            if len(str(values.get("description") or "")) > 2000:
                raise odata_error(400, "0x80044331", "A validation error occurred. The length of the 'description' "
                                                     "attribute of the 'incident' entity exceeded the maximum")
        if table.entity_set == "emails" and "email_activity_parties" in values:
            for party in values["email_activity_parties"]:
                targets = [k for k in party if k.startswith("partyid_") or k == "addressused"]
                if len(targets) != 1 or party.get("participationtypemask") not in (1, 2, 3, 4):
                    raise odata_error(400, "0x80048d19", "stand-in: an activity party needs one partyid_* bind "
                                                         "or addressused, and a participationtypemask 1-4")
        return values

    def _check_incident_edit(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        state = values.get("statecode", row["statecode"])
        if "statecode" in values or "statuscode" in values:
            if "statecode" not in values or "statuscode" not in values:
                raise odata_error(400, "0x80040203", "stand-in: set statecode and statuscode together")
            reasons = {0: ACTIVE_REASONS, 1: RESOLVED_REASONS, 2: CANCELLED_REASONS}[values["statecode"]]
            if values["statuscode"] not in reasons:
                raise odata_error(400, "0x80040203", f"{values['statuscode']} is not a valid status code for state "
                                                     f"code IncidentState.{values['statecode']}")
            if values["statecode"] == 1:
                raise odata_error(400, "0x80040203", "A case is resolved with CloseIncident, not by setting its state")
        if row["statecode"] != 0 and (state != 0 or set(values) - {"statecode", "statuscode"}):
            raise odata_error(400, "0x80043716", "This case has already been resolved. Close and reopen the case, "
                                                 "and then try again.")

    def _close_incident(self, body: dict[str, Any]) -> None:
        resolution, status = body.get("IncidentResolution"), body.get("Status")
        if not isinstance(resolution, dict) or not isinstance(status, int):
            raise odata_error(400, "0x80048d19", "IncidentResolution and Status are required")
        if resolution.get("@odata.type") != "Microsoft.Dynamics.CRM.incidentresolution" or not resolution.get("subject"):
            raise odata_error(400, "0x80048d19", "IncidentResolution: @odata.type incidentresolution and subject")
        target = re.fullmatch(r"/incidents\(([0-9a-f-]{36})\)", str(resolution.get("incidentid@odata.bind")))
        if not target:
            raise odata_error(400, "0x80048d19", "IncidentResolution: incidentid@odata.bind to /incidents(id)")
        incident = self._row(self.tables["incidents"], target.group(1))
        if status not in RESOLVED_REASONS | {-1}:
            raise odata_error(400, "0x80040203", f"{status} is not a valid status code for state code Resolved")
        if incident["statecode"] != 0:
            raise odata_error(400, "0x80043716", "This case has already been resolved or cancelled.")
        activity = str(uuid.uuid4())
        self.tables["incidentresolutions"].rows[activity] = {
            "activityid": activity, "subject": resolution["subject"], "_incidentid_value": target.group(1),
            "statecode": 1, "statuscode": 2}
        incident.update(statecode=1, statuscode=5 if status == -1 else status,
                        versionnumber=incident.get("versionnumber", 1) + 1)
        raise Answer(204)

    def _add_to_queue(self, queue: str, body: dict[str, Any]) -> None:
        self._row(self.tables["queues"], queue)
        target = body.get("Target") or {}
        if target.get("@odata.type") != "Microsoft.Dynamics.CRM.incident" or "incidentid" not in target:
            raise odata_error(400, "0x80048d19", "Target: @odata.type Microsoft.Dynamics.CRM.incident and incidentid")
        self._row(self.tables["incidents"], target["incidentid"])
        items = self.tables["queueitems"].rows
        existing = next((k for k, item in items.items() if item["objectid"] == target["incidentid"]), None)
        item_id = existing or str(uuid.uuid4())
        items[item_id] = {"queueitemid": item_id, "queueid": queue, "objectid": target["incidentid"]}
        raise Answer(200, {"@odata.context": "$metadata#Microsoft.Dynamics.CRM.AddToQueueResponse",
                           "QueueItemId": item_id})

    def request_counts(self) -> Counter[str]:
        return Counter(f"{method} {urlsplit(target).path}" for method, target, _ in self.requests)
