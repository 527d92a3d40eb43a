"""The offline classifiers: intent (catalog-sized and on public dataset slices) and replies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from agent_graph.brain import intent as intent_module
from agent_graph.brain.intent import IntentClassifier, classifier_for, clean_email, clear_cache, segments
from agent_graph.brain.replies import asks_for_person, classify_reply
from agent_graph.brain.types import IntentGuess, ReplyKind
from agent_graph.catalog import Catalog, parse_catalog
from agent_graph.intent_eval.choices import IntentDataset
from agent_graph.intent_eval.datasets import load_tasks
from agent_graph.intent_eval.scoring import figures
from agent_graph.intent_eval.selection import Candidate, choose_threshold, fit_task
from tests.conftest import reply_cases

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# A fictional ferry operator: bookings and a rewards programme (domains unlike other tests).
FERRY_YAML = """
organisation: Kestrel Ferries
mailbox: care@kestrel-ferries.example
limits: {intent_confidence: 0.5}
lines_of_business:
  - id: sailings
    name: Sailings and bookings
    queue: sailings-desk
    intents:
      - id: change_booking
        name: Change a booking
        description: Move a ferry booking to another date or time, or change the vehicle or passengers on it.
        examples:
          - I need to change the date of my crossing
          - Can I move my booking to a later sailing?
          - We want to travel on Saturday instead of Friday
          - Please add another passenger to my reservation
        attributes:
          - {name: booking_reference, description: the booking reference, pattern: 'KF\\\\d{6}'}
          - {name: new_date, type: date}
      - id: cancelled_sailing_refund
        name: Refund for a cancelled sailing
        description: The sailing was cancelled by us (weather, technical fault) and the customer wants their money back.
        examples:
          - My sailing was cancelled because of the storm, I want a refund
          - You cancelled the ferry, how do I get my money back?
          - The crossing was called off due to a technical problem, please refund me
        attributes:
          - {name: booking_reference, pattern: 'KF\\\\d{6}'}
      - id: lost_property
        name: Lost property
        description: Something was left behind or lost on board a ship or in a terminal.
        examples:
          - I left my bag on the ferry
          - I lost my phone on board yesterday
          - Has anyone handed in a black jacket found in the lounge?
        attributes:
          - {name: item, type: text, description: what was lost}
  - id: rewards
    name: Kestrel Rewards
    queue: rewards-desk
    intents:
      - id: missing_points
        name: Missing reward points
        description: Points for a trip were not added to the customer's rewards balance.
        examples:
          - My points for last week's trip are missing
          - I didn't get any points for my crossing
          - The points balance hasn't been updated after my journey
        attributes:
          - {name: member_number, pattern: '\\\\d{8}'}
      - id: replace_card
        name: Replace rewards card
        description: The plastic rewards membership card was lost, stolen or damaged and needs replacing.
        examples:
          - I lost my rewards card
          - My membership card is broken, can you send a new one?
          - Please send me a replacement card
      - id: redeem_voucher
        name: Redeem points for a voucher
        description: Use collected points to get a travel voucher or discount on a future crossing.
        examples:
          - How do I use my points for a discount?
          - I'd like to swap my points for a voucher
          - Can I pay for a trip with my reward points?
"""


@pytest.fixture(scope="module")
def ferry() -> Catalog:
    return parse_catalog(yaml.safe_load(FERRY_YAML))


@pytest.fixture(scope="module")
def classifier(ferry: Catalog) -> IntentClassifier:
    return IntentClassifier.from_catalog(ferry)


# --- intent: realistic emails ----------------------------------------------------------------------

EMAILS = [
    ("change_booking", """Hi there,

I have a booking for the 14:30 crossing to Harwick on 3 May (ref KF123456). Unfortunately my
meeting has been moved, so I'd like to travel a day later if possible. Is there space on the
afternoon sailing on 4 May?

Many thanks,
Priya"""),
    ("change_booking", """Hello,

We are booked on the Friday night boat but my husband can't get off work in time. Could you move
us to the Saturday morning departure instead? Booking KF654321.

Kind regards
Joan Miller"""),
    ("cancelled_sailing_refund", """Dear Kestrel team,

Our crossing yesterday evening was cancelled at the last minute because of high winds. We ended up
driving the long way round and never used the tickets. I would like the full fare refunded to my card.

Best regards,
Tom Okafor"""),
    ("cancelled_sailing_refund", """Hi, you called off my ferry on Tuesday due to an engine fault. How can I
get my money back for the ticket? Thanks"""),
    ("lost_property", """Hello,

