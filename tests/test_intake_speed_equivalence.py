"""Intake's shortcuts around the std-lib ``email`` package and mail-parser-reply give their results.

agent_graph/intake/ skips work for speed: a header registry that shares parsed MIME headers,
a plain-address fast path, raw headers that are written without parsing and refolding, one
walk for the body, and a leaner use of mail-parser-reply. Each test compares a shortcut with
the code it stands in for, on awkward inputs as well as ordinary ones.
"""

from __future__ import annotations

import email.utils
import inspect
import random
from datetime import UTC, datetime, timedelta, timezone
from email import errors, policy
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from pathlib import Path
from re import _constants as sre_constants
from re import _parser as sre_parse
from typing import Any

import pytest
from mailparser_reply import EmailMessage as ReplyMessage
from mailparser_reply import EmailReplyParser

from agent_graph.intake.building import _writes_verbatim, build_email
from agent_graph.intake.headers import HEADERS, POLICY, simple_mailboxes
from agent_graph.intake.new_text import REPLY_LANGUAGES, _ReplySplitter, _reply_parser
from agent_graph.intake.parsing import _part_text, extract_body_text, html_to_text, parse_email

FIXTURES = Path(__file__).parent / "fixtures" / "eml"
ATEXT = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789!#$%&'*+/=?^_`{|}~-"
PRINTABLE = [chr(code) for code in range(0x21, 0x7F)]

AWKWARD_EMAILS = [
    # encoded words (adjacent, mixed with text, unknown charset, malformed), folded headers
    (
        b"From: =?utf-8?q?Ren=C3=A9e?= =?utf-8?q?_M=C3=BCller?= <renee@example.de>\n"
        b"To: a@example.com,\n Support <support@acme.example>, \"Whitfield, Dana\" <dana@example.com>\n"
        b"Cc: Group: x@example.com, y@example.com;, (comment) z@example.com\n"
        b"Subject: =?utf-8?B?w4RuZGVydW5n?= plain =?x-unknown?q?abc?= =?utf-8?q?broken\n"
        b"Message-ID: <a@b>\nContent-Type: text/plain; charset=\"iso-8859-1\"; format=flowed\n"
        b"Content-Transfer-Encoding: quoted-printable\n\nGr=FC=DFe\n"
    ),
    # raw 8-bit headers, odd charset parameter, RFC 2231 parameter
    (
        "From: Jürgen Müller <j@example.de>\nTo: ü@exämple.de\nSubject: Grüße\n"
        "Content-Type: text/plain; charset*=utf-8''x-unknown; name*=utf-8''r%C3%A9sum%C3%A9.txt\n\nhallo\n".encode()
    ),
    # multipart/alternative with only HTML, then plain after HTML, attachment, nested rfc822
    (
        b"From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n--m\n"
        b"Content-Type: multipart/alternative; boundary=\"a\"\n\n--a\nContent-Type: text/html; charset=utf-8\n\n"
        b"<p>Hello <b>there</b></p>\n--a--\n--m\nContent-Type: text/plain; name=\"x.txt\"\n"
        b"Content-Disposition: attachment; filename=\"x.txt\"\n\nattached\n--m\nContent-Type: message/rfc822\n\n"
        b"From: b@example.com\nSubject: inner\n\ninner body\n--m--\n"
    ),
    # multipart/report bounce
    (
        b"From: MAILER-DAEMON@mx.example\nSubject: Undelivered\nContent-Type: multipart/report; "
        b"report-type=delivery-status;\n boundary=\"r\"\n\n--r\nContent-Type: text/plain\n\nfailed\n--r\n"
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nAction: failed\n--r--\n"
    ),
    # malformed: no boundary, bad CTE, header without value, duplicate headers
    (
        b"From: <>\nFrom: second@example.com\nTo:\nSubject:\nContent-Type: multipart/mixed\n"
        b"Content-Transfer-Encoding: bogus\n\nno boundary\n"
    ),
    # a broken base64 body, CRLF line ends
    (
        b"From: d@example.com\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"SGVsbG8g\xff==!\r\n"
    ),
]


