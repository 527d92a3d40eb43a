"""Hypothesis strategies for hostile inbound email: the fuzz corpus of tests/test_fuzz.py.

Each example is a :class:`HostileEmail`: raw bytes as a careless or malicious client might
send them (broken multiparts, wrong charsets, raw 8-bit headers, huge lines, nested messages,
missing or duplicate headers, encoded words hiding CR/LF, display names holding addresses,
Reply-To tricks, other customers' case numbers and Message-IDs), and what the generator knows
about it: the one mailbox that really sent it, when there is exactly one.

The store the fuzz test runs on holds one case for each of :data:`CUSTOMERS` first; the emails
aim at those cases (by case number, In-Reply-To and References) from every kind of sender.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
from dataclasses import dataclass

from hypothesis import strategies as st

#: The customers whose cases exist before the fuzz emails arrive: (address, name, first Message-ID).
CUSTOMERS: tuple[tuple[str, str, str], ...] = (
    ("alice@customer-a.example", "Alice Archer", "a1@customer-a.example"),
    ("bob@customer-b.example", "Bob Brandt", "b1@customer-b.example"),
)
MALLORY = "mallory@evil.example"
MAILBOX = "help@tidewater.example"
CASE_NUMBERS = ("CAS-000001", "CAS-000002", "CAS-000003", "CAS-999999")


@dataclass(frozen=True)
class HostileEmail:
    raw: bytes
    #: The mailbox that sent it, when the From header names exactly one plainly; else None.
    true_sender: str | None
    tricks: tuple[str, ...]


# --- small pieces ------------------------------------------------------------------------------

_EOLS = st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r"])
_EIGHT_BIT = st.binary(min_size=1, max_size=6).map(lambda b: bytes(0x80 | x for x in b))
_CHARSETS = st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "utf-16", "shift_jis", "us-ascii",
                             "x-unknown", "utf-8\x00", "", "unknown-8bit", "utf-7", "gb2312"])
_WORDS = st.sampled_from(["return", "refund", "bike", "order", "TB-1234", "TB-9876", "delivery", "when", "broken",
                          "brakes", "service", "Grüße", "café", "наш", "注文", "\u202etxt.exe", "\ufeff", "\x00",
                          "CAS-000001", "CAS-000002", "alice@customer-a.example", "bob@customer-b.example",
                          "<script>alert(1)</script>", "=?utf-8?q?x?=", "\t", "  "])
_TEXT = st.one_of(st.lists(_WORDS, max_size=30).map(" ".join), st.text(max_size=200))


@st.composite
def _line_of(draw: st.DrawFn) -> str:
    """Mostly short lines, now and then a huge one (up to past MAX_BODY_CHARS)."""
    size = draw(st.integers(0, 99))
    if size < 2:
        return draw(st.sampled_from(["x", "On ", "Am ", "> ", "From: "])) * draw(st.integers(300_000, 1_100_000))
    if size < 8:
        return "On " + "a" * draw(st.integers(300, 20_000)) + " wrote:"
    return draw(_TEXT)


_QUOTED = st.sampled_from([
    "On Mon, 2 Mar 2026 at 09:00, Alice Archer <alice@customer-a.example> wrote:\n> my order TB-1111 [CAS-000001]",
    "-----Original Message-----\nFrom: bob@customer-b.example\nSent: 2 March 2026\nTo: help@tidewater.example\n"
    "Subject: CAS-000002\n\nold text",
    "> > > nested quote TB-2222\n> quoted",
    "Am 02.03.2026 um 09:00 schrieb Alice:\n> alt",
    "--\nSignature line\nSent from my phone",
])


@st.composite
def body_text(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_line_of(), _QUOTED), min_size=0, max_size=8))
    return "\n".join(parts)


# --- headers -----------------------------------------------------------------------------------


@st.composite
def from_header(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], str | None, str]:
    """From header lines, the one true sender (or None), and the trick's name."""
    alice, bob = CUSTOMERS[0][0], CUSTOMERS[1][0]
    sender = draw(st.sampled_from([MALLORY, MALLORY, "carol@customer-c.example", alice, bob, "noreply@shop.example",
                                   MAILBOX, "MAILER-DAEMON@mx.example"]))
    trick = draw(st.sampled_from(["plain", "plain", "plain", "name_holds_address", "encoded_name_holds_address",
                                  "encoded_crlf", "eight_bit_name", "angle_only", "comment", "uppercase",
                                  "two_addresses", "group", "missing", "empty", "duplicate", "garbage"]))
    if trick == "plain":
        return [(b"From", f"Some One <{sender}>".encode())], sender, trick
    if trick == "name_holds_address":
        return [(b"From", f'"{alice}" <{sender}>'.encode())], sender, trick
    if trick == "encoded_name_holds_address":
        return [(b"From", f"=?utf-8?q?{alice.replace('@', '=40')}?= <{sender}>".encode())], sender, trick
    if trick == "encoded_crlf":
        return [(b"From", f"=?utf-8?q?x=0D=0AReply-To:_{alice.replace('@', '=40')}?= <{sender}>".encode())], sender, trick
    if trick == "eight_bit_name":
        return [(b"From", b"Jos" + draw(_EIGHT_BIT) + f" <{sender}>".encode())], sender, trick
    if trick == "two_addresses":
        return [(b"From", f"{sender}, {alice}".encode())], None, trick
    if trick == "group":
        return [(b"From", b"undisclosed-recipients:;")], None, trick
    if trick == "missing":
        return [], None, trick
    if trick == "empty":
        return [(b"From", b"")], None, trick
    if trick == "duplicate":
        return [(b"From", sender.encode()), (b"From", bob.encode())], None, trick
    if trick == "garbage":
        return [(b"From", draw(st.binary(max_size=60)).replace(b"\n", b" ").replace(b"\r", b" "))], None, trick
    if trick == "angle_only":
        return [(b"From", f"<{sender}>".encode())], sender, trick
    if trick == "comment":
        return [(b"From", f"{sender} ({alice})".encode())], sender, trick
    return [(b"From", f"Some One <{sender.upper()}>".encode())], sender, trick


