"""Values given before the intent is known (behaviour.md, "Fields"): kept when exactly one attribute
of the LOB's intents can hold them, so the customer is not asked again once the intent is known."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from agent_graph.brain.extractors.finding import values_before_intent
from agent_graph.brain.types import ExtractedValue
from agent_graph.catalog import Attribute, Catalog, parse_catalog
from agent_graph.context import Context, services
from agent_graph.domain import Action, OutboxStatus
from agent_graph.service import CaseAgent
from tests.conftest import T0, thread_email
from tools.update_case_fields import UpdateCaseFieldsArgs, attributes_before_intent, update_case_fields

QUAYSIDE = """
organisation: Quayside Telecom
mailbox: help@quayside.example
default_region: GB
default_template: plain
limits: {max_info_requests: 3, intent_confidence: 0.5}
lines_of_business:
  - id: accounts
    name: Accounts and bills
    automation: full
    queue: accounts-desk
    addresses: [bills@quayside.example]
    intents:
      - id: dispute_charge
        name: Dispute a charge
        description: The customer disputes a charge or fee on their monthly bill.
        examples:
          - There is a charge on my bill I do not recognise
          - You billed me for something I never ordered
          - Why was I charged an extra fee this month?
          - I want to dispute a charge on my statement
        attributes:
          - {name: account_number, description: the customer account, type: string, pattern: 'QT\\d{7}'}
          - name: statement_month
            description: which monthly statement shows the charge
            type: enum
            values: [january, february, march, april, may, june, july, august, september, october, november, december]
          - {name: details, description: what the customer says about the charge, type: text, required: false}
      - id: close_account
        name: Close an account
        description: The customer wants to close their account and end the contract.
        examples:
          - Please close my account, I am leaving
          - I want to end my contract with you
          - Cancel my broadband contract at the end of the month
          - How do I close my account?
        attributes:
          - {name: account_number, description: the customer account, type: string, pattern: 'QT\\d{7}'}
          - {name: closing_date, description: the day the customer would like the account closed, type: date}
          - {name: callback_phone, description: a number to call about the closure, type: phone, required: false}
  - id: mobile
    name: Mobile
    automation: full
    queue: mobile-desk
    addresses: [mobile@quayside.example]
    intents:
      - id: replace_sim
        name: Replace a SIM card
        description: The customer's SIM card is lost, stolen or broken and they need a new one.
        examples:
          - My SIM card stopped working
          - I lost my phone and need a new SIM
          - Can you send me a replacement SIM card?
        attributes:
          - {name: sim_serial, description: the serial printed on the SIM card, type: string, pattern: '89\\d{17}'}
templates:
  - id: plain
    purpose: generic
    subject: 'Re: {{ case.title }} [{{ case.number }}]'
    body: "Hello,\\n\\n{{ message }}\\n\\nQuayside Telecom"