def emails() -> list[bytes]:
    return [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))] + AWKWARD_EMAILS


def message(raw: bytes, parse_policy: EmailPolicy[EmailMessage] = policy.default) -> EmailMessage:
    parsed = BytesParser(policy=parse_policy).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- the header registry ---------------------------------------------------------------------


def header_view(msg: EmailMessage) -> list[tuple[Any, ...]]:
    """Everything a reader can get from the message's headers, as comparable values."""
    return [
        (name, str(header), type(header).__name__, [str(defect) for defect in header.defects],
         [(a.display_name, a.addr_spec) for a in getattr(header, "addresses", ())],
         dict(getattr(header, "params", {})), getattr(header, "content_type", None))
        for name, header in msg.items()
    ]


def message_view(msg: EmailMessage) -> list[Any]:
    parts = list(msg.walk())
    return [header_view(msg), [p.get_content_type() for p in parts], [p.get_content_charset() for p in parts],
            [p.get_param("boundary") for p in parts], [p.is_attachment() for p in parts], extract_body_text(msg)]


@pytest.mark.parametrize("raw", emails())
def test_header_registry_reads_as_the_default_policy(raw: bytes) -> None:
    expected = message_view(message(raw))
    for _ in range(2):  # the second time, the MIME headers come from the registry's store
        assert message_view(message(raw, POLICY)) == expected


def body_in_two_walks(msg: EmailMessage) -> str:
    """extract_body_text as two walks of the MIME tree: the first text/plain part, else text/html."""
    part = msg.get_body(preferencelist=("plain",))
    if part is not None:
        return _part_text(part)
    part = msg.get_body(preferencelist=("html",))
    return html_to_text(_part_text(part)) if part is not None else ""


def test_one_walk_finds_the_body_two_walks_find() -> None:
    plain_part = b"--m\nContent-Type: text/plain\n\nplain\n"
    plain_after_html = AWKWARD_EMAILS[2].replace(b"attached\n--m\n", b"attached\n" + plain_part + b"--m\n")
    for raw in [*emails(), plain_after_html]:
        assert extract_body_text(message(raw)) == body_in_two_walks(message(raw))
    assert extract_body_text(message(plain_after_html)) == "plain"


# --- plain addresses -------------------------------------------------------------------------


def std_addresses(value: str) -> list[tuple[str, str]]:
    header = HeaderRegistry()("to", value)
    assert isinstance(header, AddressHeader)
    return [(a.display_name or "", a.addr_spec or "") for a in header.addresses]


def std_defects(value: str) -> list[str]:
    return [str(d) for d in HeaderRegistry()("from", value).defects if not isinstance(d, errors.ObsoleteHeaderDefect)]


def generated_address_lists(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice(ATEXT) for _ in range(rng.randint(1, 6)))

    def space() -> str:
        return rng.choice(["", " ", "  ", "\t"])

    def mailbox() -> str:
        address = "@".join(".".join(word() for _ in range(rng.randint(1, 3))) for _ in range(2))
        name = space().join(word() for _ in range(rng.randint(1, 3)))
        return space() + rng.choice([address, f"<{address}>", f"{name}{space()}<{address}>"]) + space()

    values = [",".join(mailbox() for _ in range(rng.randint(1, 3))) for _ in range(count)]
    for index in range(0, count, 2):  # near misses: one odd character somewhere
        value = values[index]
        at = rng.randrange(len(value) + 1)
        values[index] = value[:at] + rng.choice(ATEXT + '.@<>,;:()[]"\\ \té') + value[at:]
    return values


