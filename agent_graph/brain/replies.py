"""How a customer answered a proposed resolution (behaviour.md §7): accepts, still needs help, or other.

Deterministic and lexicon based. The text is the customer's *new* text (quoted history and
signature already removed by the caller; ``>`` lines are ignored here too). It is cut into
sentences and every sentence is read as one of: a request for a person, a sign that the problem
is not solved (or that the resolution is rejected), an open question, an acceptance (strong:
"that works", "all sorted", "go ahead", or a confirmation of the outcome; weak: "thanks", "ok",
"great"), a pleasantry, or other content. Then, in this order:

1. a request for a person, or any needs-help sentence -> ``NEEDS_HELP``. Needs-help beats thanks:
   "Thanks, but it still doesn't work" needs help.
2. an open question -> ``NEEDS_HELP``. Decision: after a proposed resolution, a question ("Also,
   can I change my order?", "How long will the refund take?") is something the resolution did not
   answer; resolving the case would leave it unanswered and "other" would re-run the decision on
   the same case, so a representative takes it. Courtesy questions ("How are you?") don't count.
3. a correction -> ``OTHER``: the customer replaces a value they gave ("my mistake, it needs to be
   Tuesday 16 June, not the 14th", "wrong number - it is MF4410", "it should be X, not Y"). It is
   new information (the case is decided again with the new value) and beats any acceptance in the
   reply: the resolution as sent is not what they want. Its own-slip words ("my mistake", "wrong
   number", "not the one I wrote") and the old value after "not" are no needs-help sign; a
   complaint that the resolution used a wrong value without giving one ("you changed the wrong
   date", "that's the wrong booking") still needs help.
4. a strong acceptance -> ``ACCEPTS`` (even with extra content: values in it are still read).
5. only weak acceptances and pleasantries -> ``ACCEPTS`` ("Thanks!", "Great, appreciate it").
6. anything else -> ``OTHER``: new information ("My new address is 12 Elm St"), thanks followed by
   new information, text in another language, empty text.

Confirmations of the outcome are acceptances: customers often accept by saying that what had to
happen happened - money appeared ("it's in my account now", "the refund's hit my card"), goods
arrived ("arrived safe, ta", "it came this morning"), access is back ("I'm back in", "can log in
again"), the fix works ("runs fine now", "that did it", "the error has gone", "no more crashes"),
or the customer acted on the outcome or needs nothing more ("picked them up", "collected it", "the
letter came to the new place", "the app shows the estate now", "so we're good", "no need to
reply"; but "the app shows the old date now" is not one, and "no need to reply until …" is a
condition).
The same outcome negated ("hasn't come through", "never turned up") needs help, and so does a
partial or spoiled one: "X, but Y" needs help unless Y is itself an acceptance ("it arrived but
the lid is cracked", "thanks, but I never asked for that"; "slow, but it works now" accepts), as
do "only half refunded", "it says delivered", "it should have been here by now". Conditions and
hopes are not reports ("if it doesn't arrive by Friday", "hopefully it turns up"): they are set
aside. Emoji are read as words: a thumbs-up as thanks, a sad or angry face as unhappy.

Negation: an acceptance word with a negator just before it ("not happy", "isn't fine", "not
sorted", "hardly perfect") is a needs-help signal. "No problem", "no worries", "not a problem"
are acceptances. A bare "No thanks" / "No, thank you" (alone or with "that's all", "I'm good")
is taken as ACCEPTS: it is how customers answer the "anything else?" that ends a resolution; but
"No thanks, I want a refund instead" needs help (a rejection of the proposal), and "No, that's
not what I asked" too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from agent_graph.brain.types import ReplyKind

_FLAGS = re.IGNORECASE

# --- a person --------------------------------------------------------------------------------

_PERSON = (
    r"(?:a|an|some|your|the|real|actual|live|human|another|other|someone|somebody|anyone|anybody|\s)*"
    r"(?:person|people|human(?:\s+being)?|agent|representative|rep|manager|supervisor|operator|"
    r"someone|somebody|anyone|anybody|advisor|adviser|staff(?:\s+member)?|team\s+member|colleague|"
    r"customer\s+service(?:\s+rep(?:resentative)?)?|support\s+(?:person|agent|team))\b"
)
_ASK_PERSON = re.compile(
    r"\b(?:"
    rf"(?:speak|talk|chat|get\s+through)\s+(?:to|with)\b{_PERSON}"
    rf"|(?:transfer|put|connect|pass)\s+me\s+(?:through\s+)?(?:to|with)\b{_PERSON}"
    rf"|(?:need|want|would\s+like|'d\s+like|like|prefer|get|have)\s+(?:to\s+(?:have|get|reach)\s+)?{_PERSON}\s+"
    r"(?:to\s+)?(?:call|phone|ring|contact|help|look\s+at|handle|deal\s+with|review|get\s+in\s+touch)"
    r"|(?:can|could|would|will)\s+(?:someone|somebody|anyone|anybody|you|a\s+person|an?\s+agent)\s+"
    r"(?:please\s+)?(?:call|phone|ring)\s+me"
    r"|(?:please|pls|kindly)\s+(?:call|phone|ring)\s+me|(?:call|phone|ring)\s+me\s+back"
    r"|(?:call|phone|ring)\s+me\s+(?:asap|urgently|immediately|as\s+soon\s+as|today|right\s+away|now|please)"
    r"|^\s*(?:call|phone|ring)\s+me\b(?!\s+(?:on|at|if|when|once|any|whenever|anytime))"
    r"|give\s+me\s+a\s+(?:call|ring)|(?:request|want|need|like|get|have|arrange)\s+a\s+(?:phone\s+)?(?:call\s*back|callback|call)\b"
    r"|\bcall\s*back\s+(?:request|please)"
    r"|(?:real|actual|live)\s+(?:person|human|agent)"
    r"|human\s+being|not\s+a\s+(?:bot|robot|machine)|(?:stop|no)\s+(?:the\s+)?(?:bots?|automated\s+(?:replies|answers|emails))"
    r"|escalat\w*"
    r"|(?:speak|talk)\s+to\s+(?:your|a|the)\s+(?:boss|superior)"
    r")",
    _FLAGS,
)
_NEGATED_PERSON = re.compile(
    r"\b(?:no\s+need\s+to|don't\s+need\s+to|do\s+not\s+need\s+to|needn't|don't|do\s+not|no\s+need\s+for)\s+"
    r"(?:\w+\s+){0,3}?(?:speak|talk|call|phone|ring|escalat\w*|a\s+(?:person|human|call))",
    _FLAGS,
)


def asks_for_person(text: str, language: str | None = None) -> bool:
    """Whether the text explicitly asks for a human: a person, agent, representative, manager,
    "someone to call me", an escalation. "No need to call me" does not count. With ``language``
    one of :data:`REPLY_LANGUAGES` but English, its own words count too ("hablar con una persona")."""
    text = _prepare(text)
    if not text:
        return False
    lexicon = _LEXICONS.get(language or "en")
    if lexicon is not None and any(lexicon.person.search(s) for s in _split(text)):
        return True
    for sentence in _split(text):
        if _ASK_PERSON.search(sentence) and not _NEGATED_PERSON.search(sentence):
            return True
    return False


# --- needs help ----------------------------------------------------------------------------------

_NEG = r"(?:not|never|no|n't|cannot|can't|won't|didn't|doesn't|don't|isn't|wasn't|hasn't|haven't|hadn't|aren't|weren't)"
_FIX_VERBS = (
    r"(?:fix|fixed|work|works|worked|working|help|helped|helps|helping|solve|solved|solves|resolve|resolved|"
    r"resolves|answer|answered|answers|arrive|arrived|come|came|receive|received|get|got|gotten|show\s+up|"
    r"showed\s+up|show|shows|change|changed|go\s+through|went\s+through|load|loads|open|opens|sort|sorted|make\s+sense|"
    r"address|addressed|refund|refunded|do\s+anything|do\s+the\s+trick|clear|cleared|appear|appeared|"
    r"reflect|reflected|update|updated|happen|happened|see|seen|find|found|explain|explains|explained|"
    r"credit|credited|deliver|delivered|land|landed|turn\s+up|turned\s+up|reach|reached|move|moved|finish|finished|"
    r"showing|visible|there|here|back|through|in|yet|log\s*in|sign\s*in|unlock|unlocked|hit)"
)
_PROBLEM_NOUN = (r"(?:errors?|crash(?:es)?|problems?|issues?|faults?|noises?|warnings?|leaks?|bugs?|glitch(?:es)?|"
                 r"pop-?ups?|freezes|trouble|hiccups?)")
_HELP = re.compile(
    r"\b(?:"
    rf"{_NEG}\s+(?:\w+\s+){{0,3}}?{_FIX_VERBS}\b"
    r"|still\s+(?:not|no|n't|can't|cannot|won't|doesn't|don't|didn't|isn't|hasn't|haven't|having|have\s+(?:the|this|that|a)|"
    r"has\s+(?:the|this|that|a)|broken|waiting|wrong|missing|the\s+same|an?\s+(?:issue|problem)|failing|fails|"
    r"says|shows|showing|saying|pending|there|on\s+(?:my|the)|appears|happening|occurs|"
    r"get(?:ting)?\s+(?:the|an?|this)|see(?:ing)?\s+(?:the|an?|this)|stuck|charging|charged|down|nothing|unable|pending)"
    r"|(?:same|similar)\s+(?:problem|issue|error|thing)(?:\s+(?:again|as\s+before))?"
    r"|(?:problem|issue|error)\s+(?:persists|remains|continues|is\s+still|still)"
    r"|(?:no|zero)\s+(?:luck|change|difference|improvement|progress|joy|success)"
    r"|(?:not|isn't|wasn't)\s+(?:what\s+i|the\s+(?:answer|solution|problem|issue)|helpful|useful|right|correct|"
    r"acceptable|good\s+enough|enough|an?\s+(?:answer|solution|option))"
    r"|(?:didn't|did\s+not|doesn't|does\s+not|don't|do\s+not)\s+(?:\w+\s+){0,2}?(?:ask|asked|mean|meant|want|need)\b"
    r"|(?:un|not\s+)helpful|useless|pointless|ridiculous|unacceptable|disappoint\w*|frustrat\w*|furious|"
    r"annoyed|upset|outrageous|terrible|awful|complain\w*|dissatisf\w*|unsatisf\w*|unhappy"
    r"|(?:already|have)\s+tried\s+(?:that|this|it|those|these|everything)"
    r"|tried\s+(?:that|this|it|everything)\s+(?:already|before)"
    r"|(?:i\s+)?need\s+(?:more|further|additional|real|proper|actual)\s+help"
    r"|(?:please|pls)\s+help|help\s+me\b|help\s*!"
    r"|(?:any|some)\s+other\s+(?:ideas?|options?|way|suggestions?|solution)"
    r"|what\s+else\s+can|(?:that|this|it)\s+(?:won't|will\s+not|wouldn't)\s+work"
    r"|(?:wrong|incorrect|mistaken?)\b"
    r"|error\s+(?:message|code)|(?:get|getting|got|see|seeing)\s+(?:an?\s+)?error"
    r"|instead\b|(?:i'd|i\s+would)\s+rather\b"
    r"|makes?\s+no\s+sense|(?:doesn't|does\s+not|didn't|did\s+not)\s+make\s+(?:any\s+)?sense"
    r"|(?:that's|that\s+is|this\s+is|it's|it\s+is)\s+not\s+(?:it|right|correct|true|ok|okay|fine)"
    r"|(?:re-?open|reopen)\b"
    r"|(?:second|third|fourth|fifth|sixth|\d+(?:st|nd|rd|th)|umpteenth|last)\s+(?:time|e-?mail|message|request|"
    r"attempt|call|letter)|how\s+many\s+times|"
    r"(?:writing|asking|contacting|emailing|calling|chasing)\s+(?:you\s+|this\s+)?(?:again|up)|yet\s+again|once\s+again"
    r"|(?:i|we)\s+(?:disagree|object|refuse|reject)"
    r"|(?:broken|faulty|fails|failed|failing|crash\w*|stuck|freez\w*)\b"
    r"|still\s+(?!(?:works?|working|fine|good|great|ok|okay|happy|valid|perfect)\b)[a-z]"
    r"|nothing\s+(?:has\s+|have\s+|is\s+)?(?:changed|happened|arrived|came|come|showing|shows|shown|works|worked|"
    r"working|yet|so\s+far|at\s+all|here|there|in\s+my)"
    r"|(?:no|zero)\s+sign\s+of|no\s+go\b|(?:of\s+)?no\s+(?:use|good)\b"
    r"|(?:unfortunately|sadly|regrettably)\b"
    r"|keeps?\s+(?:on\s+)?(?!working\b)\w+ing\b"
    r"|(?:cracked|damaged|smashed|dented|scratched|torn|ripped|leaking|chipped|shattered|defective)\b"
    r"|(?:is|are|'s|was|were|went|goes|still)\s+missing\b|missing\s+(?:from|in)\b"
    r"|(?:was|is|came|arrived|turned\s+up|were)\s+(?:completely\s+|totally\s+)?empty\b"
    r"|\d+(?:\.\d+)?\s+short\b|(?:is|are|'s|was|were|came\s+up)\s+(?:\w+\s+)?short\b|short\s+by\b"
    r"|never\s+(?:\w+\s+){0,2}?(?:asked|ordered|requested|wanted|agreed)"
    r"|(?:delivered|sent|went|gone|arrived|left|came|turned\s+up)\s+(?:to|at|with)\s+(?:an?\s+(?:\w+\s+)?(?:neighbou?r|"
    r"stranger|address|house|flat)|the\s+wrong|(?:my|our|the)\s+(?:old|previous)|someone\s+else|another)"
    r"|,\s*not\s+(?:the|my|to|at|what|in|on)\b"
    r"|(?:tracking|it|website|site|app|system|courier)\s+(?:says|said|claims|claimed|states|shows|showed)\s+"
    r"(?:that\s+)?(?:it\s+(?:was|has\s+been)\s+|it's\s+(?:been\s+)?)?(?:delivered|arrived)|marked\s+as\s+delivered"
    r"|(?:should|would|was\s+supposed\s+to|were\s+supposed\s+to|meant\s+to)\s+have\s+(?:\w+\s+)?(?:arrived|been|come|"
    r"landed|shown|appeared|reached|gone)|supposed\s+to\s+(?:arrive|be|come|have|show)"
    r"|\b(?:twice|duplicate|errors?)\b|double[- ]charged"
    r"|charg(?:ed|ing|e)\s+(?:me\s+|us\s+)?(?:again|twice|extra|double|more)|(?:another|extra|second|new|duplicate|double)\s+"
    r"(?:charge|payment|debit)\b"
    r"|only\s+(?:half|part|some|a\s+(?:part|portion|fraction)|one|two|three|\d+)\b|partial(?:ly)?\b"
    r"|(?:happening|happened|doing\s+it|at\s+it)\s+again"
    rf"|{_PROBLEM_NOUN}(?:\s+(?:message|light))?\s+(?:is|are|'s|has\s+come|came|comes)\s+(?:still\s+)?(?:there|back|here)"
    r"|(?:please|pls|kindly|can\s+you|could\s+you)\s+(?:\w+\s+)?(?:confirm|check|verify|make\s+sure)"
    r"(?!\s+(?:the|this|my)?\s*(?:case|ticket|complaint|closure|request)\b)"
    r"|(?:is|are|'s|has|have|'ve)\s+(?:been\s+|now\s+|all\s+)?(?:gone|disappeared|vanished|lost|deleted|wiped)\b"
    r")",
    _FLAGS,
)
# "not tried it yet" / "haven't had a chance" are not problems: plain information
_NEGATOR = re.compile(r"\b(?:not|never|no|nothing|nobody)\b|n't\b", _FLAGS)
_NOT_YET = re.compile(
    r"(?:n't|\bnot)\s+(?:\w+\s+){0,2}?(?:tried|checked|had\s+(?:a|the)\s+(?:chance|time)|looked)\b"
    r"|(?:n't|\bnot)\s+(?:see|seen|read|notice|noticed|get|got)\s+(?:your|the|this|that|my)\s+"
    r"(?:emails?|messages?|replies|reply|mails?|notes?|letters?|voicemails?)\b",
    _FLAGS,
)
# "no need to reply / get back to me", said outright (not "no need to reply until it arrives"): the
# customer wants nothing more, an acceptance
_NO_NEED_TO_ANSWER = (
    r"no\s+need\s+(?:to\s+(?:reply|respond|answer|write\s+back|get\s+back(?:\s+to\s+(?:me|us))?|do\s+anything(?:\s+"
    r"(?:else|more|further))?)|for\s+(?:a\s+|any\s+)?(?:reply|response|further\s+action))(?=\s*(?:[-–—,.;:!]|$|now\b))"
)
_NO_PROBLEM = re.compile(r"\b(?:no|not\s+a)\s+(?:problem|worries|issue|bother)\b|\bno\s+further\s+(?:help|questions?)\b|"
                         r"\bnothing\s+(?:else|more)\b|\bdoesn't\s+matter\b|\bno\s+(?:more\s+)?(?:issues|problems)\b|"
                         rf"\b{_NO_NEED_TO_ANSWER}", _FLAGS)

# --- corrections ---------------------------------------------------------------------------------

# the customer owns a slip in a value they gave ("my mistake", "small correction:", "I gave you the
# wrong number", "sorry, wrong date", "not the one I wrote before"): no sign of a problem with the
# resolution. "You changed the wrong date" / "that's the wrong booking" are not in it.
_OWN_SLIP = re.compile(
    r"\b(?:my\s+(?:mistake|bad|error|fault)|(?:small\s+|quick\s+|minor\s+)?correction\b|(?:i\s+made\s+a\s+)?typo\b"
    r"|i\s+(?:\w+\s+)?(?:wrote|gave|typed|put|sent|entered|quoted|used|mixed\s+up)\s+(?:you\s+)?(?:the|a)\s+wrong\s+\w+"
    r"|(?:sorry|oops|whoops)\W+wrong\s+\w+"
    r"|(?:,\s*)?(?:and\s+)?not\s+the\s+(?:[\w-]+\s+){0,2}?(?:that\s+)?i\s+(?:\w+\s+)?(?:wrote|gave|sent|typed|put|mentioned|"
    r"said|used|quoted)(?:\s+(?:you|before|earlier|previously|first|originally))*)",
    _FLAGS,
)
# a replacement stated outright: "it should be the 16th", "needs to be Tuesday", "I meant 14:00"
_REPLACEMENT = re.compile(r"\b(?:(?:should|needs?\s+to|has\s+to|must|ought\s+to)\s+(?:be|read|say)|i\s+meant)\b", _FLAGS)
# an amount received that "should be" more is a shortfall, not a correction
_RECEIVED = re.compile(r"\b(?:refund\w*|credit\w*|money|paid|charged|received|got|balance|short)\b", _FLAGS)
# the value given in place of the old one: a number, a code, a day or a month, an e-mail address
_DAY_OR_MONTH = (r"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|january|february|march|april|june|july|august|"
                 r"september|october|november|december)\b")
_VALUE = re.compile(rf"\d|@|{_DAY_OR_MONTH}", _FLAGS)
# the old value set aside after the new one: ", not the 14th", "not MF4821", "not Wednesday" (a
# value itself: "not arrived" is no old value)
_OLD_VALUE = re.compile(
    rf"(?:,\s*)?\bnot\s+(?:the\s+)?(?=(?:[\w/.:-]+\s+){{0,2}}?(?:[\w/.:-]*\d|{_DAY_OR_MONTH}))"
    r"[\w/.:-]+(?:\s+[\w/.:-]+){0,2}?(?=\s*(?:[,.;!?)]|$))",
    _FLAGS,
)


def _is_correction(sentence: str) -> bool:
    """The customer replaces a value they gave with a new one ("my mistake, it's MF4410", "it
    should be Tuesday 16 June, not the 14th", "sorry, wrong number - it is 0412"): new
    information for the case, not a problem with the resolution and not an acceptance of it."""
    if not _VALUE.search(sentence):
        return False
    return bool(_OWN_SLIP.search(sentence)
                or (_REPLACEMENT.search(sentence) and not _RECEIVED.search(sentence)))


# --- acceptance ----------------------------------------------------------------------------------

# the problem is reported gone ("the error has gone away", "no more crashes", "without a single
# problem"): an outcome confirmation, and its problem word is no needs-help sign
_PROBLEM_GONE = re.compile(
    rf"\b(?:{_PROBLEM_NOUN}(?:\s+(?:message|light|sign|screen))?\s+(?:has\s+|have\s+|is\s+|are\s+|'s\s+)?"
    r"(?:now\s+|finally\s+|completely\s+)?(?:gone|disappeared|vanished|stopped|cleared)(?:\s+away)?"
    rf"|{_PROBLEM_NOUN}(?:\s+(?:message|light|sign|screen))?\s+(?:hasn't|has\s+not|haven't|have\s+not|didn't|did\s+not|"
    r"never)\s+(?:come\s+back|returned|reappeared|happened\s+again|recurred|been\s+back|(?:shown|showed)\s+up\s+again)"
    rf"|no\s+(?:more\s+|further\s+)?(?:\w+\s+){{0,2}}?{_PROBLEM_NOUN}"
    rf"|without\s+(?:any|a\s+single|a|further|more|another)?\s*(?:\w+\s+)?{_PROBLEM_NOUN}"
    rf"|(?:not|n't|no)\s+(?:had|seen|got|been)\s+(?:a|any|an|one|the|another)\s+(?:\w+\s+)?{_PROBLEM_NOUN}\s+since"
    r"|(?:no\s+longer\s+|(?:doesn't|does\s+not|don't|do\s+not|isn't|is\s+not|won't|not)\s+(?:\w+\s+){0,2}?)"
    r"(?:crash\w*|freez\w*|fail\w*|hang\w*|drop\w*|errors?|(?:get|getting|see|seeing)\s+(?:the|an?|that|this|any)\s+"
    r"(?:\w+\s+)?errors?)(?:\s+(?:message|code))?(?:\s+(?:any\s*more|now))?"
    r")\b",
    _FLAGS,
)
# what a customer says had to happen: money, goods, documents, access, a service
_THING = (
    r"(?:refund|money|funds|credit|cash|amount|payment|reimbursement|balance|deposit|parcel|package|order|item|items|"
    r"delivery|box|replacement|goods|card|invoice|receipt|letter|confirmation|account|access|login|password|address|"
    r"booking|reservation|date|seat|subscription|service|connection|internet|wi-?fi|heating|power|water|app|it|they|"
    r"everything|all)"
)
# a page the customer checked shows the change now: "the app shows the estate now", "the portal
# now says Platinum" - unless what it shows is the old value or a problem (_STALE)
_DISPLAYS_NOW = re.compile(
    r"\b(?:app|portal|site|website|account|profile|record|system|booking|reservation|dashboard|page|screen|statement|"
    r"confirmation)\s+(?:now\s+(?:shows|says|lists|displays|reads)\b|(?:shows|says|lists|displays|reads)\s+"
    r"(?:[\w'-]+\s+){1,4}?now\b)",
    _FLAGS,
)
_STALE = re.compile(
    r"\b(?:old|previous|same|original|wrong|incorrect|nothing|no|zero|0|negative|minus|overdrawn|pending|declined|"
    r"blocked|locked|suspended|frozen|errors?|still)\b",
    _FLAGS,
)
# the customer confirms the outcome happened (behaviour.md §7): it arrived / showed up / went
# through / came to the new address, it is back / in / there, I can log in again, it works now,
# that fixed it, I picked it up
_OUTCOME = re.compile(
    r"\b(?:"
    r"arrived|landed|turned\s+up|showed\s+up|popped\s+up|appeared|delivered|credited|reimbursed|refunded|"
    r"(?:went|gone|come|came)\s+through|(?:come|came)\s+back(?!\s+to\s+(?:you|me|us|them))|"
    r"reached\s+(?:me|us|my|our|home)|cleared\b(?!\s+(?:the|my))|"
    r"came\s*(?=[.!,;]|$)|came\s+(?:in|today|yesterday|this\s+\w+|last\s+\w+|earlier|on\s+\w+day|safely|safe|in\s+one\s+piece)"
    r"|(?!(?:i|he|she|we|you|engineer|technician|courier|driver|husband|wife|partner|son|daughter|someone|"
    r"somebody|nobody)\b)[\w-]+(?:\s+(?:on|in|for|of|to)\s+(?:my|the|our)\s+\w+)?"
    r"(?:'s|\s+is|\s+are|\s+has\s+been|\s+have\s+been)\s+"
    r"(?:now\s+|finally\s+|all\s+)?(?:back|in|here|there|visible|through|showing|credited|unlocked|restored|active|"
    r"live|updated|corrected|correct|changed|cancell?ed|activated|reactivated|delivered|installed|fitted|connected|"
    r"online|on|(?:in|on|into)\s+(?:my|our)\s+\w+)\b"
    rf"|{_THING}\s+(?:now\s+|finally\s+)?(?:restored|unlocked|reactivated|activated|received|credited|updated|corrected|"
    r"cancell?ed|delivered|installed)\b"
    r"|(?:showing|shows|showed)\s+(?:up|on|in|now|as\s+(?:paid|refunded|received|credited|delivered|cancell?ed|"
    r"updated|active|resolved))"
    r"|(?:i'm|i\s+am|we're|we\s+are)\s+(?:now\s+)?back\s+in\b|(?:i'm|i\s+am|we're|we\s+are)\s+in\s*(?:now|again|[!.]|$)"
    r"|(?:can|could|was\s+able\s+to|were\s+able\s+to|managed\s+to|able\s+to)\s+(?:now\s+|finally\s+|successfully\s+)?"
    r"(?:log\s*(?:in|on)|login|sign\s*(?:in|on)|get\s+(?:back\s+)?in(?:to)?|access|use|open|download|print|connect|"
    r"book|pay|check\s*in|see\s+(?:it|them|the\s+(?:refund|money|credit|new|updated|corrected|change|changes|booking|"
    r"confirmation)|my\s+(?:refund|money|new|updated)))"
    r"|(?:logged|signed)\s+(?:in|on|back\s+in)\b|back\s+in(?:to)?\s+(?:my|the|our)\s+(?:account|app|system|email|profile)"
    r"|[\w-]+\s+worked\b(?!\s+(?:for|until|till|at\s+first|before|once|briefly|on\s+and\s+off))"
    r"|(?:it's|it\s+has|they've|they\s+have|has|have)\s+(?:finally\s+|now\s+)?(?:come|arrived|landed|turned\s+up)\b(?!\s+to\b)"
    r"|\w+ing\s+(?:up\s+)?(?:properly|normally|fine|perfectly|smoothly|correctly)\b"
    r"|hit\s+(?:my|the|our)\s+(?:account|bank|card|balance|wallet)"
    r"|(?:opens|opening|loads|loading|runs|running|behaves|behaving|prints|printing|syncs|syncing|connects|connecting|"
    r"starts|starting|boots|booting|lights|fires|responds|works|working|worked|functions|functioning)\s+(?:fine|properly|"
    r"normally|normal|first\s+time|perfectly|smoothly|correctly|ok|okay|great|again|now|like\s+a\s+(?:charm|dream)|a\s+treat|"
    r"as\s+(?:it\s+should|expected|normal|before))\b"
    r"|(?:is|are|'s)\s+(?:now\s+|all\s+)?(?:working|running|behaving|functioning|up\s+and\s+running|back\s+to\s+normal)\b"
    r"|(?:fixed|sorted|solved|cured|resolved|cracked)\s+(?:it|that|this|the\s+(?:problem|issue|fault))"
    r"|(?:that|this|it)(?:'s|\s+has)?\s+(?:did|done)\s+(?:it|the\s+(?:job|trick))"
    r"|(?:got|received|collected|picked\s+up)\s+(?:the|a|my|our|both|all)\s+(?:\w+\s+){0,2}?(?:confirmation|invoice|"
    r"receipt|refund|parcel|package|item|items|order|card|replacement|money|credit|voucher|goods|delivery|box|cheque|"
    r"check|code|keys?|label|parts?|tickets?|documents?|statement|prescriptions?|medicines?|medication|pills|glasses|"
    r"lenses|car|van|vehicle|bike|device|laptop|passport|certificate|licen[cs]e|pass|kit)\b"
    r"(?!\s+(?:number|no|id|reference|ref|details))"
    r"|(?:picked|collected|fetched)\s+(?:it|them)\b"
    r"|(?:came|got\s+here)\s+(?:to|at)\s+(?:the|my|our)\s+(?:new\s+|right\s+|correct\s+)?(?:place|address|house|home|flat|"
    r"apartment|office|door|work)\b"
    r"|received\s*(?:[.!,]|$|today|yesterday|now|safely|in\s+full|in\s+good|with\s+thanks|thanks)"
    r"|squared\s+away|in\s+order\b(?!\s+to)|good\s+to\s+go|(?:as\s+)?good\s+as\s+new|(?:fine|ok|okay|good|great)\s+"
    r"(?:by|with|for)\s+me\b(?!\s+to\b)|happy\s+days|life-?\s?saver"
    r")",
    _FLAGS,
)

_STRONG_ACCEPT = re.compile(
    r"\b(?:"
    r"(?:that|this|it|which|everything|all)(?:'s|\s+is|\s+has|\s+now)?\s+(?:now\s+)?(?:works?|worked|working|fixed|solved|"
    r"resolved|sorted(?:\s+out)?|done|fine|ok|okay|good|great|perfect|clear|helpful|helped|fixed\s+it|"
    r"did\s+the\s+trick|does\s+the\s+trick|answers\s+my\s+question|all\s+i\s+needed|what\s+i\s+needed|"
    r"exactly\s+what)"
    r"|works?\s+(?:now|fine|perfectly|great|again)|(?:now\s+)?working\s+(?:now|again|fine)"
    r"|all\s+(?:sorted|good|set|fixed|done|clear|working|fine)|sorted\b|problem\s+solved|issue\s+(?:resolved|solved|fixed)"
    r"|(?:got|received)\s+it|arrived|came\s+(?:today|through|in)|turned\s+up|showed\s+up"
    r"|(?:please\s+)?go\s+ahead|(?:yes|yeah|yep|sure)[,!.]?\s+please|please\s+(?:do|proceed|process)|proceed\b"
    r"|sounds\s+(?:good|great|fine|perfect|ok|okay)|(?:that\s+)?makes\s+sense"
    r"|(?:you\s+can|feel\s+free\s+to)\s+close|close\s+(?:the|this|my)\s+(?:case|ticket|request)"
    r"|happy\s+with|(?:i\s+am|i'm|we\s+are|we're)\s+(?:all\s+)?(?:happy|satisfied|good|fine|sorted)\b|all\s+set"
    rf"|{_NO_NEED_TO_ANSWER}"
    r"|(?:that's|that\s+is)\s+all|perfect|excellent|brilliant|fantastic|wonderful|awesome|amazing|superb"
    r"|(?:problem|issue)\s+(?:is\s+)?(?:gone|fixed|solved|resolved)|(?:i\s+)?(?:understand|see)\s+now"
    r"|thanks?(?:\s+you)?(?:\s+(?:so\s+much|very\s+much|a\s+lot))?\s+for\s+(?:sorting|fixing|resolving|solving|handling|"
    r"taking\s+care|dealing\s+with|processing|arranging|getting\s+(?:this|that|it)\s+(?:sorted|fixed|done))"
    r"|(?:no|not\s+a)\s+(?:problem|worries)|agreed?\b|deal\b|will\s+do\b(?!\s+(?!thanks|thank|cheers|ta\b)\w)|"
    r"understood\b|noted\b"
    r")",
    _FLAGS,
)
_WEAK_ACCEPT = re.compile(
    r"\b(?:thanks?|thank\s+you|thx|ty|cheers|appreciated?|grateful|great|good|nice|cool|ok|okay|"
    r"fine|yes|yeah|yep|sure|alright|all\s+right|lovely|super|got\s+it|gotcha|right|ta|obliged|nice\s+one|spot\s+on|"
    r"legend|tysm|thanx|thnx|tks)\b",
    _FLAGS,
)
_ACCEPT_WORDS = (
    r"works?|worked|working|fixed|solved|resolved|sorted|fine|ok|okay|good|great|perfect|happy|satisfied|helpful|"
    r"helped|clear|right|correct|enough|acceptable|excellent|better|resolved|all\s+set"
)
_NEGATED_ACCEPT = re.compile(
    rf"\b(?:not|never|isn't|wasn't|aren't|don't|doesn't|didn't|do\s+not|does\s+not|did\s+not|hardly|barely|"
    rf"far\s+from|no\s+longer)\s+(?:[\w']+\s+){{0,3}}?(?:{_ACCEPT_WORDS})\b",
    _FLAGS,
)
_NO_THANKS = re.compile(r"^\s*no[,!.]?\s*(?:thanks?|thank\s+you)\b", _FLAGS)

# --- questions and pleasantries --------------------------------------------------------------------

# a question without "?": a question word, or an auxiliary followed by its subject ("can I change",
# "is there"); "will do it tomorrow", "is working now" (no subject) are statements. A leading
# "Great," / "Thanks, and" does not hide it.
_QUESTION_START = re.compile(
    r"^\s*(?:[\w']+\s*,\s*)?(?:and\s+|also\s*,?\s*|but\s+|so\s+|btw\s*,?\s*|one\s+more\s+thing\s*[,:]?\s*)?"
    r"(?:(?:can|could|would|will|shall|should|do|does|did|is|are|am|was|were|have|has)(?:n't)?\s+(?:not\s+)?"
    r"(?:i|you|we|they|he|she|it|this|that|these|those|there|the|my|your|our|their|his|her|its|a|an|any|anyone|"
    r"anybody|someone|somebody|something|anything|me|us|everything)\b"
    r"|(?:how|what(?!\s+an?\b)|when|where|why|which|who|whom)\b)",
    _FLAGS,
)
# a request put as a question: "Could you also add …?", "Can I book …?", "Is it possible to …?", "How do I
# cancel …?" — unlike a question for information ("When will it arrive?", "Is there parking?")
_REQUEST_QUESTION = re.compile(
    r"^\s*(?:[\w']+\s*[,!.]\s*)*(?:and\s+|also\s*,?\s*|so\s+|but\s+|btw\s*,?\s*|one\s+more\s+thing\s*[,:]?\s*)?"
    r"(?:(?:can|could|would)(?:n't)?\s+(?:you|u|i|we|my|our)\b|may\s+(?:i|we)\b"
    r"|(?:is|would)\s+it\s+(?:be\s+)?possible\b|how\s+(?:do|can|could|would|should)\s+(?:i|we)\b)",
    _FLAGS,
)
# "but" / "however" / "except": what follows decides ("it arrived but the lid is cracked")
_CONTRAST = re.compile(r"\b(?:but|however|though|although|except|apart\s+from|only\s+(?:thing|problem|issue|catch))\b",
                       _FLAGS)
# a condition or a hope is not a report: "if it doesn't arrive by Friday", "hopefully it turns up"
_CONDITIONAL = re.compile(
    r"\b(?:if|unless|once(?!\s+(?:again|more))|as\s+soon\s+as|in\s+case|hopefully|(?:i|we)\s+hope|fingers\s+crossed)\b"
    r"[^,.;!?]*",
    _FLAGS,
)
# emoji read as words: a thumbs-up thanks, a sad or angry face is unhappy; others are dropped
_SKIN_AND_VARIANT = "[\U0001F3FB-\U0001F3FF\uFE0F\u200D]*"
_HAPPY_EMOJI = re.compile(f"[\U0001F44D\U0001F44C\U0001F64F\u2705\u2714\u2611\U0001F389\U0001F64C\U0001F60A"
                          f"\U0001F642\U0001F600-\U0001F604\u2764\u2665\U0001F4AF\U0001F973\U0001F44F\U0001F60D"
                          f"\U0001F929\u263A\U0001F4AA\u2728]{_SKIN_AND_VARIANT}")
_UNHAPPY_EMOJI = re.compile(f"[\U0001F44E\U0001F621\U0001F620\U0001F61E\U0001F622\U0001F62D\U0001F624\U0001F92C"
                            f"\u2639\U0001F641\U0001F615\U0001F612\U0001F629\U0001F62B\U0001F4A9\U0001F926]"
                            f"{_SKIN_AND_VARIANT}")
_OTHER_EMOJI = re.compile(f"[\U0001F300-\U0001FAFF\u2600-\u27BF]{_SKIN_AND_VARIANT}")
# "cant", "doesnt", "didnt" (typed without the apostrophe) are negations all the same
_NO_APOSTROPHE = re.compile(r"\b(can|don|doesn|didn|isn|wasn|hasn|haven|aren|weren|couldn|wouldn|shouldn|won)(t)\b", _FLAGS)
_COURTESY_QUESTION = re.compile(
    r"^\s*(?:how\s+are\s+you(?:\s+doing)?|how's\s+it\s+going|how\s+have\s+you\s+been|isn't\s+it|right|"
    r"(?:can|could)\s+you\s+(?:please\s+)?(?:close|confirm)\s+(?:the|this|my)\s+(?:case|ticket)|"
    r"wasn't\s+that\s+(?:easy|quick))\s*[?.!]*\s*$",
    _FLAGS,
)
_PLEASANTRY = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening|day)|have\s+a\s+(?:nice|great|good|lovely)\s+\w+|"
    r"(?:best|kind|warm)(?:\s+regards)?|regards|sincerely|take\s+care|bye|goodbye|see\s+you|all\s+the\s+best|"
    r"you(?:'re|\s+are)\s+(?:the\s+best|a\s+star|great|amazing|awesome)|keep\s+up\s+the\s+good\s+work|"
    r"(?:have\s+a\s+)?(?:nice|great|good)\s+(?:day|weekend|evening)|:\)|:-\)|sent\s+from\s+my\b)"
    r"[\w\s,.!'-]{0,30}$",
    _FLAGS,
)

# a line that is only a name ("Hannah", "J. Doe", "- Tom"): a signature, not content
_SIGNATURE = re.compile(r"^\s*[-–—~]*\s*(?:[A-Z][\w'.-]*)(?:\s+[A-Z][\w'.-]*){0,2}\s*$")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+|(?<=\w)\s*;\s*")
_WORDS = re.compile(r"[^\W\d_]+")


def _prepare(text: str) -> str:
    if not text:
        return ""
    lines = [line for line in text.replace("\u2019", "'").replace("\u2018", "'").splitlines()
             if not line.lstrip().startswith(">")]
    return _NO_APOSTROPHE.sub(r"\1'\2", _emoji_as_words("\n".join(lines))).strip()


def _emoji_as_words(text: str) -> str:
    text = _HAPPY_EMOJI.sub(" thanks ", text)
    text = _UNHAPPY_EMOJI.sub(" unhappy ", text)
    return _OTHER_EMOJI.sub(" ", text)


def _split(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.split(text) if s and s.strip()]


def _mostly_latin_letters(text: str) -> bool:
    """Whether the English lexicons could match anything: a reply mostly in another script ("谢谢",
    "Спасибо") is no reading for them. Not a language test: that is ``llm_guard.looks_english``."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    ascii_letters = sum(1 for c in letters if c.isascii())
    return ascii_letters / len(letters) >= 0.6


def _is_question(sentence: str) -> bool:
    """Ends with "?", or has no end mark and starts like one ("can I change my order")."""
    sentence = sentence.rstrip()
    if _COURTESY_QUESTION.match(sentence) or _PLEASANTRY.match(sentence):
        return False
    if sentence.endswith("?"):
        return True
    return sentence[-1:].isalnum() and bool(_QUESTION_START.match(sentence)) and len(_WORDS.findall(sentence)) > 2


def _needs_help(sentence: str) -> bool:
    """A problem or a rejection in the sentence, once conditions, "no problem", "the error is
    gone", the customer's own slips and the old value a correction replaces are set aside."""
    correction = _is_correction(sentence)
    if correction:  # "thanks, but it should be the 16th, not the 14th": the "but" and "not" bring the new value
        sentence = _OLD_VALUE.sub(" ", sentence)
    sentence = _OWN_SLIP.sub(" ", sentence)
    sentence = _PROBLEM_GONE.sub(" ", _NO_PROBLEM.sub(" ", _CONDITIONAL.sub(" ", sentence)))
    if _NOT_YET.search(sentence) and not _HELP.search(_NOT_YET.sub(" ", sentence)):
        return False
    return bool(_HELP.search(sentence) or _NEGATED_ACCEPT.search(sentence) or _negated_outcome(sentence)
                or (not correction and _unresolved_contrast(sentence)))


def _negated_outcome(sentence: str) -> bool:
    """An outcome with a negation in the few words before it, in the same clause: "the refund
    hasn't come through", "never turned up", "I still can't log in"."""
    for match in _OUTCOME.finditer(sentence):
        clause = re.split(r"[,;:]|\bbut\b", sentence[:match.start()], flags=_FLAGS)[-1]
        if _NEGATOR.search(" ".join(clause.split()[-4:])):
            return True
    return False


def _unresolved_contrast(sentence: str) -> bool:
    """ "X, but Y" where Y is neither an acceptance nor a pleasantry: "Thanks, but I never asked
    for that", "It arrived but the lid is cracked". "Slow, but it works now" is fine."""
    parts = _CONTRAST.split(sentence)
    if len(parts) < 2:
        return False
    tail = parts[-1].strip(" ,.!-")
    if not _WORDS.findall(tail):  # "The charger is dead though."
        tail = " ".join(parts[:-1]).strip(" ,.!-")
    return bool(_WORDS.findall(tail)) and not (_accepts_strongly(tail) or _only_weak(tail) or _PLEASANTRY.match(tail)
                                               or _NOT_YET.search(tail))


def _accepts_strongly(sentence: str) -> bool:
    """An explicit acceptance ("that works", "go ahead") or a confirmation of the outcome ("it's
    in my account now", "arrived safely", "I'm back in", "the error has gone", "the app shows the
    new date now")."""
    sentence = _CONDITIONAL.sub(" ", sentence)
    return bool(_STRONG_ACCEPT.search(sentence) or _OUTCOME.search(sentence) or _PROBLEM_GONE.search(sentence)
                or _NO_THANKS.match(sentence) or _displays_the_change(sentence))


def _displays_the_change(sentence: str) -> bool:
    """The customer checked and the page shows the change now ("the app shows the estate now"),
    not the old value or a problem ("the account shows pending now")."""
    return bool(_DISPLAYS_NOW.search(sentence)) and not _STALE.search(sentence)


def _only_weak(sentence: str) -> bool:
    """The sentence is nothing but weak acceptance words, fillers and punctuation."""
    rest = _WEAK_ACCEPT.sub(" ", sentence)
    rest = re.sub(
        r"\b(?:so|very|much|a\s+lot|lots|again|for|your|the|help|reply|response|quick|fast|answer|that|this|it|"
        r"all|really|indeed|you|guys|team|everyone|oh|ah|well|then|and|just|kindly|many|million|loads|i|we|"
        r"truly|highly|much|appreciate|appreciated|support|assistance|information|info|time|effort|email|"
        r"getting\s+back(?:\s+to\s+me)?|quickly|prompt|swift|sir|madam|thanks|please|stuff|news|job|work|one|"
        r"mate|folks|people|lot|a|an|though)\b",
        " ", rest, flags=_FLAGS,
    )
    return not _WORDS.findall(rest)


class ReplyReading(NamedTuple):
    """How a reply answers a proposed resolution, and whether requests put as questions alone made it
    ``NEEDS_HELP`` ("Could you also add my wife as a driver?"; no problem, rejection, request for a
    person or question for information in it): such a request may be another one of the catalog,
    which the case is then decided again for (offline engine)."""

    kind: ReplyKind
    requests_only: bool = False


def classify_reply(text: str, language: str | None = None) -> ReplyKind:
    """How a customer's reply (new text only) answers a proposed resolution; see the module doc.
    ``language`` (the case's, ISO 639-1): one of :data:`REPLY_LANGUAGES` is read with its lexicon."""
    return read_reply(text, language).kind


def read_reply(text: str, language: str | None = None) -> ReplyReading:
    """:func:`classify_reply`, and whether a reply needs help only by requests put as questions."""
    lexicon = _LEXICONS.get(language or "en")
    if lexicon is not None:
        return _read_in(lexicon, _prepare(text))
    text = _prepare(text)
    if not text or not _mostly_latin_letters(text):
        return ReplyReading(ReplyKind.OTHER)
    sentences = _split(text)
    if asks_for_person(text) or any(_needs_help(s) for s in sentences):
        return ReplyReading(ReplyKind.NEEDS_HELP)
    questions = [s for s in sentences if _is_question(s)]
    if questions:
        return ReplyReading(ReplyKind.NEEDS_HELP, requests_only=all(_REQUEST_QUESTION.match(q) for q in questions))
    return ReplyReading(_acceptance(sentences))


def _acceptance(sentences: list[str]) -> ReplyKind:
    """A reply with no problem and no question: accepts, or other (corrections, new information)."""
    if any(_is_correction(s) for s in sentences):
        return ReplyKind.OTHER
    strong = weak = content = False
    for sentence in sentences:
        if _accepts_strongly(sentence):  # before the signature test: "Sorted." is no name
            strong = True
        elif _SIGNATURE.match(sentence) and not _WEAK_ACCEPT.search(sentence):
            continue
        elif _only_weak(sentence):
            weak = weak or bool(_WEAK_ACCEPT.search(sentence))
        elif _PLEASANTRY.match(sentence):
            continue
        elif _WEAK_ACCEPT.search(sentence) and not _WORDS.findall(_WEAK_ACCEPT.sub(" ", sentence).strip(" ,.!")):
            weak = True
        else:
            content = True
    if strong:
        return ReplyKind.ACCEPTS
    if weak and not content:
        return ReplyKind.ACCEPTS
    return ReplyKind.OTHER


# --- other languages ---------------------------------------------------------------------------
# A smaller reading of the same kinds for the languages of the demo catalogs: a request for a
# person or a sign the problem is not solved needs help, and so does a question; a strong acceptance
# (or a confirmation of the outcome) accepts, and so does a reply of thanks and pleasantries alone;
# anything else is other. English keeps the full reading above.

class _Lexicon(NamedTuple):
    person: re.Pattern[str]
    needs_help: re.Pattern[str]
    accepts: re.Pattern[str]
    weak: re.Pattern[str]


def _lexicon(person: str, needs_help: str, accepts: str, weak: str) -> _Lexicon:
    return _Lexicon(*(re.compile(p, _FLAGS) for p in (person, needs_help, accepts, rf"\b(?:{weak}|thanks|ok(?:ay)?)\b")))


_LEXICONS: dict[str, _Lexicon] = {
    "es": _lexicon(
        person=r"\b(?:hablar|comunicarme|contactar)\s+con\s+(?:una\s+persona|alguien|un\s+(?:agente|humano|responsable|"
               r"supervisor|encargado|compañero)|el\s+(?:responsable|encargado))|\bque\s+me\s+llame\s+alguien|"
               r"\bll[aá]m(?:ame|enme)\b|\bpersona\s+de\s+verdad\b|\bpersona\s+real\b",
        needs_help=r"\bno\s+(?:me\s+)?(?:funciona|sirve|vale|ha\s+llegado|lleg[oó]|he\s+recibido|recib[ií]|est[aá]\s+"
                   r"(?:resuelto|solucionado|bien)|se\s+ha\s+(?:resuelto|solucionado)|resuelve|soluciona|es\s+lo\s+que|"
                   r"estoy\s+de\s+acuerdo|acepto|me\s+parece\s+bien|aparece|veo)\b|\bsigue\s+(?:sin|igual|fallando)\b|"
                   r"\bsigo\s+(?:sin|esperando)\b|\btodav[ií]a\s+no\b|\ba[uú]n\s+no\b|\bni\s+rastro\b|"
                   r"\bno\s+estoy\s+(?:content[oa]|satisfech[oa])|\bnada\s+de\s+nada\b|\bno\s+hay\s+manera\b",
        accepts=r"\b(?:perfecto|genial|estupendo|fenomenal|de\s+acuerdo|me\s+parece\s+(?:bien|perfecto)|todo\s+(?:bien|"
                r"correcto|en\s+orden|resuelto|solucionado|listo)|ya\s+(?:funciona|lo\s+tengo|me\s+ha\s+llegado|ha\s+llegado|"
                r"lo\s+he\s+recibido|est[aá])|(?:me\s+)?ha\s+llegado|funciona(?:\s+bien)?|(?:est[aá]\s+)?solucionado|"
                r"resuelto|adelante|me\s+sirve|me\s+vale|problema\s+resuelto|ya\s+lo\s+he\s+visto)\b",
        weak=r"(?:muchas\s+|mil\s+)?gracias|vale|bien|un\s+saludo|saludos|atentamente|hola|buenas|buenos\s+d[ií]as|"
             r"buenas\s+tardes|un\s+abrazo|cordialmente"),
    "de": _lexicon(
        person=r"\b(?:mit\s+)?(?:einem?\s+)?(?:Menschen|Mitarbeiter(?:in)?|Person|Vorgesetzten|Ansprechpartner(?:in)?|"
               r"jemandem)\s+(?:persönlich\s+)?(?:sprechen|reden|telefonieren)|\brufen\s+Sie\s+mich\s+(?:bitte\s+)?"
               r"(?:an|zurück)|\bR[üu]ckruf\b|\bmich\s+(?:bitte\s+)?(?:an)?rufen\b",
        needs_help=r"\b(?:funktioniert|klappt|geht)\s+(?:aber\s+|leider\s+)?(?:immer\s+noch\s+|noch\s+|weiterhin\s+)?"
                   r"(?:nicht|kaum)\b|\bimmer\s+noch\s+(?:nicht|kein|keine|keinen|nichts|dasselbe|das\s+gleiche|kaputt|"
                   r"defekt)\b|\bnoch\s+(?:nicht|kein|keine|keinen|nichts)\b|\bnicht\s+(?:angekommen|erhalten|gelöst|behoben|"
                   r"einverstanden|zufrieden|richtig|das,?\s+was)\b|\bweiterhin\s+(?:nicht|kein|keine|defekt|kaputt)\b|"
                   r"\bnach\s+wie\s+vor\b|\bhilft\s+(?:mir\s+)?(?:leider\s+)?nicht\b|\bbin\s+(?:damit\s+)?nicht\b|"
                   r"\bnie\s+angekommen\b",
        accepts=r"\b(?:passt(?:\s+so)?|perfekt|super|prima|klasse|wunderbar|toll|alles\s+(?:klar|gut|bestens|erledigt|"
                r"in\s+Ordnung)|in\s+Ordnung|einverstanden|funktioniert\s+(?:wieder|jetzt|einwandfrei|bestens|alles)|"
                r"(?:ist|sind)\s+(?:heute\s+|gestern\s+|jetzt\s+|inzwischen\s+)?(?:angekommen|eingegangen|da)|"
                r"(?:habe|hab)\s+(?:es|ihn|sie|das\s+Geld|die\s+Gutschrift|das\s+Paket)\s+(?:heute\s+|inzwischen\s+)?"
                r"(?:erhalten|bekommen)|erledigt|gelöst|hat\s+(?:alles\s+)?geklappt|klappt\s+(?:jetzt|wieder)|"
                r"machen\s+Sie\s+das\s+so|gerne\s+so)\b",
        weak=r"(?:vielen\s+|besten\s+|herzlichen\s+)?dank(?:e(?:\s+schön|\s+sehr)?)?|dankeschön|gut|viele\s+grüße|"
             r"(?:mit\s+)?(?:freundlichen|besten|liebe)\s+grüßen?|grüße|lg|mfg|hallo|guten\s+(?:tag|morgen)|"
             r"schönen\s+tag(?:\s+noch)?|sehr\s+geehrte\s+damen\s+und\s+herren|alles\s+gute"),
    "fr": _lexicon(
        person=r"\b(?:parler|discuter)\s+(?:à|avec)\s+(?:une\s+personne|quelqu'un|un\s+(?:conseiller|humain|responsable|"
               r"agent)|une\s+conseillère)|\b(?:rappelez|appelez)[-\s]moi\b|\bêtre\s+rappelée?\b|\bqu'on\s+me\s+rappelle\b",
        needs_help=r"\bne\s+(?:\w+\s+)?(?:fonctionne|marche|résout|règle|suis|convient)\s+(?:toujours\s+|plus\s+)?pas\b|"
                   r"\btoujours\s+pas\b|\bpas\s+encore\b|\bn'(?:ai|est|a|avons)\s+(?:toujours\s+)?(?:pas|rien|jamais)\b|"
                   r"\btoujours\s+(?:rien|le\s+même\s+problème|en\s+panne|bloquée?)\b|\bpas\s+(?:reçu|arrivée?|résolu|"
                   r"réglé|d'accord|satisfaite?|contente?)\b|\bça\s+ne\s+va\s+pas\b|\bne\s+\w+\s+plus\b",
        accepts=r"(?:\b(?:parfait|super|génial|impeccable|d'accord|c'est\s+(?:bon|réglé|parfait|noté|résolu|arrivé)|"
                r"ça\s+(?:marche|fonctionne|me\s+va|roule)|tout\s+est\s+(?:bon|réglé|en\s+ordre|rentré\s+dans\s+l'ordre|"
                r"arrivé)|bien\s+reçu|(?:est|sont)\s+(?:bien\s+)?arrivée?s?|allez-y|fonctionne\s+(?:de\s+nouveau|à\s+"
                r"nouveau|maintenant|bien)|problème\s+résolu|(?:j'ai|nous\s+avons)\s+(?:bien\s+)?reçu))(?!\w)",
        weak=r"merci(?:\s+beaucoup|\s+bien|\s+encore)?|bonne\s+(?:journée|soirée)|cordialement|bien\s+à\s+vous|bonjour|"
             r"bonsoir|salutations|très\s+bien|bien"),
}
REPLY_LANGUAGES = frozenset({"en", *_LEXICONS})
"""The languages a reply to a proposed resolution is read in (accepts / needs help); in another, it is other."""


def _read_in(lexicon: _Lexicon, text: str) -> ReplyReading:
    if not text:
        return ReplyReading(ReplyKind.OTHER)
    sentences = _split(text)
    if any(lexicon.person.search(s) or lexicon.needs_help.search(s) for s in sentences):
        return ReplyReading(ReplyKind.NEEDS_HELP)
    if any("?" in s for s in sentences):
        return ReplyReading(ReplyKind.NEEDS_HELP)
    if any(lexicon.accepts.search(s) for s in sentences):
        return ReplyReading(ReplyKind.ACCEPTS)
    weak = [s for s in sentences if lexicon.weak.search(s)]
    content = [s for s in sentences if not _SIGNATURE.match(s) and _WORDS.findall(lexicon.weak.sub(" ", s))]
    return ReplyReading(ReplyKind.ACCEPTS if weak and not content else ReplyKind.OTHER)


__all__ = ["REPLY_LANGUAGES", "ReplyReading", "asks_for_person", "classify_reply", "read_reply"]
