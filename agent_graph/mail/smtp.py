"""SMTP delivery (smtplib): plain, TLS from the first byte, or STARTTLS; password or XOAUTH2.

The server's answer decides: 2xx delivered, 4xx or a lost connection DeliveryDeferred (try
again later), 5xx DeliveryRefused (the email is failed and its case goes to a representative).
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl

from agent_graph.mail import DeliveryDeferred, DeliveryRefused, MailboxUnavailable
from agent_graph.mail.imap import SentFolder
from agent_graph.mail.oauth import access_token, xoauth2_string
from agent_graph.mail.settings import Auth, MailServer, Security

log = logging.getLogger(__name__)

TIMEOUT = 30.0
"""Seconds an SMTP command may wait for the server before the attempt counts as failed (temporary)."""


class SmtpSender:
    def __init__(self, server: MailServer, sent: SentFolder | None = None):
        self.server = server
        self.sent = sent
        self.name = f"smtp://{server.name}"
        self._tls: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        """Built once: loading the system's certificates takes ~0.1 s of CPU."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        smtp: smtplib.SMTP
        if server.security is Security.TLS:
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=self._context())
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
            if server.security is Security.STARTTLS:
                smtp.starttls(context=self._context())
        if server.auth is Auth.XOAUTH2:
            smtp.ehlo_or_helo_if_needed()
            token = base64.b64encode(xoauth2_string(server.user, access_token()).encode()).decode()
            code, answer = smtp.docmd("AUTH", "XOAUTH2 " + token)
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, answer)
        elif server.user and server.password is not None:
            smtp.login(server.user, server.password.get_secret_value())
        return smtp

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str) -> None:
        try:
            smtp = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong password is the operator's to fix, not the email's fault: retry later.
            raise DeliveryDeferred(f"SMTP {self.server.name}: login refused ({exc.smtp_code})") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryDeferred(f"SMTP {self.server.name}: {_reason(exc)}") from exc
        try:
            refused = smtp.sendmail(sender, recipients, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{code} {_text(answer)}" for code, answer in exc.recipients.values())
            raise (DeliveryDeferred if all(400 <= c < 500 for c in codes) else DeliveryRefused)(
                f"SMTP {self.server.name}: recipient refused: {detail[:300]}") from exc
        except smtplib.SMTPResponseException as exc:
            error = DeliveryDeferred if 400 <= exc.smtp_code < 500 else DeliveryRefused
            raise error(f"SMTP {self.server.name}: {exc.smtp_code} "
                        f"{_text(exc.smtp_error)[:300]}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryDeferred(f"SMTP {self.server.name}: {_reason(exc)}") from exc
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        if refused:  # one recipient only, so a partial refusal cannot happen; kept for safety
            raise DeliveryRefused(f"SMTP {self.server.name}: refused {', '.join(refused)}")
        if self.sent is not None:
            try:
                self.sent.file(raw)
            except MailboxUnavailable as exc:  # delivered all the same; only the copy is missing
                log.warning("delivered %s, but no copy was filed in the Sent folder: %s", message_id, exc)

    def already_sent(self, message_id: str) -> bool | None:
        return None if self.sent is None else self.sent.holds(message_id)

    def close(self) -> None:
        pass


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer


def _reason(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