I travelled on the 09:00 boat this morning and I think I left my rucksack under a seat in the
upper lounge. It's dark green with a laptop inside. Has it been found?

Thanks so much,
Leo"""),
    ("lost_property", """Good afternoon,
My daughter lost her teddy bear somewhere on board during Sunday's crossing. It's a small brown bear
with a red scarf and she is heartbroken. Could you check if the crew found it?
Thank you
Sarah"""),
    ("missing_points", """Hi,

I'm a Kestrel Rewards member (number 12345678). I made two return trips in March but my points
balance hasn't changed at all. Can you add the missing points?

Cheers,
Dan"""),
    ("replace_card", """Hello,

My wallet was stolen last week and my rewards membership card was in it. Can you please post me a
new card to my home address?

Regards,
Amira"""),
    ("redeem_voucher", """Hi team,

I've collected quite a lot of points over the last year. I'd love to use them towards our summer
holiday crossing. How do I turn them into a voucher?

Thanks,
Kate"""),
]

OFF_TOPIC = [
    "Hello, I have a question.\n\nThanks, Anna",
    "What are your opening hours?",
    "Hi,\nis there a cash machine at the Harwick terminal?\nThanks",
    "Congratulations! You have been selected to receive a $1000 gift card. Click here to claim now.",
    "Dear Sir/Madam,\nWe are a marketing agency and can double your website traffic in 30 days. "
    "Reply to this email for a free consultation.\nBest regards,\nMax",
    "Hi team, are you hiring deckhands for the summer season? I'd like to apply.\nBest, Jo",
    "Hello,\nI just wanted to say that the crew on Sunday were lovely. Keep up the good work!\nBest, Carla",
    "Good morning, do you know if it will rain in Harwick this weekend?",
]


@pytest.mark.parametrize(("expected", "email"), EMAILS, ids=[f"{e}-{i}" for i, (e, _) in enumerate(EMAILS)])
def test_realistic_emails_are_classified(classifier: IntentClassifier, expected: str, email: str) -> None:
    guess = classifier.predict(email)
    assert guess.intent_id == expected, guess.ranking
    assert guess.confidence >= 0.5
    assert guess.ranking[0] == (expected, guess.confidence)


@pytest.mark.parametrize("email", OFF_TOPIC)
def test_off_topic_emails_are_unidentified(classifier: IntentClassifier, email: str) -> None:
    guess = classifier.predict(email)
    assert guess.intent_id is None, guess.ranking
    assert guess.confidence < 0.5


def test_subject_line_with_email_body(classifier: IntentClassifier) -> None:
    # the agent prefixes the subject of the first email
    guess = classifier.predict("Left my sunglasses on the boat\n\nHi, they are black Ray-Bans, seat 23. Thanks, Al")
    assert guess.intent_id == "lost_property"


def test_guess_shape(classifier: IntentClassifier) -> None:
    guess = classifier.predict("I lost my rewards card")
    assert isinstance(guess, IntentGuess)
    assert guess.intent_id == "replace_card"
    assert len(guess.ranking) == 3
    scores = [score for _, score in guess.ranking]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len({i for i, _ in guess.ranking}) == 3


def test_empty_text_is_unidentified(classifier: IntentClassifier) -> None:
    for text in ("", "   \n "):
        guess = classifier.predict(text)
        assert guess.intent_id is None and guess.confidence == 0.0


def test_non_english_does_not_break(classifier: IntentClassifier) -> None:
    for text in ("こんにちは、質問があります。", "Здравствуйте, у меня вопрос", "¿Cuál es el horario?"):
        guess = classifier.predict(text)
        assert 0.0 <= guess.confidence <= 1.0


def test_threshold_comes_from_the_catalog(ferry: Catalog) -> None:
    strict = ferry.model_copy(update={"limits": ferry.limits.model_copy(update={"intent_confidence": 0.999})})
    lax = ferry.model_copy(update={"limits": ferry.limits.model_copy(update={"intent_confidence": 0.0})})
    text = "Hi, my points for the trip last month never showed up on my account."
    assert IntentClassifier.from_catalog(strict).predict(text).intent_id is None
    assert IntentClassifier.from_catalog(lax).predict(text).intent_id == "missing_points"


def test_predict_many_matches_predict(classifier: IntentClassifier) -> None:
    texts = [e for _, e in EMAILS[:4]] + OFF_TOPIC[:3] + [""]
    assert classifier.predict_many(texts) == [classifier.predict(t) for t in texts]


def test_deterministic(ferry: Catalog) -> None:
    a = IntentClassifier.from_catalog(ferry)
    b = IntentClassifier.from_catalog(ferry)
    texts = [e for _, e in EMAILS] + OFF_TOPIC
    assert a.predict_many(texts) == b.predict_many(texts)


def test_fit_from_mapping_and_single_intent() -> None:
    clf = IntentClassifier.fit(
        {"pets": ["Can I bring my dog?", "Are pets allowed on board?"], "food": ["Is there a restaurant?"]},
        threshold=0.5,
    )
    assert clf.predict("Are dogs allowed on the ship?").intent_id == "pets"
    single = IntentClassifier.fit({"wifi": ["Is there wifi on board?", "How do I connect to the internet?"]},
                                  threshold=0.5)
    assert single.predict("Is there wifi on board the ferry?").intent_id == "wifi"
    assert single.predict("Hello, I have a question").intent_id is None
    with pytest.raises(ValueError):
        IntentClassifier.fit({"empty": ["  "]}, threshold=0.5)


def test_a_class_weight_gives_that_intent_more_ground() -> None:
    # a catch-all intent covers far more ground than its few examples show: weighting its class makes
    # the model lean towards it on texts between it and a specific intent, and a factor of 1 is no weight
    training = {"pets": ["Can I bring my dog?", "Are pets allowed on board?", "Can my cat travel with me?"],
                "anything_else": ["What is the weather like tomorrow?", "Tell me about your company",
                                  "Do you sell gift cards?", "Can I bring my bike?"]}
    texts = ["Can I bring my surfboard?", "Are bicycles allowed on board?", "Do you have a gift shop?"]
    plain = IntentClassifier.fit(training, threshold=0.5)
    settings = intent_module.IntentSettings(class_weights=(("anything_else", 5.0),))
    weighted = IntentClassifier.fit(training, threshold=0.5, settings=settings)
    index = plain.intents.index("anything_else")
    assert (weighted.scores_many(texts)[:, index] > plain.scores_many(texts)[:, index]).all()
    assert weighted.predict("Can my dog come with me?").intent_id == "pets"
    same = IntentClassifier.fit(training, threshold=0.5,
                                settings=intent_module.IntentSettings(class_weights=(("anything_else", 1.0),)))
    assert np.array_equal(same.scores_many(texts), plain.scores_many(texts))


def test_background_never_competes_with_a_covered_intent() -> None:
    # a catalog whose intent *is* a greeting-like text keeps it: similar background texts are dropped
    clf = IntentClassifier.fit({"say_thanks": ["Thank you for your help", "Thanks so much", "Many thanks"],
                                "complaint": ["I want to complain about the service"]}, threshold=0.5)
    assert clf.predict("Thank you so much for your help").intent_id == "say_thanks"


def test_cache_reuses_per_catalog(ferry: Catalog) -> None:
    clear_cache()
    first = classifier_for(ferry)
    assert classifier_for(ferry) is first
    assert classifier_for(parse_catalog(yaml.safe_load(FERRY_YAML))) is first  # equal content, same key
    changed = ferry.model_copy(update={"organisation": "Kestrel Ferries Ltd"})
    assert classifier_for(changed) is not first
    for n in range(intent_module._CACHE_SIZE + 1):  # a small LRU: the oldest entry goes
        classifier_for(ferry.model_copy(update={"organisation": f"Org {n}"}))
    assert classifier_for(ferry) is not first
    clear_cache()


def test_email_cleaning_and_segments() -> None:
    email = "Hi Sam,\nMy bag is missing. I left it on the boat yesterday evening after dinner.\nThanks,\nLeo\n07700 900123"
    cleaned = clean_email(email)
    assert cleaned == "My bag is missing. I left it on the boat yesterday evening after dinner."
    assert clean_email("I want to cancel my booking.\nThank you very much\nAnna") == "I want to cancel my booking."
    assert segments("Where is my bag?") == ["Where is my bag?"]
    long = ("I travelled with you on Sunday and had a nice time overall. I left my green bag on the boat. "
            "It has my passport inside and I need it next week.")
    segs = segments(long)
    assert segs[0] == long and "I left my green bag on the boat." in segs and len(segs) > 3
    reason = "Hello. I want to cancel my booking because my visa has still not come and the embassy is closed. Ref KF123456."
    assert "I want to cancel my booking" in segments(reason)


# --- intent: public dataset slices, through eval-intents' harness (no shared/ needed) -------------

@pytest.mark.parametrize("dataset", [IntentDataset.CLINC150, IntentDataset.BANKING77])
def test_classifier_from_a_dataset_slice_catalog(dataset: IntentDataset) -> None:
    """The classifier of a catalog built from a slice's training rows, its threshold set on the
    validation rows, on the test rows: a sanity check on 6-10 examples per intent, not a benchmark."""
    (task,) = load_tasks(dataset, FIXTURES / f"{dataset}_slice.jsonl.gz")
    fitted = fit_task(task, Candidate(intent_module.IntentSettings()), task.train)
    threshold = choose_threshold(fitted.score(task.val), max_in_scope_loss=None)
    test = figures(fitted.score(task.test), threshold)
    assert test.n == len(task.test)
    assert test.in_scope_top1 >= 0.6
    if dataset is IntentDataset.CLINC150:  # 15 out-of-scope test rows
        assert threshold > 0.0 and test.oos_recall is not None and test.oos_recall > 0.3
    else:  # no out-of-scope class: nothing is rejected
        assert threshold == 0.0 and test.oos_recall is None and test.in_scope_accuracy == test.in_scope_top1


# --- replies -----------------------------------------------------------------------------------------

ACCEPTS = [
    "Thanks, that works", "Got it, thanks a lot!", "Perfect, all sorted", "Yes please go ahead", "That's fine",
    "Great, appreciate it", "Thank you so much, it's working now.", "That did the trick, cheers!",
    "Brilliant, thanks for the quick help.", "Ok thanks", "Thanks!", "Many thanks, the parcel arrived this morning.",
    "It arrived today, thank you.", "Sounds good to me.", "Yes, please proceed with the refund.",
    "All good now, you can close the ticket.", "Thanks, problem solved.", "Excellent, that answers my question.",
    "No thanks, that's all I needed.", "Cheers, all set.", "I'm happy with that solution, thank you.",
    "Works perfectly now. Have a nice day!", "Thank you, I understand now.", "Fine by me, go ahead.",
    "Received it, thanks!", "No worries, thanks for sorting it.", "Great stuff, thanks a million",
    "That's exactly what I needed. Thank you!", "Lovely, thank you very much.", "Super, it works again.",
    "Thanks for your help, everything is fine now.", "Yep, all good.", "Thank you! The refund showed up in my account.",
    "Thanks,\n\n> On Monday you wrote:\n> is there anything else?",
    "Great, thanks for sorting that out so quickly.\n\nHannah",
    # learner English says what suits it "for me" (session 9)
    "Ok for me, thank you very much.", "This new date is good for me.", "Yes, the 14 June is fine for me, thanks",
]
NEEDS_HELP = [
    "That didn't fix it", "Still not working", "Thanks, but I still haven't received it",
    "This doesn't solve my problem", "I want to speak to a person", "No, that's not what I asked",
    "Can someone call me?", "Thanks, but it still doesn't work", "I tried that already and nothing changed.",
    "The same error appears again.", "I'm not happy with this answer.", "That is not acceptable, I want my money back.",
    "It's still broken.", "Please escalate this to a manager.", "I'd like to talk to a real human please.",
    "Your suggestion didn't help at all.", "I followed the steps but I'm still getting an error.",
    "No luck, the app still crashes.", "Thanks for the reply. Unfortunately the problem persists.",
    "That's wrong, I was charged twice.", "Also, can I change my order?", "How long will the refund take?",
    "Could you give me a call on 0123 456789?", "I would prefer a refund instead of a voucher.",
    "This is ridiculous, it has been three weeks.", "Thank you but that's not helpful.", "It still says pending.",
    "Hmm, it's still the same.", "That's not what I meant at all.", "Not sorted, sorry.",
    "I don't think that's correct.", "This is the third time I'm writing.", "Thanks, that works. Also, can I change my seat?",
]
OTHER = [
    "My new address is 12 Elm St", "My order number is 55123.", "I'll try it tonight and let you know.",
    "I haven't tried it yet, I'll check tomorrow.", "Thanks. My phone number is 07700 900123.",
    "Danke, das hat funktioniert.", "谢谢，问题解决了", "Спасибо, всё работает", "", "   ",
    "I am travelling next week.", "FYI the invoice is attached.", "The serial number is AB-1234.",
    "It would be good for me to have it before Friday.",
]


@pytest.mark.parametrize(("text", "kind"), reply_cases((ReplyKind.ACCEPTS, ACCEPTS), (ReplyKind.NEEDS_HELP, NEEDS_HELP),
                                                  (ReplyKind.OTHER, OTHER)))
def test_reply_kind(text: str, kind: ReplyKind) -> None:
    assert classify_reply(text) is kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want to speak to a person", True),
        ("Can someone call me?", True),
        ("Please call me back on 0123 456789", True),
        ("Could I talk to your manager?", True),
        ("Put me through to a representative please", True),
        ("I need a human being, not a bot", True),
        ("Please escalate this", True),
        ("I'd like an agent to look at this", True),
        ("No need to call me, thanks", False),
        ("You can call me on 458-555-0109 if needed.", False),  # giving a number is not asking for a person
        ("Sorry, should have said - the engineer can ring me on 020 7946 0321.", False),
        ("I would like a callback please", True),
        ("Call me if you need anything else", False),
        ("Thanks, that works", False),
        ("I spoke to someone yesterday and they said it was fine", False),
        ("My new address is 12 Elm St", False),
        ("", False),
    ],
)
def test_asks_for_person(text: str, expected: bool) -> None:
    assert asks_for_person(text) is expected


# --- the sentence embedding as a second feature block ----------------------------------------------

# A fictional public library: the queries share almost no word with the examples, only meaning.
LIBRARY = {
    "renew_loan": ["I would like to renew the books I borrowed", "Can I extend my loan period?",
                   "Please renew my loans for another three weeks"],
    "lost_card": ["I lost my library card", "My library card has gone missing", "I need a replacement card"],
    "room_booking": ["I want to book a study room", "Can I reserve a meeting room for Thursday?",
                     "Is the group study room free tomorrow afternoon?"],
    "late_fee": ["Why was I charged a late fee?", "I think the overdue fine on my account is wrong",
                 "Can you waive the fine for the late return?"],
}
LIBRARY_PARAPHRASES = [
    ("renew_loan", "Could I keep the novels a little longer than planned?"),
    ("renew_loan", "I need more time with the textbooks I checked out"),
    ("renew_loan", "Prolong my borrowing of these volumes please"),
    ("lost_card", "Somebody stole my wallet with my membership pass inside"),
    ("lost_card", "I can't find my pass anywhere, what should I do?"),
    ("lost_card", "My member ID got misplaced during the move"),
    ("room_booking", "Any chance of a quiet space for four students next Monday?"),
    ("room_booking", "Our team needs somewhere to meet on Friday morning"),
    ("room_booking", "Could you hold a conference space for our club?"),
    ("late_fee", "There is a penalty on my statement that I do not understand"),
    ("late_fee", "Please remove the money you took because the DVD came back two days after the deadline"),
    ("late_fee", "I was penalised for bringing the items back after the due date"),
]


def _top1_right(settings: intent_module.IntentSettings) -> int:
    clf = IntentClassifier.fit(LIBRARY, threshold=0.5, settings=settings)
    guesses = clf.predict_many([text for _, text in LIBRARY_PARAPHRASES])
    return sum(g.ranking[0][0] == expected for (expected, _), g in zip(LIBRARY_PARAPHRASES, guesses, strict=True))


@pytest.mark.parametrize("weight", [1.0, 2.0])
def test_embedding_ranks_paraphrases_better_than_ngrams_alone(weight: float) -> None:
    ngrams_only = _top1_right(intent_module.IntentSettings(embedding=0.0))
    assert _top1_right(intent_module.IntentSettings(embedding=weight)) > ngrams_only


@pytest.mark.parametrize("weight", [0.0, 1.0, 2.0])
def test_a_training_text_is_its_own_nearest_example_at_unit_length(weight: float) -> None:
    clf = IntentClassifier.fit(LIBRARY, threshold=0.5, settings=intent_module.IntentSettings(embedding=weight))
    texts = [text for texts in LIBRARY.values() for text in texts]
    own = [clf.intents.index(intent) for intent, texts in LIBRARY.items() for _ in texts]
    similarity = clf.features(texts)[np.arange(len(texts)), own, 2]  # best cosine to the intent's own texts
    assert np.allclose(similarity, 1.0, atol=1e-5)


def test_embedding_classifier_is_deterministic_and_batch_independent() -> None:
    settings = intent_module.IntentSettings(embedding=1.0)
    texts = [text for _, text in LIBRARY_PARAPHRASES]
    texts += ["", "Hello,\nmy card is gone and I'd like the fine removed too.\nThanks, Ana"]
    first = IntentClassifier.fit(LIBRARY, threshold=0.5, settings=settings)
    second = IntentClassifier.fit(LIBRARY, threshold=0.5, settings=settings)
    assert np.array_equal(first.scores_many(texts), second.scores_many(texts))
    singles = np.vstack([first.scores_many([t]) for t in texts])
    assert np.allclose(singles, first.scores_many(texts), atol=1e-6)


def test_settings_without_a_calibration_are_refused_before_fitting() -> None:
    with pytest.raises(intent_module.UncalibratedSettings, match="calibrate"):
        IntentClassifier.fit(LIBRARY, threshold=0.5, settings=intent_module.IntentSettings(embedding=0.37))
    given = (0.0, 1.0, 0.0, 1.0, 0.0)
    clf = IntentClassifier.fit(LIBRARY, threshold=0.5,
                               settings=intent_module.IntentSettings(embedding=0.37, calibration=given))
    assert clf.predict("I lost my library card").intent_id == "lost_card"


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_an_intent_with_many_examples_keeps_a_few_representatives_for_the_similarity(weight: float) -> None:
    # Each of these intents has 3 examples; with at most 2 kept per intent, one example of each is
    # no longer its own nearest example (cosine < 1), and the model itself still learns from all 3.
    settings = intent_module.IntentSettings(embedding=weight, similarity_examples=2)
    clf = IntentClassifier.fit(LIBRARY, threshold=0.5, settings=settings)
    every = IntentClassifier.fit(LIBRARY, threshold=0.5, settings=intent_module.IntentSettings(embedding=weight))
    texts = [text for texts in LIBRARY.values() for text in texts]
    own = [clf.intents.index(intent) for intent, texts in LIBRARY.items() for _ in texts]
    similarity = clf.features(texts)[np.arange(len(texts)), own, 2].reshape(len(LIBRARY), 3)
    assert (np.isclose(similarity, 1.0, atol=1e-5).sum(axis=1) == 2).all()
    assert np.array_equal(clf.features(texts)[..., 0], every.features(texts)[..., 0])  # same model scores
    assert [g.ranking[0][0] for g in clf.predict_many(texts)] == [g.ranking[0][0] for g in every.predict_many(texts)]


def test_the_embedding_view_reads_meaning_the_ngram_model_does_not_see() -> None:
    """The second reading of a text by an n-grams-only classifier, as catalogs use: the sentence
    embedding against the mean direction of each intent's own texts. An intent's only text reads as that
    intent (cosine 1); on the paraphrases, which share almost no word with the examples, it is right at
    least as often as the n-gram model, and on some where the model is wrong: a second opinion, not a
    copy of the first."""
    clf = IntentClassifier.fit(LIBRARY, threshold=0.5)
    assert clf.settings.embedding == 0.0
    view = clf.embedding_view(LIBRARY["lost_card"][0])
    assert set(view) == set(LIBRARY) and max(view, key=view.__getitem__) == "lost_card"
    single = IntentClassifier.fit({"only": ["I lost my library card"]}, threshold=0.5)
    assert single.embedding_view("I lost my library card")["only"] == pytest.approx(1.0, abs=1e-4)
    guesses = clf.predict_many([text for _, text in LIBRARY_PARAPHRASES])
    by_model = [g.ranking[0][0] == expected for (expected, _), g in zip(LIBRARY_PARAPHRASES, guesses, strict=True)]
    by_view = [max(v := clf.embedding_view(text), key=v.__getitem__) == expected
               for expected, text in LIBRARY_PARAPHRASES]
    assert sum(by_view) >= sum(by_model)
    assert any(v and not m for v, m in zip(by_view, by_model, strict=True))


# Learner English says "finish" or "stop … for two months only" where a catalog's examples say "cancel"
# and "pause", and "leave the flat" or "go back to my country" where they say "moving": the thesaurus
# (intent.CONCEPTS) ties them. A streaming-and-broadband catalog written for this test, standard English
# in the examples, learner English in the emails.
STREAMING = {
    "pause_plan": ["Please pause my plan for the summer", "Can I put my subscription on hold for a bit?",
                   "I'd like to suspend my account while I'm working abroad", "Freeze my plan, I'll be back in May"],
    "cancel_plan": ["I want to cancel my subscription", "Please terminate my contract at the end of the month",
                    "How do I stop my plan for good?", "Cancel my account, I don't use it any more"],
    "move_service": ["I'm moving house, can the broadband move with me?", "We are relocating next month",
                     "Please set up my service at my new home", "Moving to a new address in June, what do I do?"],
    "speed_problem": ["My internet is really slow in the evenings", "The connection keeps dropping",
                      "Download speed is much lower than promised", "Streaming keeps buffering every night"],
}
LEARNER_ENGLISH = [
    ("cancel_plan", "Hello, please i want finish my subscription at end of the month, i not use it. Thanks"),
    ("cancel_plan", "Good morning, i am no longer a customer after this month, how i can finish the contract?"),
    ("pause_plan", "I need stop the plan for three months only because i have work in other city, after i use again"),
    ("pause_plan", "Is possible stop my account temporarily? I travel and come again in autumn"),
    ("move_service", "Hello, we leave the flat in October and the internet must come to other street, what we do?"),
    ("move_service", "I go back to my country next month, what happen with my internet, please help"),
]


@pytest.mark.parametrize(("expected", "email"), LEARNER_ENGLISH,
                         ids=[f"{e}-{i}" for i, (e, _) in enumerate(LEARNER_ENGLISH)])
def test_learner_english_reaches_the_intent_of_its_meaning(expected: str, email: str) -> None:
    guess = IntentClassifier.fit(STREAMING, threshold=0.5).predict(email)
    assert guess.intent_id == expected, guess.ranking


# Session 9: more of the ways learners write what a catalog's examples say in standard English — payments
# ("take the money from my bank", "go out from my bank in other day", "the 20 of month"), ending ("i not need it
# more", "not come back", "go to other company"), paying and refunds in a wrong tense ("i have pay", "you take two
# time", "give back my money"), and moving ("we change the flat", "go to live in other city"). Catalogs written
# for these tests, none a suite's business: a mobile and home-internet operator and a language school (the
# first batch, written before the thesaurus changed; every sentence failed), then a car and home insurer (a
# second batch, written after the change, as a check that its patterns carry to other sentences of the same
# kinds; each of those failed before the change too).
PHONE = {
    "cancel_contract": ["I want to cancel my phone contract", "Please terminate my mobile plan at the end of this month",
                        "How do I end my contract with you?", "I'm leaving for another network, cancel my line please"],
    "payment_date": ["Can I change the date my direct debit is collected?", "Please move my monthly payment to the 28th",
                     "I'd like my bill to be paid on a different day of the month",
                     "My payday changed, can the direct debit come out later?"],
    "refund_overcharge": ["You charged me twice this month, I want a refund", "I was overcharged for roaming, please refund me",
                          "Please refund the extra fee on my last bill",
                          "I paid for a bundle I never received, I want my money back"],
    "address_change": ["I'm moving house, please update my address", "Can my broadband move to my new home?",
                       "We are relocating next month, what do I need to do?", "Please change the address on my account"],
    "signal_problem": ["I have no signal at home", "My calls keep dropping", "Mobile data is very slow",
                       "I can't make calls since yesterday"],
}
SCHOOL = {
    "course_cancel": ["I want to cancel my course", "Please withdraw me from the evening class",
                      "I'd like to terminate my enrolment", "Can I quit the course and stop the payments?"],
    "fee_refund": ["I was charged twice for the course fee, please refund me",
                   "I want my money back for the lessons I couldn't attend", "Please reimburse my deposit",
                   "You took the fee after I cancelled, refund it"],
    "instalment_date": ["Can I change the date of my monthly instalment?",
                        "Please collect the course fee on the 20th instead of the 1st",
                        "I'd like the direct debit for the fees moved to a later day"],
    "certificate": ["I need my certificate of attendance", "Can you send me the certificate for the B1 exam?",
                    "Where can I download my course certificate?",
                    "I need a letter that says I study at your school for my visa"],
}
LEARNER_ENGLISH_MORE = [
    ("PHONE", "cancel_contract", "Hello, i want close my line, i not need it more because i have other company now."),
    ("SCHOOL", "course_cancel", "I will not come more to the classes after this month, please finish my registration."),
    ("PHONE", "cancel_contract", "please close my number and the internet, i not want more your service"),
    ("SCHOOL", "course_cancel", "I must stop the course because i go back to my country in May and not come back."),
    ("SCHOOL", "course_cancel", "is possible to finish my lessons now? i find a job and i have not time more for study"),
    ("SCHOOL", "course_cancel", "please close my place in the school, i not study more with you"),
    ("PHONE", "payment_date", "My salary come at the end of month, so please take the money for the phone from my "
                              "account after 28, not in the beginning."),
    ("PHONE", "payment_date", "Is possible the money for the internet go out from my bank in other day? On 1 of month "
                              "i have not money yet."),
    ("SCHOOL", "instalment_date", "Please you can take the payment for my lessons after i receive my salary, on 15, "
                                  "not on 1?"),
    ("PHONE", "refund_overcharge", "You take the money two time this month, i have pay already on 3 of May. Please "
                                   "give back my money."),
    ("PHONE", "refund_overcharge", "i was pay 25 euro for the internet abroad but i never use it, i want the money "
                                   "return"),
    ("SCHOOL", "fee_refund", "I have payed the course but the teacher is not come for three lessons, i want back my "
                             "money."),
    ("PHONE", "address_change", "We change the flat in August, the internet can come with us to the new flat?"),
    ("PHONE", "address_change", "i go to live in other city next month, what i must do with my home internet?"),
]
INSURANCE = {
    "cancel_policy": ["I want to cancel my car insurance policy", "Please terminate my home insurance at renewal",
                      "How do I end my policy early?", "I sold my car, please cancel the cover"],
    "payment_date": ["Can I change the date my monthly premium is taken?", "Please collect my direct debit on the 15th instead",
                     "I'd like to pay my premium on a different day", "Can the monthly payment come out after my payday?"],
    "premium_refund": ["I was charged twice for my premium, please refund me",
                       "I overpaid my premium and want the difference back",
                       "Please refund the premium for the months after I cancelled",
                       "You took a payment after my policy ended, I want it back"],
    "address_change": ["I've moved house, please update my address",
                       "We are relocating, does my home insurance move with us?",
                       "Please change the address on my policy", "I'm moving next month, what happens to my cover?"],
    "new_claim": ["I had a car accident and want to make a claim", "My house was flooded, how do I claim?",
                  "Someone hit my parked car", "I need to report a stolen bike for a claim"],
}
LEARNER_ENGLISH_HELD_OUT = [
    ("INSURANCE", "cancel_policy", "please close my policy, i go to other company because is more cheap"),
    ("INSURANCE", "payment_date", "I want to pay in other day, is possible the 20 of month?"),
    ("INSURANCE", "premium_refund", "you take two time the payment for march, please give back the money"),
    ("INSURANCE", "premium_refund", "i have pay the insurance for all year but i stop the car in june, you must return "
                                    "me the money for the other months"),
    ("INSURANCE", "address_change", "we go to live in other town next week, what i must do for the insurance?"),
    ("INSURANCE", "address_change", "I live now in other house, in Leeds, the car sleep there. What i must do?"),
    # not wanting to pay any more is ending too (found when the suite's 'I don't want to be paying for the gym while
    # I'm gone' lost its cancellation reading: written after that)
    ("SCHOOL", "course_cancel", "I don't want to pay for the classes after May, how i stop everything?"),
    ("INSURANCE", "cancel_policy", "My car is sold now, so i not want to pay the insurance from June."),
    ("PHONE", "cancel_contract", "I not want to pay for this line, nobody use it. What i do?"),
]
CATALOGS = {"PHONE": PHONE, "SCHOOL": SCHOOL, "INSURANCE": INSURANCE}


# Sentences of those batches the thesaurus still does not bring to their intent, kept visible (strict: one that
# starts to pass fails until it is moved out of here).
NOT_YET_REACHED = {
    "Hello, i want close my line, i not need it more because i have other company now.":
        "0.50: 'close my line' reads as the delete concept, the catalog's examples say 'cancel'",
    "I will not come more to the classes after this month, please finish my registration.": "0.47",
    "is possible to finish my lessons now? i find a job and i have not time more for study": "0.35",
    "please close my place in the school, i not study more with you": "0.42",
    "My salary come at the end of month, so please take the money for the phone from my account after 28, not in the "
    "beginning.": "'end of month' is left out of the thesaurus (also when a cancellation takes effect)",
    "Please you can take the payment for my lessons after i receive my salary, on 15, not on 1?":
        "a day of the month without 'of month'; 'receive' pulls to the refund",
    "i have pay the insurance for all year but i stop the car in june, you must return me the money for the other "
    "months": "0.38",
}


def _learner_params(cases: list[tuple[str, str, str]]) -> list[object]:
    return [pytest.param(catalog, expected, email, id=f"{catalog}-{expected}-{i}",
                         marks=[pytest.mark.xfail(strict=True, reason=NOT_YET_REACHED[email])]
                         if email in NOT_YET_REACHED else [])
            for i, (catalog, expected, email) in enumerate(cases)]


@pytest.mark.parametrize(("catalog", "expected", "email"),
                         _learner_params(LEARNER_ENGLISH_MORE + LEARNER_ENGLISH_HELD_OUT))
def test_more_learner_english_reaches_the_intent_of_its_meaning(catalog: str, expected: str, email: str) -> None:
    guess = IntentClassifier.fit(CATALOGS[catalog], threshold=0.5).predict(email)
    assert guess.intent_id == expected, guess.ranking


# A learner's sentence often carries its request and a longer reason ("… because the internet was not working all
# the month …"); the reason, about something else, drowns the request unless the main clause is also scored.
def test_a_long_reason_does_not_drown_the_request() -> None:
    email = ("Dear team. I want the money back for April because the internet was not working all the month and i "
             "cannot work from home. My number is 07700 900456.")
    guess = IntentClassifier.fit(PHONE, threshold=0.5).predict(email)
    assert guess.intent_id == "refund_overcharge", guess.ranking