def test_plain_address_lists_parse_as_the_std_lib_does() -> None:
    """Same pairs, and no defect the std-lib would report (a From header's defects make its
    sender ambiguous; ``_address_header_defect`` skips parsing a plain list)."""
    accepted = 0
    for value in generated_address_lists(3000) + ["Dana Whitfield <Dana@Customer.Example>", "a@b, C <c@d>"]:
        simple = simple_mailboxes(value)
        if simple is not None:
            accepted += 1
            assert simple == std_addresses(value), value
            assert std_defects(value) == [], value
    assert accepted > 800


@pytest.mark.parametrize("value", [
    '"Whitfield, Dana" <d@example.com>', "=?utf-8?q?J=C3=BCrgen?= <j@example.com>", "d@example.com (Dana)",
    "Group: a@example.com;", "Dana W. Smith <d@example.com>", "a@example.com,", "Jürgen <j@example.com>",
    "Dana\n <d@example.com>", "a..b@example.com", "a@example.", "", "<>", "MAILER-DAEMON", "a@[127.0.0.1]",
])
def test_other_address_forms_are_left_to_the_std_lib(value: str) -> None:
    assert simple_mailboxes(value) is None


# --- headers written without parsing ---------------------------------------------------------

HEADER_NAMES = ["Subject", "From", "To", "Cc", "Reply-To", "Sender", "Message-ID", "Date", "In-Reply-To",
                "References", "X-Custom", "Auto-Submitted", "Content-Type", "MIME-Version"]


