"""Typed values in everyday customer language: the value is found where a person would see it,
and a look-alike (a piece of a date, a verb, a surname, a rank) is not taken for it."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent_graph.brain.extractors.finding import extract_values, values_before_intent
from agent_graph.catalog import Attribute

NOW = datetime(2026, 3, 4, 10, 0)  # a Wednesday

LOCKER = Attribute(name="locker_code", description="The four-digit code of the parcel locker", pattern=r"\d{4}")
COLLECTED = Attribute(name="collection_date", type="date", description="When the parcel was collected")
FEE = Attribute(name="fee_paid", type="money", description="How much was paid")
CALLBACK = Attribute(name="callback_phone", type="phone", description="Where to call back")


def found(text: str, *attributes: Attribute) -> dict[str, str]:
    return {v.name: v.value for v in extract_values(text, list(attributes), now=NOW, region="US")}


class TestPatternInsideAnotherValue:
    def test_year_of_a_date_is_not_a_code_and_the_date_is_kept(self):
        assert found("The locker was opened on 2 March 2026.", LOCKER, COLLECTED) == {
            "collection_date": "2026-03-02"}

    def test_digits_of_an_amount_are_not_a_code(self):
        assert found("I paid $1250 at the locker", LOCKER, FEE) == {"fee_paid": "1250.00 USD"}

    def test_digits_of_a_phone_number_are_not_a_code(self):
        assert found("About the locker: call me on (212) 555 4477", CALLBACK, LOCKER) == {
            "callback_phone": "+12125554477"}

    def test_the_code_beside_a_date_is_still_found(self):
        assert found("Locker 5120, collected 2 March 2026", LOCKER, COLLECTED) == {
            "locker_code": "5120", "collection_date": "2026-03-02"}


ARRIVAL = Attribute(name="arrival_date", type="date", description="The day you arrive at the hotel")
CHECKOUT = Attribute(name="checkout_date", type="date", description="The day you check out")
CHECKED_OUT = Attribute(name="checkout_date", type="date", description="The day you checked out of the hotel")
VOYAGE = Attribute(name="sailing_date", type="date", description="Sailing date: the day the cruise departs")


class TestDatesOfATrip:
    @pytest.mark.parametrize("attribute,text,expected", [
        (ARRIVAL, "We arrive on 2 February and stay a week.", "2027-02-02"),
        (CHECKOUT, "checking out the 1st", "2026-04-01"),
        (VOYAGE, "The ship leaves Southampton on 10 January.", "2027-01-10"),
    ])
    def test_a_day_of_the_trip_is_read_forward(self, attribute, text, expected):
        assert found(text, attribute)[attribute.name] == expected

    def test_a_day_described_in_the_past_stays_in_the_past(self):
        assert found("We checked out on 2 February.", CHECKED_OUT)["checkout_date"] == "2026-02-02"

    def test_the_words_before_a_date_tell_which_day_it_is(self):
        values = found("off to madeira 12 april 2026, home the 20th, cabin 4", VOYAGE,
                       Attribute(name="home_date", type="date", description="The day you fly home"))
        assert values == {"sailing_date": "2026-04-12", "home_date": "2026-03-20"}


TENANT_AGE = Attribute(name="tenant_age", type="number", description="The tenant's age in years")
FLOOR = Attribute(name="floor", type="number", description="Which floor the flat is on")


class TestNumbersAndRanks:
    def test_a_rank_of_another_word_is_not_the_value(self):
        assert found("She is the second tenant on the lease, she is 42 years old.", TENANT_AGE) == {
            "tenant_age": "42"}

    def test_a_rank_of_the_attribute_itself_still_is(self):
        assert found("The flat is on the 4th floor.", FLOOR) == {"floor": "4"}


ORIGIN = Attribute(name="origin", description="Origin: the country you are shipping from")
GUEST = Attribute(name="guest_name", description="Guest: the full name of the person staying")
ROOMS = Attribute(name="room_count", type="number", description="How many rooms")


class TestPlainStrings:
    def test_a_country(self):
        assert found("The parcel comes from Canada, sent last week.", ORIGIN) == {"origin": "Canada"}

    def test_the_country_after_the_described_preposition(self):
        assert found("It was stuck in Belgium for a week, sent from Austria.", ORIGIN) == {"origin": "Austria"}

    def test_a_country_written_in_lower_case_by_a_lower_case_writer(self):
        assert found("parcel coming from new zealand next week", ORIGIN) == {"origin": "New Zealand"}

    def test_no_country_no_value(self):
        assert found("The parcel comes from my aunt.", ORIGIN) == {}

    def test_a_full_name_in_the_message(self):
        values = found("Please book 2 rooms. The booking is for Ana Lúcia Ferreira, arriving late.", GUEST, ROOMS)
        assert values == {"guest_name": "Ana Lúcia Ferreira", "room_count": "2"}

    def test_the_signature_is_not_the_guest(self):
        assert found("Hello, I need 2 rooms please.\n\nKind regards,\nTom Baker", GUEST, ROOMS) == {
            "room_count": "2"}

    def test_names_are_not_kept_before_the_intent(self):
        assert values_before_intent("It is for Ana Ferreira.", [GUEST], now=NOW) == []


CONDITION = Attribute(name="item_condition", type="enum", description="The state of the returned item",
                      values=["new", "used", "faulty"])
SPEED = Attribute(name="shipping_speed", type="enum", description="How fast the parcel should travel",
                  values=["standard", "express"])
MONTH = Attribute(name="bill_month", type="enum", description="Which monthly bill",
                  values=["january", "february", "march", "april", "may", "june", "july", "august",
                          "september", "october", "november", "december"])


class TestEnumWordsInContext:
    @pytest.mark.parametrize("text,attribute,expected", [
        ("It's a used Dyson, bought last spring.", CONDITION, "used"),
        ("It is a new Samsung Galaxy and it will not charge", CONDITION, "new"),
    ])
    def test_a_value_word_qualifying_a_brand_name(self, text, attribute, expected):
        assert found(text, attribute)[attribute.name] == expected

    @pytest.mark.parametrize("text,attribute", [
        ("I bought a used Dyson hoover from a friend", CONDITION),
        ("I have a new Samsung phone number, same as before", CONDITION),
        ("I wish to express how disappointed we are.", SPEED),
        ("Let me express what happened at the depot.", SPEED),
        ("This is Priya June from accounts, about my bill.", MONTH),
        ("Please call me back.\nBest wishes,\nTom August", MONTH),
    ])
    def test_everyday_uses_are_not_values(self, text, attribute):
        assert attribute.name not in found(text, attribute)

    def test_months_are_still_months(self):
        assert found("The bill for January, February and March is wrong", MONTH)
        assert found("On Friday March 6 I got the bill twice", MONTH)["bill_month"] == "march"
