"""Microsoft 365 and Dynamics 365 as an application: msal client credentials and a REST client.

- One ``msal.ConfidentialClientApplication`` per authority, tenant and client id, kept for the
  life of the process: ``acquire_token_for_client`` answers from its in-memory cache and asks
  Entra ID only when the token is (nearly) expired. Graph and Dataverse tokens sit side by side
  in that cache, keyed by scope.
- A refused token is a :class:`TokenRefused` naming Entra's ``error``, ``error_description`` and
  ``correlation_id``; never the secret, never a token.
- :class:`RestClient`: ``requests`` with a bearer token from that application, ``Retry-After``
  honoured on 429 and 503, a bounded number of requests in flight (Graph allows 4 per mailbox).

Settings come from the environment (:meth:`MicrosoftSettings.from_environment`), base URLs included, so
the tests point them at a local stand-in (``tests/msstandin.py``). docs/microsoft.md.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, SecretStr

from agent_graph.errors import CaseAgentError, ConfigurationError, bounded

log = logging.getLogger(__name__)

LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TIMEOUT = 30.0
"""Seconds one HTTP request may take before the attempt counts as failed (temporary)."""
LONGEST_INLINE_WAIT = 30.0
"""A ``Retry-After`` up to this long is waited for on the spot; a longer one is the caller's to
schedule (the mailbox is read again later, a Dataverse operation retried later)."""
ATTEMPTS = 4
"""Tries of one request through throttling and server errors before it counts as unavailable."""


class MicrosoftUnavailable(CaseAgentError):
    """The service cannot be reached, is throttling, or failed on its side: try again later.
    ``retry_after``: the seconds the service asked for (None when it did not say)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TokenRefused(MicrosoftUnavailable):
    """Entra ID refused the client credentials (the operator's to fix; retried later)."""


class MicrosoftRefused(CaseAgentError):
    """The service refused the request itself (4xx): the same request would be refused again."""

    def __init__(self, message: str, status: int, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class MicrosoftSettings(BaseModel):
    """The Entra application and the services' base URLs (``CASE_AGENT_MS_*``, docs/microsoft.md)."""

    tenant: str
    client_id: str
    client_secret: SecretStr | None = None
    certificate: Path | None = None
    """A PEM file holding the private key (and the certificate, for subject name/issuer auth)."""
    thumbprint: str | None = None
    authority_url: str = LOGIN_URL
    graph_url: str = GRAPH_URL
    graph_scope: str = GRAPH_SCOPE
    dataverse_url: str | None = None

    @classmethod
    def from_environment(cls) -> MicrosoftSettings:
        environ = os.environ
        tenant, client_id = environ.get("CASE_AGENT_MS_TENANT"), environ.get("CASE_AGENT_MS_CLIENT_ID")
        if not tenant or not client_id:
            raise ConfigurationError("Microsoft 365 needs CASE_AGENT_MS_TENANT and CASE_AGENT_MS_CLIENT_ID, with "
                                     "CASE_AGENT_MS_CLIENT_SECRET or CASE_AGENT_MS_CERTIFICATE and "
                                     "CASE_AGENT_MS_CERTIFICATE_THUMBPRINT (docs/microsoft.md)")
        secret, certificate = environ.get("CASE_AGENT_MS_CLIENT_SECRET"), environ.get("CASE_AGENT_MS_CERTIFICATE")
        if not secret and not certificate:
            raise ConfigurationError("Microsoft 365 needs CASE_AGENT_MS_CLIENT_SECRET, or CASE_AGENT_MS_CERTIFICATE "
                                     "(a PEM file) and CASE_AGENT_MS_CERTIFICATE_THUMBPRINT")
        if certificate and not secret and not environ.get("CASE_AGENT_MS_CERTIFICATE_THUMBPRINT"):
            raise ConfigurationError("CASE_AGENT_MS_CERTIFICATE needs CASE_AGENT_MS_CERTIFICATE_THUMBPRINT "
                                     "(the certificate's SHA-1 thumbprint, as Entra ID shows it)")
        return cls(tenant=tenant, client_id=client_id, client_secret=SecretStr(secret) if secret else None,
                   certificate=Path(certificate) if certificate and not secret else None,
                   thumbprint=environ.get("CASE_AGENT_MS_CERTIFICATE_THUMBPRINT"),
                   authority_url=environ.get("CASE_AGENT_MS_AUTHORITY_URL", LOGIN_URL).rstrip("/"),
                   graph_url=environ.get("CASE_AGENT_GRAPH_URL", GRAPH_URL).rstrip("/"),
                   graph_scope=environ.get("CASE_AGENT_GRAPH_SCOPE", GRAPH_SCOPE),
                   dataverse_url=(environ.get("CASE_AGENT_DATAVERSE_URL") or "").rstrip("/") or None)

    def credential(self) -> Any:
        """msal's ``client_credential``: the secret, or the certificate's private key and thumbprint."""
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        assert self.certificate is not None
        try:
            pem = self.certificate.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"CASE_AGENT_MS_CERTIFICATE {self.certificate}: cannot read it: "
                                     f"{exc.strerror}") from None
        credential = {"private_key": pem, "thumbprint": self.thumbprint or ""}
        if "BEGIN CERTIFICATE" in pem:  # subject name/issuer auth: the certificate can roll over
            credential["public_certificate"] = pem
        return credential


