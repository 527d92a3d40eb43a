"""How a customer answered a proposed resolution (behaviour.md §7): accepts, still needs help, or other.

Deterministic and lexicon based. The text is the customer's *new* text (quoted history and
signature already removed by the caller; ``>`` lines are ignored here too). It is cut into
sentences and every sentence is read as one of: a request for a person, a sign that the problem
is not solved (or that the resolution is rejected), an open question, an acceptance (strong:
"that works", "all sorted", "go ahead"; or weak: "thanks", "ok", "great"), a pleasantry, or other
content. Then, in this order:

1. a request for a person, or any needs-help sentence -> ``NEEDS_HELP``. Needs-help beats thanks:
   "Thanks, but it still doesn't work" needs help.
2. an open question -> ``NEEDS_HELP``. Decision: after a proposed resolution, a question ("Also,
   can I change my order?", "How long will the refund take?") is something the resolution did not
   answer; resolving the case would leave it unanswered and "other" would re-run the decision on
   the same case, so a representative takes it. Courtesy questions ("How are you?") don't count.
3. a strong acceptance -> ``ACCEPTS`` (even with extra content: values in it are still read).
4. only weak acceptances and pleasantries -> ``ACCEPTS`` ("Thanks!", "Great, appreciate it").
5. anything else -> ``OTHER``: new information ("My new address is 12 Elm St"), thanks followed by
   new information, text in another language, empty text.

Negation: an acceptance word with a negator just before it ("not happy", "isn't fine", "not
sorted", "hardly perfect") is a needs-help signal. "No problem", "no worries", "not a problem"
are acceptances. A bare "No thanks" / "No, thank you" (alone or with "that's all", "I'm good")
is taken as ACCEPTS: it is how customers answer the "anything else?" that ends a resolution; but
"No thanks, I want a refund instead" needs help (a rejection of the proposal), and "No, that's
not what I asked" too.
"""

from __future__ import annotations

import re

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


def asks_for_person(text: str) -> bool:
    """Whether the text explicitly asks for a human: a person, agent, representative, manager,
    "someone to call me", an escalation. "No need to call me" does not count."""
    text = _prepare(text)
    if not text:
        return False
    for sentence in _split(text):
        if _ASK_PERSON.search(sentence) and not _NEGATED_PERSON.search(sentence):
            return True
    return False


# --- needs help ----------------------------------------------------------------------------------

_NEG = r"(?:not|never|no|n't|cannot|can't|won't|didn't|doesn't|don't|isn't|wasn't|hasn't|haven't|hadn't|aren't|weren't)"
_FIX_VERBS = (
    r"(?:fix|fixed|work|works|worked|working|help|helped|helps|helping|solve|solved|solves|resolve|resolved|"
    r"resolves|answer|answered|answers|arrive|arrived|come|came|receive|received|get|got|gotten|show\s+up|"
    r"showed\s+up|change|changed|go\s+through|went\s+through|load|loads|open|opens|sort|sorted|make\s+sense|"
    r"address|addressed|refund|refunded|do\s+anything|do\s+the\s+trick|clear|cleared|appear|appeared|"
    r"reflect|reflected|update|updated|happen|happened|see|seen|find|found|explain|explains|explained)"
)
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
    r"|(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)|umpteenth|last)\s+time|how\s+many\s+times|"
    r"(?:writing|asking|contacting|emailing|calling|chasing)\s+(?:you\s+|this\s+)?(?:again|up)|yet\s+again|once\s+again"
    r"|(?:i|we)\s+(?:disagree|object|refuse|reject)"
    r"|(?:broken|faulty|fails|failed|failing|crash\w*|stuck)\b"
    r")",
    _FLAGS,
)
# "not tried it yet" / "haven't had a chance" are not problems: plain information
_NOT_YET = re.compile(
    r"(?:n't|\bnot)\s+(?:\w+\s+){0,2}?(?:tried|checked|had\s+(?:a|the)\s+(?:chance|time)|looked)\b"
    r"|(?:n't|\bnot)\s+(?:see|seen|read|notice|noticed|get|got)\s+(?:your|the|this|that|my)\s+"
    r"(?:emails?|messages?|replies|reply|mails?|notes?|letters?|voicemails?)\b",
    _FLAGS,
)
_NO_PROBLEM = re.compile(r"\b(?:no|not\s+a)\s+(?:problem|worries|issue|bother)\b|\bno\s+further\s+(?:help|questions?)\b|"
                         r"\bnothing\s+(?:else|more)\b|\bdoesn't\s+matter\b|\bno\s+(?:more\s+)?(?:issues|problems)\b", _FLAGS)

# --- acceptance ----------------------------------------------------------------------------------