def generated_header_values(count: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    lists = generated_address_lists(count // 4, seed)
    values: list[str] = []
    for index in range(count):
        kind = index % 4
        if kind == 0:
            values.append(" ".join("".join(rng.choice(PRINTABLE) for _ in range(rng.randint(1, 8)))
                                   for _ in range(rng.randint(1, 6))))
        elif kind == 1:
            values.append(lists[index // 4])
        elif kind == 2:
            atom = "".join(rng.choice(ATEXT) for _ in range(rng.randint(1, 12)))
            values.append(rng.choice([f"<{atom}@{atom}.example>", f"<{atom}.{atom}@x>", f"<{atom}>", atom]))
        else:
            offset = timezone(timedelta(minutes=rng.randint(-1439, 1439), seconds=rng.choice([0, 0, 30])))
            when = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                            rng.randint(0, 59), rng.randint(0, 59), tzinfo=rng.choice([offset, UTC, None]))
            text = when.strftime("%a, %d %b %Y %H:%M:%S %z") if when.tzinfo else when.strftime("%d %b %Y %H:%M:%S")
            values.append(rng.choice([text, text.replace(" 0", " ", 1), text[5:]]))
    return values


def std_written(name: str, value: str) -> bytes | str:
    try:
        return policy.default.fold_binary(name, policy.default.header_store_parse(name, value)[1])
    except Exception as exc:  # noqa: BLE001 - the std-lib's own failure is the expected output
        return repr(exc)


def test_headers_written_verbatim_are_what_the_std_lib_writes() -> None:
    rng = random.Random(3)
    verbatim: set[str] = set()
    for value in generated_header_values(4000):
        name = rng.choice(HEADER_NAMES)
        if _writes_verbatim(name, value):
            verbatim.add(name)
            assert policy.default.fold_binary(name, value) == std_written(name, value), (name, value)
    assert {"Subject", "From", "Message-ID", "Date", "References", "X-Custom"} <= verbatim


@pytest.mark.parametrize(("name", "value"), [
    ("Subject", "Grüße"), ("Subject", "=?utf-8?q?x?="), ("Subject", "two  spaces"), ("Subject", " padded"),
    ("Subject", "x" * 80), ("Content-Type", "text/plain"), ("MIME-Version", "1.0"), ("Message-ID", "<>x"),
    ("Message-ID", "<a@b> <c@d>"), ("Date", "2 Mar 2026 09:00:00 +0000"), ("Date", "not a date"),
    ("From", '"Dana" <d@example.com>'), ("To", "a@b\n c@d"), ("References", "<a@b>\r\n <c@d>"),
])
def test_other_header_values_are_parsed_as_usual(name: str, value: str) -> None:
    assert not _writes_verbatim(name, value)


def std_build_email(*, from_: str, to: str, subject: str, body: str, message_id: str, date: datetime,
                    in_reply_to: str | None = None, references: tuple[str, ...] = (),
                    headers: dict[str, str] | None = None) -> bytes:
    """build_email with every header parsed and refolded by the default policy."""
    msg = EmailMessage(policy=policy.default)
    msg["From"] = from_
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC))
    msg["Message-ID"] = f"<{message_id.strip().strip('<>')}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to.strip().strip('<>')}>"
    if references:
        msg["References"] = " ".join(f"<{ref.strip().strip('<>')}>" for ref in references)
    for name, value in (headers or {}).items():
        del msg[name]
        msg[name] = value
    msg.set_content(body, charset="utf-8")
    return msg.as_bytes()


BUILDS: list[dict[str, Any]] = [
    {},
    {"from_": "Jürgen Müller <j@example.de>", "subject": "Rückfrage zu CAS-000123", "body": "Grüße\n" * 3},
    {"from_": '"Whitfield, Dana" <dana@example.com>', "to": "a@example.com, B <b@example.com>",
     "subject": "a long subject that will certainly need folding " * 3, "body": "x" * 2000},
    {"in_reply_to": "<prev@example.net>", "references": tuple(f"ref{i}@example.net" for i in range(12))},
    {"date": datetime(2026, 3, 2, 9, 0), "message_id": " <spaced@example.net> "},
    {"date": datetime(2026, 3, 2, 9, 0, 5, 123, tzinfo=timezone(timedelta(hours=5, minutes=30)))},
    {"headers": {"Auto-Submitted": "auto-replied", "Cc": "c@example.com, D <d@example.com>", "Subject": "Override",
                 "X-Long": "v" * 120, "Precedence": "bulk", "List-Id": "News <news.example.com>"}},
    {"subject": "=?utf-8?q?not_encoded?=", "body": "From the start\n.\nline with trailing space \n😀"},
]


@pytest.mark.parametrize("overrides", BUILDS)
def test_build_email_writes_what_the_std_lib_writes(overrides: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"from_": "Alex Sample <alex@example.net>", "to": "support@pinecrest.example",
                              "subject": "Warranty repair", "body": "Hello,\n\nit broke.\n\nAlex",
                              "message_id": "bench-1@example.net", "date": datetime(2026, 3, 2, 9, 0, tzinfo=UTC)}
    kwargs.update(overrides)
    assert build_email(**kwargs) == std_build_email(**kwargs)
    assert parse_email(build_email(**kwargs)) == parse_email(std_build_email(**kwargs))


# --- mail-parser-reply -----------------------------------------------------------------------

BODIES = [
    "Hi\n\nOn Mon, 2 Mar 2026 at 08:14, Support <support@acme.example> wrote:\n> old text ORD-000001\n",
    "Neu\n\nAm 02.03.2026 um 08:14 schrieb Support <s@a.example>:\n> alt\n\nLe lun. 2 mars 2026, X a écrit :\n> x",
    "Top\n\n-----Original Message-----\nFrom: Support <s@a.example>\nSent: Monday\nTo: x\nSubject: y\n\nold",
    "Answer\n\nVon: Support <s@a.example>\nGesendet: Montag\nAn: Dana\nBetreff: AW: x\n\nalt",
    "Thanks\n-- \nDana\nSent from my iPhone\nThis email is confidential and intended for the addressee of this mail.",
    "From: 12 Old Street\nTo: 5 New Road\n\nplease move my delivery\nBest regards,\nDana",
    "El lun, 2 mar 2026 a las 08:14, Support escribió:\n> hola\nrespuesta\nOp ma 2 mrt 2026 schreef X <x@y>:\n> z",
    "Il giorno lun 2 mar 2026 Support ha scritto:\n> ciao\n\n" + "x" * 400 + "\nOn " + "y" * 50 + " wrote:",
    "", "\n\n", "just one line",
]


@pytest.mark.parametrize("body", BODIES)
def test_reply_splitter_finds_the_library_fragments(body: str) -> None:
    library = EmailReplyParser(languages=list(REPLY_LANGUAGES)).read(body)
    ours = _ReplySplitter(body).read()
    assert [(r.headers, r.content) for r in ours.replies] == [(r.headers, r.content) for r in library.replies]


def starts_at_line(items: Any) -> bool:
    """Whether a parsed regex can only start matching at a line start (``^``) or at a newline."""
    if not len(items):
        return False
    op, arg = items[0]
    if op is sre_constants.AT:
        return arg is sre_constants.AT_BEGINNING
    if op is sre_constants.LITERAL:
        return arg == ord("\n")
    if op is sre_constants.SUBPATTERN:
        return starts_at_line(arg[3])
    if op is sre_constants.BRANCH:
        return all(starts_at_line(alternative) for alternative in arg[1])
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        return arg[0] >= 1 and starts_at_line(arg[2])
    return False


def test_library_header_regex_can_only_match_at_line_starts() -> None:
    """What intake.new_text._at_line_starts relies on: its guard must not hide a match of the library's regex."""
    regex = ReplyMessage(text="", languages=list(_reply_parser.languages)).HEADER_REGEX
    assert starts_at_line(sre_parse.parse(regex.pattern, regex.flags))
    assert not starts_at_line(sre_parse.parse(r"^On .* wrote:$|-{5,}", regex.flags))


# --- what the shortcuts stand on ---------------------------------------------------------------
# The shortcuts were re-measured on the bench's emails (issue 17; figures in the README's bench
# section) and each saves CPU, so they stay; these tests fail when a library changes what they
# override, instead of the shortcut silently doing nothing or something else.


def parameters(function: Any) -> list[tuple[str, Any]]:
    """A function's parameters as a caller sees them: names and kinds (annotations aside)."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def test_reply_splitter_overrides_what_the_library_reads() -> None:
    """_ReplySplitter replaces the library's ``HEADER_REGEX`` property and its private
    ``_process_signatures_disclaimers``: both must still exist, with the same shape, and be what
    ``read`` uses."""
    assert isinstance(inspect.getattr_static(ReplyMessage, "HEADER_REGEX"), property)
    library = inspect.getattr_static(ReplyMessage, "_process_signatures_disclaimers")
    assert parameters(library) == parameters(_ReplySplitter._process_signatures_disclaimers)
    read = inspect.getsource(ReplyMessage.read)
    assert "self.HEADER_REGEX" in read and "self._process_signatures_disclaimers(" in read
    assert set(vars(_ReplySplitter)) - {"__module__", "__doc__", "__init__"} == {
        "HEADER_REGEX", "_process_signatures_disclaimers"}  # nothing else of the library is replaced


def test_header_registry_overrides_what_the_policy_calls() -> None:
    """_HeaderRegistry replaces ``__getitem__``, ``__call__`` and ``map_to_type`` of the std-lib
    registry, and the policy must still build every header through its ``header_factory``."""
    for name in ("__getitem__", "__call__", "map_to_type"):
        assert parameters(getattr(HeaderRegistry, name)) == parameters(getattr(type(HEADERS), name))
    assert set(vars(type(HEADERS))) - {"__module__", "__doc__", "__init__"} == {
        "__getitem__", "__call__", "map_to_type"}
    assert POLICY.header_factory is HEADERS
    assert "self.header_factory(" in inspect.getsource(EmailPolicy.header_store_parse)
    assert "self.header_factory(" in inspect.getsource(EmailPolicy.header_fetch_parse)