@st.composite
def other_headers(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    headers: list[tuple[bytes, bytes]] = [(b"To", MAILBOX.encode())]
    tricks: list[str] = []
    known_ids = [m for _, _, m in CUSTOMERS] + ["nobody@nowhere.example"]
    number = draw(st.sampled_from(CASE_NUMBERS))
    subject = draw(st.sampled_from([
        b"Return", f"Re: my order [{number}]".encode(), f"Fwd: AW: RE: {number} {number}".encode(),
        b"=?utf-8?q?Re=3A_CAS-000001=0D=0ABcc=3A_x=40y?=", b"Caf" + draw(_EIGHT_BIT),
        b"=?x-unknown?b?Q0FTLTAwMDAwMg==?=", b"=?utf-8?b?broken", b"Out of Office: away", b"",
    ]))
    headers.append((b"Subject", subject))
    tricks.append(f"message_id:{draw(st.sampled_from(MESSAGE_ID_TRICKS))}")
    if draw(st.booleans()):
        headers.append((b"In-Reply-To", f"<{draw(st.sampled_from(known_ids))}>".encode()))
        tricks.append("in_reply_to")
    if draw(st.booleans()):
        refs = draw(st.lists(st.sampled_from(known_ids), max_size=4))
        headers.append((b"References", " ".join(f"<{r}>" for r in refs).encode() + draw(st.sampled_from([b"", b"\xff"]))))
        tricks.append("references")
    if draw(st.booleans()):
        headers.append((b"Reply-To", draw(st.sampled_from([CUSTOMERS[0][0], CUSTOMERS[1][0], MALLORY,
                                                           "victim@elsewhere.example"])).encode()))
        tricks.append("reply_to")
    for name, values in ((b"Date", [b"Mon, 2 Mar 2026 09:00:00 +0000", b"yesterday", b"Mon, 99 Foo 20261 99:99:99",
                                    b""]),
                         (b"Auto-Submitted", [b"no", b"auto-replied", b"\xff"]),
                         (b"Precedence", [b"bulk", b"first-class"]),
                         (b"Cc", [b"alice@customer-a.example", b"=?utf-8?q?=0D=0A?= <x@y>", b"group: a@b, c@d;"]),
                         (b"X-Junk", [b"\x00\x01\x02", b"a" * 3000, b"=?utf-8?q?=00?="])):
        if draw(st.integers(0, 3)) == 0:
            headers.append((name, draw(st.sampled_from(values))))
            tricks.append(name.decode().lower())
    if draw(st.integers(0, 9)) == 0:
        headers.append((b"Broken header line without colon", b""))
        tricks.append("header_without_colon")
    return headers, tricks


# --- bodies ------------------------------------------------------------------------------------


def _encode(text: str, charset: str) -> bytes:
    """``text`` in ``charset`` (which may be no charset at all: then UTF-8)."""
    try:
        return text.encode(charset.strip("\x00") or "utf-8", errors="replace")
    except LookupError:
        return text.encode("utf-8", errors="replace")


@st.composite
def text_part(draw: st.DrawFn, subtype: str = "plain") -> tuple[list[tuple[bytes, bytes]], bytes]:
    text = draw(body_text())
    if subtype == "html":
        text = draw(st.sampled_from(["<p>{}</p>", "<html><body><div>{}", "<table><tr><td>{}</td></tr></table>",
                                     "<!-- {} -->", "<p>{}<p><br><b>"])).format(text)
    actual, declared = draw(_CHARSETS), draw(_CHARSETS)
    data = _encode(text, actual)
    cte = draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "bogus", "none"]))
    if cte == "base64":
        data = base64.b64encode(data)
        if draw(st.booleans()):
            data = data[: max(0, len(data) - draw(st.integers(1, 3)))] + b"!*"
    elif cte == "quoted-printable":
        data = quopri.encodestring(data) + draw(st.sampled_from([b"", b"=Z", b"="]))
    headers = [(b"Content-Type", f"text/{subtype}; charset=\"{declared}\"".encode(errors="replace"))]
    if cte != "none":
        headers.append((b"Content-Transfer-Encoding", cte.encode()))
    return headers, data


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> tuple[list[tuple[bytes, bytes]], bytes]:
    kind = draw(st.sampled_from(["plain", "plain", "html", "multipart", "rfc822", "attachment", "report"]
                                if depth < 3 else ["plain", "html"]))
    if kind in ("plain", "html"):
        return draw(text_part(kind))
    if kind == "attachment":
        return ([(b"Content-Type", b"application/octet-stream; name=\"x.bin\""),
                 (b"Content-Disposition", b"attachment; filename*=utf-8''r%C3%A9sum%C3%A9%00.pdf")],
                draw(st.binary(max_size=200)))
    if kind == "report":
        return ([(b"Content-Type", b"message/delivery-status")], b"Reporting-MTA: dns; mx.example\n\nAction: failed\n")
    if kind == "rfc822":
        inner_headers, _, _ = draw(from_header())
        part_headers, part_body = draw(mime_part(depth + 1))
        inner = _assemble([*inner_headers, (b"Subject", b"inner"), *part_headers], part_body, b"\n")
        return [(b"Content-Type", b"message/rfc822")], inner
    boundary = draw(st.sampled_from([b"b1", b"", b"=_weird boundary \xff", b"x" * 80]))
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report; report-type=delivery-status"]))
    children = draw(st.lists(mime_part(depth + 1), min_size=0, max_size=3))
    eol = b"\n"
    body = b"preamble" + eol
    for child_headers, child_body in children:
        body += b"--" + boundary + eol + _assemble(child_headers, child_body, eol)
    if draw(st.booleans()):  # often unterminated
        body += b"--" + boundary + b"--" + eol
    declared = boundary if draw(st.integers(0, 4)) else b"not-the-boundary"
    header = b"multipart/" + subtype + (b"; boundary=\"" + declared + b"\"" if draw(st.integers(0, 5)) else b"")
    return [(b"MIME-Version", b"1.0"), (b"Content-Type", header)], body