_lock = threading.Lock()
_applications: dict[tuple[str, str], Any] = {}


def confidential_client(authority: str, client_id: str, credential: Callable[[], Any]) -> Any:
    """The process's one msal application for this authority (``…/TENANT``) and client id."""
    import msal  # type: ignore[import-untyped]

    key = (authority, client_id)
    with _lock:
        if key not in _applications:
            default = authority.startswith(LOGIN_URL + "/")
            _applications[key] = msal.ConfidentialClientApplication(
                client_id, authority=authority, client_credential=credential(), token_cache=msal.TokenCache(),
                # another authority (a national cloud, a test identity provider) is taken as given
                instance_discovery=None if default else False, timeout=TIMEOUT)
        return _applications[key]


def token_for(application: Any, scope: str) -> str:
    """A current access token for ``scope`` (``RESOURCE/.default``); TokenRefused when Entra says no."""
    try:
        result = application.acquire_token_for_client(scopes=[scope])
    except (requests.RequestException, ValueError) as exc:
        raise MicrosoftUnavailable(f"the identity platform cannot be reached for a {scope} token: "
                                   f"{bounded(str(exc), 200)}") from None
    if "access_token" not in result:
        raise TokenRefused(f"the identity platform refused a token for {scope}: {result.get('error')}: "
                           f"{bounded(str(result.get('error_description', '')), 300)} "
                           f"(correlation_id {result.get('correlation_id', '-')})")
    return str(result["access_token"])


class Application:
    """The Entra application of :class:`MicrosoftSettings`: tokens for any of its scopes."""

    def __init__(self, settings: MicrosoftSettings):
        self.settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        """msal's application, made on first use: making it asks the authority for its OpenID
        configuration, and an unreachable authority is a temporary failure like any other."""
        if self._client is None:
            settings = self.settings
            try:
                self._client = confidential_client(f"{settings.authority_url}/{settings.tenant}", settings.client_id,
                                                   settings.credential)
            except requests.RequestException as exc:
                raise MicrosoftUnavailable(f"the identity platform {settings.authority_url} cannot be reached: "
                                           f"{bounded(str(exc), 200)}") from None
            except ValueError as exc:  # msal's word for a tenant, an authority or a credential it cannot use
                raise ConfigurationError(f"the Entra application settings cannot be used (CASE_AGENT_MS_*): "
                                         f"{bounded(str(exc), 300)}") from None
        return self._client

    def token(self, scope: str) -> str:
        return token_for(self.client, scope)

    def forget_tokens(self) -> None:
        """After a 401: the next request gets a new token instead of the cached one."""
        self.client.remove_tokens_for_client()


