"""Tests of intake: raw email bytes to InboundEmail (docs/behaviour.md steps 1-4)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from agent_graph.errors import EmailParseError
from agent_graph.intake.automatic import automatic_reason
from agent_graph.intake.building import build_email
from agent_graph.intake.message import CASE_NUMBER_RE, InboundEmail, case_number_in_subject
from agent_graph.intake.new_text import separate_new_text
from agent_graph.intake.parsing import MAX_BODY_CHARS, MAX_NEW_TEXT_CHARS, parse_email
from agent_graph.store import CaseStore

FIXTURES = Path(__file__).parent / "fixtures" / "eml"
OWN = ("support@acme.example",)


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str) -> InboundEmail:
    return parse_email(load(name), own_addresses=OWN)


def message(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- headers and bodies ----------------------------------------------------------------------


def test_plain_text_email() -> None:
    email = parse("plain.eml")
    assert email.message_id == "CAF3k9=Qx1@mail.customer.example"
    assert email.from_address == "dana.whitfield@customer.example"
    assert email.from_name == "Dana Whitfield"
    assert email.to == ["support@acme.example", "accounts@customer.example"]
    assert email.subject == "Parcel arrived damaged"
    assert email.date == datetime(2026, 3, 2, 8, 14, 1, tzinfo=UTC)
    assert email.in_reply_to is None
    assert email.references == []
    assert "lamp inside\nis broken" in email.body_text
    assert email.new_text.startswith("Hello,")
    assert email.new_text.endswith("Thanks, Dana")  # sign-offs are kept
    assert email.automatic_reason is None
    assert email.headers["content-type"] == 'text/plain; charset="UTF-8"'
    assert email.headers["return-path"] == "<dana@customer.example>"
    assert email.raw == load("plain.eml").decode()


def test_html_only_email_is_converted_to_text() -> None:
    email = parse("html_only.eml")
    assert "<" not in email.body_text
    assert "size M" in email.body_text
    assert "size XL – order number A-31002" in email.body_text
    assert "Rain jacket" in email.body_text
    assert "A-31002" in email.new_text
    assert email.from_name == "Marc Olsen"


def test_multipart_alternative_prefers_plain_part() -> None:
    email = parse("alternative.eml")
    assert "12 Harbour Road, Leeds" in email.body_text
    assert "HTML VERSION" not in email.body_text
    assert email.date == datetime(2026, 3, 4, 8, 5, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))


def test_quoted_printable_body_and_encoded_from_name() -> None:
    email = parse("quoted_printable.eml")
    assert email.from_name == "Renée Müller"
    assert "noch nicht angekommen. Können Sie bitte" in email.body_text  # soft line break joined
    assert "Viele Grüße" in email.body_text


def test_base64_body() -> None:
    email = parse("base64.eml")
    assert "order A-20417 (€49.90 each time)" in email.body_text
    assert "Jürgen" in email.new_text


def test_encoded_word_subject() -> None:
    email = parse("encoded_subject.eml")
    assert email.subject == "Rückerstattung für Bestellung A-20417"
    assert email.from_name == "Jürgen Braun"


def test_latin1_charset() -> None:
    email = parse("latin1.eml")
    assert email.subject == "Problème de facture"
    assert email.from_name == "François Lefèvre"
    assert "François" in email.body_text
    assert "commande A-60606" in email.new_text
    assert "\ufffd" not in email.body_text
    assert "�" in email.raw  # raw is stored as utf-8 with replacement


def test_unknown_charset_does_not_crash() -> None:
    email = parse("unknown_charset.eml")
    assert "Order A-80008 is missing" in email.body_text


def test_raw_8bit_headers_are_repaired() -> None:
    raw = (
        "From: Jürgen <j@customer.example>\nTo: support@acme.example\nSubject: Rückfrage\n"
        "Message-ID: <8bit@customer.example>\n\nhallo\n"
    ).encode()
    email = parse_email(raw)
    assert email.subject == "Rückfrage"
    assert email.from_name == "Jürgen"
    latin = raw.decode("utf-8").encode("latin-1")
    assert parse_email(latin).subject == "Rückfrage"


@pytest.mark.parametrize("header", [b"Message-ID: <ab\xe9c@customer.example>", b"Subject: caf\xe9 \xff\xfe",
                                    b"From: Jos\xe9 <jose@customer.example>",
                                    b"In-Reply-To: <q\xe9@customer.example>"])
def test_raw_8bit_bytes_in_any_header_become_text_a_store_can_encode(header: bytes, store: CaseStore) -> None:
    name = header.split(b":")[0]
    raw = b"\r\n".join([header] + [line for line in (b"From: jose@customer.example", b"Subject: x",
                                                     b"Message-ID: <m@customer.example>")
                                    if not line.startswith(name)]) + b"\r\n\r\nhello\r\n"
    email = parse_email(raw)
    stored = store.add_inbound(email, None, datetime(2026, 3, 2, tzinfo=UTC))
    assert store.message(stored.id).message_id == email.message_id
    for text in (email.message_id, email.subject, email.from_name or "", email.in_reply_to or ""):
        text.encode("utf-8")  # no surrogate left


def test_undecodable_8bit_header_falls_back_to_the_declared_charset() -> None:
    raw = ("From: a@customer.example\nSubject: Заказ\nContent-Type: text/plain; charset=koi8-r\n\nтекст\n"
           .encode("koi8-r"))
    assert parse_email(raw).subject == "Заказ"


def test_email_starting_with_a_byte_order_mark_is_accepted() -> None:
    email = parse_email(b"\xef\xbb\xbf" + load("plain.eml"))
    assert email == parse_email(load("plain.eml"))


def test_body_longer_than_the_cap_is_cut_and_says_so() -> None:
    body = "I want to return my bike.\n" + "x" * (MAX_BODY_CHARS + 5000)
    raw = f"From: a@customer.example\nSubject: big\nMessage-ID: <big@customer.example>\n\n{body}".encode()
    email = parse_email(raw)
    assert len(email.body_text) == MAX_BODY_CHARS
    assert email.body_cut_from == len(body)
    assert parse_email(load("plain.eml")).body_cut_from is None


def test_the_brain_reads_at_most_the_first_characters_of_new_text() -> None:
    body = "I want to return my bike, order TB-1234.\n" * 2_000
    email = parse_email(f"From: a@customer.example\nSubject: big\n\n{body}".encode())
    assert email.new_text == body.strip()[:MAX_NEW_TEXT_CHARS] and len(email.body_text) > MAX_NEW_TEXT_CHARS


def test_long_lines_are_put_back_in_linear_time() -> None:
    # Putting each masked long line back used to rewrite the whole text: 3 MB took ~40 s.
    body = "Hello\n" + ("y" * 400 + "\n") * 7_500 + "On Mon, 2 Mar 2026, Dana <d@x.example> wrote:\n> old\n"
    started = time.perf_counter()
    new_text = separate_new_text(body)
    assert time.perf_counter() - started < 10  # a sanity bound; the report's figure is ~0.1 s
    assert new_text.count("y" * 400) == 7_500 and "old" not in new_text


def test_str_input_is_accepted() -> None:
    email = parse_email(load("encoded_subject.eml").decode("ascii"))
    assert email.subject == "Rückerstattung für Bestellung A-20417"


def test_threading_headers_without_brackets_in_order() -> None:
    email = parse("gmail_reply.eml")
    assert email.in_reply_to == "case-000123-out-1@acme.example"
    assert email.references == ["CAF3k9=Qx1@mail.customer.example", "case-000123-out-1@acme.example"]
    assert case_number_in_subject(email.subject) == "CAS-000123"


def test_naive_date_becomes_utc_and_bad_date_is_none() -> None:
    base = "From: a@customer.example\nMessage-ID: <d@x>\n{date}\n\nbody\n"
    naive = parse_email(base.format(date="Date: Wed, 4 Mar 2026 10:00:00 -0000").encode())
    assert naive.date == datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert parse_email(base.format(date="Date: next tuesday-ish").encode()).date is None
    assert parse_email(base.format(date="X-No-Date: 1").encode()).date is None


# --- Message-ID ------------------------------------------------------------------------------


def test_missing_message_id_is_generated_deterministically() -> None:
    raw = load("no_message_id.eml")
    first = parse_email(raw)
    assert first.message_id.startswith("generated-")
    assert first.message_id.endswith("@case-agent.invalid")
    digest = first.message_id.removeprefix("generated-").removesuffix("@case-agent.invalid")
    assert len(digest) == 32 and all(c in "0123456789abcdef" for c in digest)
    assert parse_email(raw).message_id == first.message_id
    assert parse_email(raw.replace(b"A-70007", b"A-70008")).message_id != first.message_id


# --- unusable input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [load("garbage.eml"), b"", b"   \n\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "just some words, no headers"],
)
def test_garbage_raises_email_parse_error(raw: bytes | str) -> None:
    with pytest.raises(EmailParseError, match="not an email"):
        parse_email(raw)


def test_missing_from_raises_email_parse_error() -> None:
    with pytest.raises(EmailParseError, match="no From address"):
        parse_email(load("no_from.eml"))


def test_from_without_address_raises_email_parse_error() -> None:
    with pytest.raises(EmailParseError, match="no From address"):
        parse_email(b"From: undisclosed\nTo: support@acme.example\n\nhello\n")


# --- automatic mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("out_of_office.eml", "auto-submitted: auto-replied"),
        ("out_of_office_subject_only.eml", "automatic reply subject"),
        ("delivery_status.eml", "auto-submitted"),
        ("delivery_status_no_auto_header.eml", "multipart/report: delivery-status"),
        ("mailing_list.eml", "list-id"),
        ("precedence_bulk.eml", "precedence: bulk"),
        ("x_autoreply.eml", "x-autoreply"),
        ("noreply_sender.eml", "automatic sender: no-reply@tracking.example"),
        ("own_mailbox.eml", "from our own address: support@acme.example"),
    ],
)
def test_automatic_mail_is_recognised(fixture: str, expected: str) -> None:
    reason = parse(fixture).automatic_reason
    assert reason is not None and expected in reason


def test_delivery_status_notification() -> None:
    email = parse("delivery_status.eml")
    assert email.from_address == "mailer-daemon@mx.acme.example"
    assert email.from_name is None
    assert "could not\nbe delivered" in email.body_text  # the human-readable part, not the report
    assert email.headers["return-path"] == "<>"
    msg = message(load("delivery_status.eml"))
    del msg["Auto-Submitted"]
    assert automatic_reason(msg, "mailer-daemon@mx.acme.example", ()) == "multipart/report: delivery-status"


def test_report_part_inside_multipart_mixed_is_automatic() -> None:
    raw = (
        b"From: relay@relay.example\nTo: support@acme.example\nSubject: failure\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nfailed\n'
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example\n\n"
        b"Final-Recipient: rfc822; x@customer.example\nAction: failed\n\n--b--\n"
    )
    assert parse_email(raw).automatic_reason == "report part: message/delivery-status"


def test_forwarded_bounce_attachment_is_human() -> None:
    bounce = load("delivery_status_no_auto_header.eml").decode()
    raw = (
        "From: Dana Whitfield <dana@customer.example>\nTo: support@acme.example\nSubject: My email bounced\n"
        "Message-ID: <fwd-bounce@customer.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outer"\n\n'
        "--outer\nContent-Type: text/plain; charset=utf-8\n\nI tried to write to you but got the attached bounce.\n"
        "--outer\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        f"{bounce}\n--outer--\n"
    ).encode()
    email = parse_email(raw)
    assert email.automatic_reason is None
    assert email.new_text == "I tried to write to you but got the attached bounce."


def test_auto_submitted_no_and_outlook_suppress_header_are_human() -> None:
    email = parse("auto_submitted_no.eml")
    assert email.automatic_reason is None
    assert email.headers["auto-submitted"] == "no"
    assert "x-auto-response-suppress" in email.headers


def test_outlook_reply_with_suppress_header_is_human() -> None:
    assert parse("outlook_reply.eml").automatic_reason is None


def test_own_mailbox_only_when_configured() -> None:
    assert parse_email(load("own_mailbox.eml")).automatic_reason is None
    raw = load("own_mailbox.eml")
    assert parse_email(raw, own_addresses=["ACME <SUPPORT@acme.example>"]).automatic_reason is not None


@pytest.mark.parametrize(
    "sender",
    ["MAILER-DAEMON@mx.example", "postmaster@mx.example", "noreply@shop.example", "do-not-reply@shop.example",
     "donotreply@shop.example", "no-reply+bounces@shop.example"],
)
def test_daemon_and_noreply_senders(sender: str) -> None:
    raw = f"From: {sender}\nTo: support@acme.example\nSubject: hi\n\nbody\n".encode()
    assert parse_email(raw).automatic_reason is not None


@pytest.mark.parametrize("sender", ["replyguy@customer.example", "dana.noreply.fan@customer.example"])
def test_ordinary_senders_are_human(sender: str) -> None:
    raw = f"From: {sender}\nTo: support@acme.example\nSubject: Autoreply not working\n\nbody\n".encode()
    assert parse_email(raw).automatic_reason is None


# --- the customer's new text -----------------------------------------------------------------


def test_gmail_reply_quoted_values_are_not_new_text() -> None:
    email = parse("gmail_reply.eml")
    assert "A-99999" in email.body_text
    assert "A-99999" not in email.new_text
    assert "wrote:" not in email.new_text
    assert email.new_text == "Hi,\n\nthe order number is A-20417 and I'd like a replacement please.\n\nThanks, Dana"


def test_gmail_reply_with_attribution_wrapped_onto_two_lines() -> None:
    email = parse("gmail_reply_wrapped.eml")
    assert email.new_text == "Photo attached. My phone number is +44 7700 900123."


def test_gmail_html_reply() -> None:
    email = parse("gmail_reply_html.eml")
    assert "A-99999" in email.body_text
    assert email.new_text == "Still no replacement for A-20417."


def test_outlook_reply_from_sent_block() -> None:
    email = parse("outlook_reply.eml")
    assert "A-99999" in email.body_text
    assert "A-99999" not in email.new_text
    assert "From:" not in email.new_text and "____" not in email.new_text
    assert "INV-7781" in email.new_text
    assert "accounts@bigcorp.example" in email.new_text
    assert email.new_text.endswith("Procurement | BigCorp Ltd")


def test_outlook_original_message_separator() -> None:
    email = parse("outlook_original_message.eml")
    assert email.new_text == "Any update on this? The amount should be 250.00 GBP.\n\nSam"
    assert "999.00" not in email.new_text


def test_apple_mail_reply_from_iphone() -> None:
    email = parse("apple_mail_reply.eml")
    assert email.message_id == "7C1E2B4F-9A11-4C3B-8D8F-1A2B3C4D5E6F@customer.example"
    assert email.new_text == "The tracking number of my return parcel is JD014600003828.\n\nLena"
    assert "A-99999" not in email.new_text


def test_apple_mail_reply_desktop() -> None:
    assert parse("apple_mail_reply_desktop.eml").new_text == "Yes, that works for me."


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, 2 Mar 2026 at 10:00, Support <support@x.example> wrote:",
        "On 2 Mar 2026, at 10:00, Support <support@x.example> wrote:",
        "On 02/03/2026 10:00, Support wrote:",
        "Le lun. 2 mars 2026 à 10:00, Support <support@x.example> a écrit :",
        "Am Mo., 2. März 2026 um 10:00 Uhr schrieb Support <support@x.example>:",
        "-----Original Message-----",
        "----- Original Message -----",
        "From: Support <support@x.example>\nSent: Monday, March 2, 2026 10:00 AM",
        "*From:* Support <support@x.example>\n*Sent:* Monday, March 2, 2026 10:00 AM\n*To:* Dana",
        "Von: Support <support@x.example>\nGesendet: Montag, 2. März 2026 10:00",
        "De : Support <support@x.example>\nEnvoyé : lundi 2 mars 2026 10:00",
    ],
)
def test_quoted_history_is_cut_at_reply_headers(attribution: str) -> None:
    body = f"Please cancel order A-11111.\n\nDana\n\n{attribution}\n\nYour order A-99999 was shipped.\n"
    new_text = separate_new_text(body)
    assert new_text == "Please cancel order A-11111.\n\nDana"


def test_quoted_lines_are_dropped_without_attribution() -> None:
    body = "> Which order is it?\n> We see A-99999.\n\nIt is A-12345.\n"
    assert separate_new_text(body) == "It is A-12345."


def test_inline_answers_between_quotes_are_kept() -> None:
    body = (
        "On Mon, 2 Mar 2026 at 10:00, Support <support@x.example> wrote:\n"
        "> What is your order number? (not A-99999?)\n"
        "A-12345\n"
        "> And your delivery address?\n"
        "12 Main Street\n"
    )
    new_text = separate_new_text(body)
    assert "A-12345" in new_text and "12 Main Street" in new_text
    assert "A-99999" not in new_text


def test_signature_block_is_dropped() -> None:
    body = "My order is A-12345.\n\nDana\n-- \nDana Whitfield\nHead of Things, Customer Ltd\nOrder desk: A-55555\n"
    assert separate_new_text(body) == "My order is A-12345.\n\nDana"


def test_mobile_signature_is_dropped() -> None:
    assert separate_new_text("Yes please.\n\nSent from my iPhone\n") == "Yes please."


def test_sentence_starting_with_on_is_not_an_attribution() -> None:
    body = "On Monday my colleague wrote:\nthe box was empty.\n"
    assert separate_new_text(body) == "On Monday my colleague wrote:\nthe box was empty."


def test_customer_text_that_looks_like_headers_is_kept() -> None:
    body = "Please move my delivery.\nFrom: 12 Old Street\nTo: 5 New Road\n\nThanks, Dana\n"
    assert separate_new_text(body) == body.strip()
    body = "Hello.\nOn Monday my colleague wrote:\nthe box was empty.\n"
    assert separate_new_text(body) == body.strip()


def test_outlook_html_reply() -> None:
    raw = (
        b"From: Sam Carter <sam.carter@bigcorp.example>\nTo: support@acme.example\nSubject: RE: Invoice\n"
        b"Message-ID: <outlook-html@bigcorp.example>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        b'<html><body><div>Please use PO number PO-4410.</div><div>Sam</div>'
        b'<hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr">'
        b'<font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> ACME Support'
        b'<br><b>Sent:</b> Tuesday, March 3, 2026 1:10 PM<br><b>To:</b> Sam Carter<br><b>Subject:</b> Invoice'
        b'</font><div>&nbsp;</div></div><div>Which PO number? We have PO-9999 on file.</div></body></html>\n'
    )
    email = parse_email(raw)
    assert "PO-9999" in email.body_text
    assert email.new_text == "Please use PO number PO-4410.\nSam"


def test_long_lines_do_not_make_parsing_slow() -> None:
    # the reply-header regexes backtrack on long lines starting with "On"; they are masked
    body = "Hello\nOn " + "1 " * 100_000 + "\nbye\n"
    assert separate_new_text(body).startswith("Hello\nOn 1 1")


def test_everything_removed_falls_back_to_first_unquoted_lines() -> None:
    assert separate_new_text("-- \nDana Whitfield\n") == "Dana Whitfield"
    assert separate_new_text("> only quoted\n> A-99999\n") == ""
    assert separate_new_text("") == ""


# --- case numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [CAS-000123] Parcel arrived damaged", "CAS-000123"),
        ("CAS-000001", "CAS-000001"),
        ("Re: CAS-1234567 too long", None),
        ("XCAS-000123", None),
        ("Nothing here", None),
        ("", None),
    ],
)
def test_case_number_in_subject(subject: str, expected: str | None) -> None:
    assert case_number_in_subject(subject) == expected
    assert bool(CASE_NUMBER_RE.search(subject)) == (expected is not None)


# --- building --------------------------------------------------------------------------------


def test_build_email_round_trips_through_parse_email() -> None:
    sent_at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    raw = build_email(
        from_="ACME Support <support@acme.example>",
        to="Jürgen Braun <juergen@customer.example>",
        subject="Re: [CAS-000123] Rückerstattung für Bestellung A-20417",
        body="Hallo Jürgen,\n\nwir erstatten 49,90 € für Bestellung A-20417.\n\nIhr ACME-Support\n",
        message_id="case-000123-out-1@acme.example",
        date=sent_at,
        in_reply_to="CAF3k9=Qx1@mail.customer.example",
        references=["first@customer.example", "CAF3k9=Qx1@mail.customer.example"],
        headers={"Auto-Submitted": "auto-replied", "X-Case-Number": "CAS-000123"},
    )
    assert isinstance(raw, bytes)
    assert b"Message-ID: <case-000123-out-1@acme.example>" in raw
    assert b"In-Reply-To: <CAF3k9=Qx1@mail.customer.example>" in raw
    email = parse_email(raw)
    assert email.message_id == "case-000123-out-1@acme.example"
    assert email.in_reply_to == "CAF3k9=Qx1@mail.customer.example"
    assert email.references == ["first@customer.example", "CAF3k9=Qx1@mail.customer.example"]
    assert email.from_address == "support@acme.example"
    assert email.from_name == "ACME Support"
    assert email.to == ["juergen@customer.example"]
    assert email.subject == "Re: [CAS-000123] Rückerstattung für Bestellung A-20417"
    assert email.date == sent_at
    assert email.body_text == "Hallo Jürgen,\n\nwir erstatten 49,90 € für Bestellung A-20417.\n\nIhr ACME-Support\n"
    assert email.headers["auto-submitted"] == "auto-replied"
    assert email.automatic_reason == "auto-submitted: auto-replied"


def test_build_email_minimal_and_naive_date() -> None:
    raw = build_email(
        from_="dana@customer.example",
        to="support@acme.example",
        subject="Hello",
        body="Where is A-1?",
        message_id="<with-brackets@customer.example>",
        date=datetime(2026, 3, 2, 10, 0),
    )
    email = parse_email(raw)
    assert email.message_id == "with-brackets@customer.example"
    assert email.in_reply_to is None and email.references == []
    assert email.date == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert email.new_text == "Where is A-1?"
    assert email.automatic_reason is None


def test_build_email_long_message_id_is_not_mangled() -> None:
    long_id = "case-000123-out-1-" + "x" * 90 + "@acme.example"
    raw = build_email(
        from_="support@acme.example", to="dana@customer.example", subject="s", body="b",
        message_id=long_id, date=datetime(2026, 3, 2, tzinfo=UTC), references=[long_id, long_id + "2"],
        in_reply_to=long_id,
    )
    email = parse_email(raw)
    assert email.message_id == long_id
    assert email.in_reply_to == long_id
    assert email.references == [long_id, long_id + "2"]