"""


@pytest.fixture
def quayside() -> Catalog:
    return parse_catalog(yaml.safe_load(QUAYSIDE), "quayside.yaml")


@pytest.fixture
def agent(quayside, store, clock) -> CaseAgent:
    return CaseAgent(Context(catalog=quayside, store=store, clock=clock))


class Thread:
    """One customer writing to one address, each email a reply to our last one."""

    def __init__(self, agent: CaseAgent, store, clock, to: str = "bills@quayside.example"):
        self.agent, self.store, self.clock, self.to = agent, store, clock, to
        self.case_id: int | None = None
        self.n = 0

    def send(self, body: str, subject: str = "Question"):
        self.n += 1
        last = self._last_sent()
        raw = thread_email(body, subject=subject, sender="Ada Quill <ada@example.org>", to=self.to,
                           message_id=f"{self.to.split('@')[0]}-{self.n}@example.org", at=self.clock.now(),
                           last=last)
        result = self.agent.process_email(raw)
        self.case_id = result.case_id
        self.clock.advance(timedelta(hours=3))
        return result

    def fields(self) -> dict[str, str]:
        return self.store.field_values(self.case_id)

    def _last_sent(self):
        if self.case_id is None:
            return None
        sent = [i for i in self.store.outbox(self.case_id) if i.status == OutboxStatus.SENT]
        return sent[-1] if sent else None


# --- through the agent ----------------------------------------------------------------------------

def test_a_number_in_an_unclear_first_email_is_not_asked_for_again(agent, store, clock):
    thread = Thread(agent, store, clock)
    first = thread.send("Hi there, regarding QT4455667: something on it isn't right, can someone look?")
    assert first.outcome.action is Action.REQUEST_INFO and store.case(thread.case_id).intent is None
    [kept] = store.field_history(thread.case_id)
    assert (kept.name, kept.value, kept.message_id) == ("account_number", "QT4455667", store.customer_messages(
        thread.case_id)[0].id)
    second = thread.send("You charged me 12.50 on my May statement for a fee I never agreed to.")
    assert store.case(thread.case_id).intent == "dispute_charge"
    assert second.outcome.action is Action.SEND_RESOLUTION
    assert thread.fields()["account_number"] == "QT4455667" and thread.fields()["statement_month"] == "may"


def test_once_the_intent_is_known_only_what_is_still_missing_is_asked(agent, store, clock):
    thread = Thread(agent, store, clock)
    thread.send("Hello, I need to sort something out on QT5566778. Thanks, Ada")
    assert store.case(thread.case_id).intent is None and thread.fields() == {"account_number": "QT5566778"}
    second = thread.send("Please end my contract, I am moving abroad.")
    assert store.case(thread.case_id).intent == "close_account"
    assert second.outcome.action is Action.REQUEST_INFO
    asked = [i for i in store.outbox(thread.case_id) if i.status == OutboxStatus.SENT][-1]
    assert "closing date" in asked.body.lower() and "account number" not in asked.body.lower()


def test_a_number_in_the_first_subject_is_kept(agent, store, clock):
    thread = Thread(agent, store, clock)
    thread.send("Hello, could you help me with this?", subject="Ref QT7788990")
    assert store.case(thread.case_id).intent is None
    assert thread.fields() == {"account_number": "QT7788990"}
    second = thread.send("I'd like to close my account on 30 June, I'm leaving the country.")
    assert second.outcome.action is Action.SEND_RESOLUTION
    assert thread.fields()["account_number"] == "QT7788990"


def test_a_value_of_another_intent_stays_recorded_and_changes_nothing(agent, store, clock):
    thread = Thread(agent, store, clock)
    thread.send("Hello, something is wrong with QT2233445. Reach me on 07911 123456 any time.")
    assert store.case(thread.case_id).intent is None
    assert thread.fields() == {"account_number": "QT2233445", "callback_phone": "+447911123456"}
    second = thread.send("There is a fee on my March statement that I do not recognise.")
    assert store.case(thread.case_id).intent == "dispute_charge"
    assert second.outcome.action is Action.SEND_RESOLUTION
    assert thread.fields()["callback_phone"] == "+447911123456"


def test_a_value_only_another_line_of_business_knows_is_not_kept(agent, store, clock):
    thread = Thread(agent, store, clock)
    thread.send("Something about 8944110000123456789 and QT1234567, please help")
    assert thread.fields() == {"account_number": "QT1234567"}
    other = Thread(agent, store, clock, to="mobile@quayside.example")
    other.send("Something about 8944110000123456789 and QT1234567, please help")
    assert other.fields() == {"sim_serial": "8944110000123456789"}


def test_free_text_dates_and_amounts_wait_for_the_intent(agent, store, clock):
    thread = Thread(agent, store, clock)
    thread.send("Hi, since 3 March I have been trying to reach you about 45.00. It has been a terrible week.")
    assert thread.fields() == {}
    assert store.case(thread.case_id).intent is None


def test_the_tool_refuses_attributes_a_case_without_intent_cannot_hold(agent, quayside, store, clock):
    thread = Thread(agent, store, clock)
    thread.send("Hello, I need some help please.")
    env = services(agent.context)
    with store.unit_of_work():
        result = update_case_fields(env, UpdateCaseFieldsArgs(case_id=thread.case_id, values=[
            ExtractedValue(name="sim_serial", value="8944110000123456789", span="8944110000123456789",
                           extractor="test", confidence=0.9),
            ExtractedValue(name="details", value="a fee", span="a fee", extractor="test", confidence=0.9),
            ExtractedValue(name="account_number", value="QT9988776", span="QT9988776", extractor="test",
                           confidence=0.9),
        ]))
    assert result.written == ["account_number"]
    assert [r.name for r in result.rejected] == ["sim_serial", "details"]


# --- which attributes, which values -----------------------------------------------------------------

def test_attributes_before_intent_are_the_lobs_defined_alike(quayside):
    names = [a.name for a in attributes_before_intent(quayside, "accounts")]
    assert names == ["account_number", "statement_month", "closing_date", "callback_phone"]
    assert [a.name for a in attributes_before_intent(quayside, "mobile")] == ["sim_serial"]
    differing = yaml.safe_load(QUAYSIDE)
    differing["lines_of_business"][0]["intents"][1]["attributes"][0]["pattern"] = "\\d{8}"
    changed = parse_catalog(differing, "differing.yaml")
    assert "account_number" not in [a.name for a in attributes_before_intent(changed, "accounts")]


TICKET = Attribute(name="repair_ticket", description="the workshop ticket", pattern=r"[A-Z]{2}\d{5}")
VOUCHER = Attribute(name="voucher_code", description="the gift voucher", pattern=r"[A-Z]{2}\d{5}")
VISIT = Attribute(name="visit_date", description="the day of the visit", type="date")
PARTS = Attribute(name="parts_count", description="how many parts", type="number")
EMAIL = Attribute(name="reply_email", description="where to write back", type="email")


def before(text: str, *attributes: Attribute) -> dict[str, str]:
    return {v.name: v.value for v in values_before_intent(text, list(attributes), now=T0, region="GB")}


def test_a_value_two_attributes_could_hold_is_not_kept():
    assert before("It concerns WK20417, thanks", TICKET, VOUCHER) == {}
    assert before("It concerns WK20417, thanks", TICKET) == {"repair_ticket": "WK20417"}


def test_a_label_names_its_attribute():
    assert before("Voucher code: WK20417", TICKET, VOUCHER) == {"voucher_code": "WK20417"}
    assert before("Visit date: 12 March 2026, parts count: 3", VISIT, PARTS) == {
        "visit_date": "2026-03-12", "parts_count": "3"}


def test_dates_and_numbers_need_a_label():
    assert before("We spoke on 12 March 2026 about 3 parts", VISIT, PARTS) == {}


def test_an_attribute_that_finds_two_values_keeps_neither():
    assert before("Either AB12345 or AB54321, I am not sure", TICKET) == {}
    assert before("Write to me at ada@example.org", TICKET, EMAIL) == {"reply_email": "ada@example.org"}


# --- mail to the general mailbox ------------------------------------------------------------------

def test_mail_to_the_general_mailbox_keeps_values_of_every_lines_of_business(agent, store, clock):
    """The case of mail to no LOB's own address is parked in the first LOB; that says nothing about the
    request, so every LOB's attributes are candidates (a SIM serial only the mobile LOB knows)."""
    thread = Thread(agent, store, clock, to="help@quayside.example")
    thread.send("Something about 8944110000123456789 and QT1234567, please help")
    assert store.case(thread.case_id).intent is None
    assert thread.fields() == {"sim_serial": "8944110000123456789", "account_number": "QT1234567"}


def test_a_value_of_a_later_lobs_intent_given_to_the_general_mailbox_is_not_asked_again(agent, store, clock):
    """Only in the first subject, so only the value kept before the intent can answer for it."""
    thread = Thread(agent, store, clock, to="help@quayside.example")
    first = thread.send("Hello, something needs sorting, can you help?", subject="Ref 8944110000987654321")
    assert first.outcome.action is Action.REQUEST_INFO and store.case(thread.case_id).intent is None
    second = thread.send("I lost my phone and need a replacement SIM card.", subject="Ref 8944110000987654321")
    assert store.case(thread.case_id).intent == "replace_sim"
    assert second.outcome.action is Action.SEND_RESOLUTION
    assert thread.fields()["sim_serial"] == "8944110000987654321"


def test_the_general_mailbox_candidates_are_every_lobs_defined_alike(quayside):
    assert [a.name for a in attributes_before_intent(quayside, None)] == [
        "account_number", "statement_month", "closing_date", "callback_phone", "sim_serial"]