#: What the Message-ID header holds; a unique id (by the email's content) is filled in last.
MESSAGE_ID_TRICKS = ("fresh", "fresh", "fresh", "eight_bit", "missing", "known", "huge", "empty", "no_brackets")


def _message_id_header(trick: str, content: bytes) -> list[tuple[bytes, bytes]]:
    """The Message-ID line for a trick: a fresh id is a digest of the rest of the email, so two
    different emails never share one unless the trick says so."""
    unique = hashlib.sha256(content).hexdigest()[:32].encode()
    values = {"fresh": b"<" + unique + b"@fuzz.example>", "eight_bit": b"<" + unique + b"\xe9\xff@fuzz.example>",
              "known": f"<{CUSTOMERS[0][2]}>".encode(), "huge": b"<" + b"x" * 5000 + unique + b"@fuzz.example>",
              "empty": b"", "no_brackets": unique + b"@fuzz.example"}
    return [] if trick == "missing" else [(b"Message-ID", values[trick])]


def _assemble(headers: list[tuple[bytes, bytes]], body: bytes, eol: bytes) -> bytes:
    lines = [name + (b": " + value if value or b" " not in name else b"") for name, value in headers]
    return eol.join(lines) + eol + eol + body


@st.composite
def hostile_emails(draw: st.DrawFn) -> HostileEmail:
    """One hostile inbound email (see the module docstring)."""
    from_lines, sender, from_trick = draw(from_header())
    headers, tricks = draw(other_headers())
    part_headers, body = draw(mime_part())
    message_id_trick = next(t for t in tricks if t.startswith("message_id:")).partition(":")[2]
    id_line = _message_id_header(message_id_trick, _assemble(from_lines + headers + part_headers, body, b"\n"))
    all_headers = draw(st.permutations(from_lines + headers + id_line)) + part_headers
    eol = draw(_EOLS)
    raw = _assemble(all_headers, body, eol)
    prefix = draw(st.sampled_from([b"", b"", b"", b"\xef\xbb\xbf", b"\n", b"From mbox-line Mon Mar  2 09:00 2026\n"]))
    return HostileEmail(raw=prefix + raw, true_sender=sender, tricks=(f"from:{from_trick}", *tricks))