_STRONG_ACCEPT = re.compile(
    r"\b(?:"
    r"(?:that|this|it|which|everything|all)(?:'s|\s+is|\s+has|\s+now)?\s+(?:now\s+)?(?:works?|worked|working|fixed|solved|"
    r"resolved|sorted(?:\s+out)?|done|fine|ok|okay|good|great|perfect|clear|helpful|helped|fixed\s+it|"
    r"did\s+the\s+trick|does\s+the\s+trick|answers\s+my\s+question|all\s+i\s+needed|what\s+i\s+needed|"
    r"exactly\s+what)"
    r"|works?\s+(?:now|fine|perfectly|great|again)|(?:now\s+)?working\s+(?:now|again|fine)"
    r"|all\s+(?:sorted|good|set|fixed|done|clear|working|fine)|sorted\b|problem\s+solved|issue\s+(?:resolved|solved|fixed)"
    r"|(?:got|received)\s+it|arrived|came\s+(?:today|through|in)|turned\s+up|showed\s+up|(?:is|are)\s+(?:now\s+)?here"
    r"|(?:please\s+)?go\s+ahead|(?:yes|yeah|yep|sure)[,!.]?\s+please|please\s+(?:do|proceed|process)|proceed\b"
    r"|sounds\s+(?:good|great|fine|perfect|ok|okay)|(?:that\s+)?makes\s+sense"
    r"|(?:you\s+can|feel\s+free\s+to)\s+close|close\s+(?:the|this|my)\s+(?:case|ticket|request)"
    r"|happy\s+with|(?:i\s+am|i'm)\s+(?:happy|satisfied|good|fine|all\s+set)"
    r"|(?:that's|that\s+is)\s+all|perfect|excellent|brilliant|fantastic|wonderful|awesome|amazing|superb"
    r"|(?:problem|issue)\s+(?:is\s+)?(?:gone|fixed|solved|resolved)|(?:i\s+)?(?:understand|see)\s+now"
    r"|thanks?(?:\s+you)?(?:\s+(?:so\s+much|very\s+much|a\s+lot))?\s+for\s+(?:sorting|fixing|resolving|solving|handling|"
    r"taking\s+care|dealing\s+with|processing|arranging|getting\s+(?:this|that|it)\s+(?:sorted|fixed|done))"
    r"|(?:no|not\s+a)\s+(?:problem|worries)|agreed?\b|deal\b|will\s+do\b|understood\b|noted\b"
    r")",
    _FLAGS,
)
_WEAK_ACCEPT = re.compile(
    r"\b(?:thanks?|thank\s+you|thx|ty|cheers|appreciated?|grateful|great|good|nice|cool|ok|okay|"
    r"fine|yes|yeah|yep|sure|alright|all\s+right|lovely|super|got\s+it|gotcha|right)\b",
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

_QUESTION_START = re.compile(
    r"^\s*(?:and\s+|also\s*,?\s*|but\s+|so\s+|btw\s*,?\s*|one\s+more\s+thing\s*[,:]?\s*)?"
    r"(?:can|could|would|will|shall|should|do|does|did|is|are|was|were|have|has|how|what|when|where|why|which|who|whom)\b",
    _FLAGS,
)
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
    return "\n".join(lines).strip()


def _split(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.split(text) if s and s.strip()]


def _is_english_enough(text: str) -> bool:
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
    if _NO_PROBLEM.search(sentence) and not _HELP.search(_NO_PROBLEM.sub(" ", sentence)):
        return False
    if _NOT_YET.search(sentence) and not _HELP.search(_NOT_YET.sub(" ", sentence)):
        return False
    if _HELP.search(sentence):
        return True
    return bool(_NEGATED_ACCEPT.search(sentence))


def _only_weak(sentence: str) -> bool:
    """The sentence is nothing but weak acceptance words, fillers and punctuation."""
    rest = _WEAK_ACCEPT.sub(" ", sentence)
    rest = re.sub(
        r"\b(?:so|very|much|a\s+lot|lots|again|for|your|the|help|reply|response|quick|fast|answer|that|this|it|"
        r"all|really|indeed|you|guys|team|everyone|oh|ah|well|then|and|just|kindly|many|million|loads|i|we|"
        r"truly|highly|much|appreciate|appreciated|support|assistance|information|info|time|effort|email|"
        r"getting\s+back(?:\s+to\s+me)?|quickly|prompt|swift|sir|madam|thanks|please|stuff|news|job|work|one|"
        r"mate|folks|people|lot|a|an)\b",
        " ", rest, flags=_FLAGS,
    )
    return not _WORDS.findall(rest)


def classify_reply(text: str) -> ReplyKind:
    """How a customer's reply (new text only) answers a proposed resolution; see the module doc."""
    text = _prepare(text)
    if not text or not _is_english_enough(text):
        return ReplyKind.OTHER
    sentences = _split(text)
    if asks_for_person(text) or any(_needs_help(s) for s in sentences):
        return ReplyKind.NEEDS_HELP
    if any(_is_question(s) for s in sentences):
        return ReplyKind.NEEDS_HELP
    strong = weak = content = False
    for sentence in sentences:
        if _SIGNATURE.match(sentence):
            continue
        if _STRONG_ACCEPT.search(sentence) or _NO_THANKS.match(sentence):
            strong = True
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


__all__ = ["asks_for_person", "classify_reply"]
