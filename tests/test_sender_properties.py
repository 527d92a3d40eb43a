"""Properties of senders and threading, for generated From headers, display names, encoded words
and case numbers: no reply goes to an address that is not the sender's, and no case changes
because of another customer's email.

The sender's address is what the std-lib header parser (the reference) finds in a single,
well-formed From header; an email without one must not be answered at all."""

from __future__ import annotations

import re
from email import errors, policy
from email.header import Header

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_graph.domain import Direction
from agent_graph.errors import EmailParseError
from agent_graph.store import CaseStore
from tests.conftest import email
from tests.test_security import ORDER, RETURN, VICTIM, raw_email, snapshot

VICTIM_ADDRESS = "robin@example.net"

plain_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\n"),
                      max_size=24)
any_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
address_like = st.sampled_from([VICTIM_ADDRESS, "Robin@Example.NET", "victim@bank.example", "eve@example.org"])
addresses = st.one_of(
    st.sampled_from([VICTIM_ADDRESS, "ROBIN@example.net", "eve@example.org", "eve@localhost", "eve@x.invalid",
                     "e ve@example.org", "eve@@example.org", "eve.example.org", '"eve x"@example.org']),
    st.emails(),
)


@st.composite
def display_names(draw: st.DrawFn) -> str:
    """A display name as written in the header: plain, quoted or an encoded word (which may hide CR/LF)."""
    text = draw(st.one_of(st.just(""), plain_names, address_like,
                          st.builds("{} {}".format, plain_names, address_like)))
    form = draw(st.sampled_from(["plain", "quoted", "encoded"]))
    if form == "quoted":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if form == "encoded":
        return Header(draw(st.one_of(any_names, st.builds("{}\r\n{}".format, plain_names, address_like))),
                      "utf-8").encode(maxlinelen=10_000)
    return text


@st.composite
def from_headers(draw: st.DrawFn) -> str:
    def mailbox() -> str:
        shape = draw(st.sampled_from(["angled", "bare", "comment"]))
        address = draw(addresses)
        if shape == "bare":
            return address
        if shape == "comment":
            return f"{address} ({draw(plain_names)})"
        return f"{draw(display_names())} <{address}>"

    return ", ".join(mailbox() for _ in range(draw(st.integers(1, 2))))


def reference_sender(from_header: str) -> str | None:
    """The std-lib's reading: the addr-spec of the one mailbox of a well-formed From, or None.

    The header is unfolded first, as a mail reader does (RFC 5322 §2.2.3: a line break followed by
    white space is not part of the value), so a long encoded display name folded over two lines reads
    as one name, not as a name holding a line break."""
    try:
        header = policy.default.header_factory("From", re.sub(r"\r?\n(?=[ \t])", "", from_header))
    except Exception:
        return None
    if any(not isinstance(d, errors.ObsoleteHeaderDefect) for d in header.defects) or len(header.addresses) != 1:
        return None
    return header.addresses[0].addr_spec.lower() or None


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(from_header=from_headers(), threading=st.sampled_from(["case number", "in-reply-to", "guessed number", "none"]),
       guess=st.integers(1, 200))
def test_no_reply_to_another_address_and_no_change_to_another_customers_case(
        make_agent, store: CaseStore, from_header: str, threading: str, guess: int):
    agent = make_agent()
    serial = len(store.list_cases()) * 10 + 1000
    victim = agent.process_email(email(RETURN, subject="Return my bike", sender=VICTIM, n=serial)).case_id
    number = store.case(victim).number
    ours = [m for m in store.messages(victim) if m.direction == Direction.OUTBOUND][-1].message_id
    subject = {"case number": f"Re: Return my bike [{number}]", "guessed number": f"About CAS-{guess:06d}"
               }.get(threading, "Re: Return my bike")
    guessed = store.case_by_number(f"CAS-{guess:06d}") if threading == "guessed number" else None
    watched = {case.id: snapshot(store, case.id) for case in [store.case(victim), guessed] if case is not None}
    outbox_before = {item.id for item in store.outbox()}

    try:
        agent.process_email(raw_email(from_header, ORDER, subject=subject, n=serial + 1,
                                      in_reply_to=ours if threading == "in-reply-to" else None))
    except EmailParseError:  # no address at all: reported and left alone, as any malformed email
        pass

    sender = reference_sender(from_header)
    for item in store.outbox():
        if item.id not in outbox_before:
            assert sender is not None, f"answered an ambiguous sender {from_header!r}"
            assert item.to_address == sender, f"{from_header!r}: reply to {item.to_address}, sender {sender}"
    if sender == VICTIM_ADDRESS:
        return  # the customer may change their own case
    for case_id, before in watched.items():
        after = snapshot(store, case_id)
        if threading == "in-reply-to" and case_id == victim:  # recorded and handed to a person, nothing more
            assert (after["fields"], after["outbox"]) == (before["fields"], before["outbox"]), from_header
        else:
            assert after == before, from_header