def retry_after(response: requests.Response, default: float) -> float:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date); ``default`` without one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def error_of(response: requests.Response) -> tuple[str, str]:
    """OData's ``{"error": {"code", "message"}}`` (Graph and Dataverse alike), else the status text."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    return str(error.get("code") or ""), bounded(str(error.get("message") or response.reason or ""), 300)


class RestClient:
    """One service (Graph for one mailbox, or one Dataverse environment) as the application.

    ``slots`` bounds the requests in flight (shared by everything that talks to the same mailbox);
    429 and 503 are retried after ``Retry-After`` (up to LONGEST_INLINE_WAIT, else raised to the
    caller with the wait asked for); other 5xx and connection failures are retried ATTEMPTS times."""

    def __init__(self, application: Application, base_url: str, scope: str, headers: dict[str, str],
                 slots: threading.BoundedSemaphore, name: str, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.application = application
        self.base_url = base_url.rstrip("/")
        self.scope = scope
        self.headers = headers
        self.slots = slots
        self.name = name
        self.session = session or requests.Session()
        self.sleep = sleep

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, expect: Iterable[int] = (200,), json: Any = None,
                data: bytes | None = None, headers: dict[str, str] | None = None,
                repeatable: bool = True) -> requests.Response:
        """The response when its status is in ``expect``; MicrosoftRefused for another 4xx,
        MicrosoftUnavailable when the service stays unavailable.

        ``repeatable=False`` (sending mail): only an answer that says the request was not taken
        (429, 503) is retried here; after a lost connection or another server error it may have
        been, so the caller decides (delivery looks in Sent Items before sending again)."""
        expected = set(expect)
        url = self.url(path)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            all_headers = {**self.headers, **(headers or {}),
                           "Authorization": f"Bearer {self.application.token(self.scope)}"}
            if json is not None:
                all_headers.setdefault("Content-Type", "application/json")
            try:
                with self.slots:
                    response = self.session.request(method, url, json=json, data=data, headers=all_headers,
                                                    timeout=TIMEOUT)
            except requests.RequestException as exc:
                if attempt < ATTEMPTS and repeatable:
                    self.sleep(min(2.0 ** attempt / 4, LONGEST_INLINE_WAIT))
                    continue
                raise MicrosoftUnavailable(f"{self.name}: {method} {_path(url)}: {bounded(str(exc), 200)}") from None
            status = response.status_code
            if status in expected:
                return response
            code, message = error_of(response)
            if status == 401 and not renewed:  # an expired or revoked token: one more try with a fresh one
                renewed = True
                self.application.forget_tokens()
                continue
            if status in (429, 503) or status >= 500:
                wait = retry_after(response, default=min(2.0 ** attempt / 2, LONGEST_INLINE_WAIT))
                described = f"{self.name}: {method} {_path(url)}: {status} {code} {message}".replace("  ", " ")
                if wait > LONGEST_INLINE_WAIT or attempt >= ATTEMPTS or (status not in (429, 503) and not repeatable):
                    raise MicrosoftUnavailable(described, retry_after=wait if "Retry-After" in response.headers
                                               else None)
                log.warning("%s (retrying in %.1fs)", described, wait)
                self.sleep(wait)
                continue
            if status == 401:
                raise MicrosoftUnavailable(f"{self.name}: {method} {_path(url)}: 401 {code} {message} (the token "
                                           "was refused: check the application's permissions and consent)")
            raise MicrosoftRefused(f"{self.name}: {method} {_path(url)}: {status} {code} {message}".replace("  ", " "),
                                   status, code)


def _path(url: str) -> str:
    """The URL without its query (a delta or skip token is long and says nothing to a reader)."""
    return bounded(url.split("?", 1)[0], 200)


_slots_lock = threading.Lock()
_slots: dict[str, threading.BoundedSemaphore] = {}


def slots_for(key: str, size: int) -> threading.BoundedSemaphore:
    """The process's one semaphore for ``key`` (a mailbox, an environment)."""
    with _slots_lock:
        return _slots.setdefault(key, threading.BoundedSemaphore(size))
