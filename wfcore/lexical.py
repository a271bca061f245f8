"""Lexical rubric detector: fast per-category rules, no model.

Two roles: the offline default detector, and a prefilter that sends to a model only the turns
that may carry a signal (``Detection.candidate``).

How a turn is read (the method, in order):

1. Normalise (lower case, straight quotes) and scan only the opening of the message: feedback
   usually opens a turn, so a cue's weight falls with its position (first sentence > the next
   two > later).
2. Per-category phrase rules (one precompiled regex each). Positive cues count only in
   statements, not questions ("is it any good?" is not praise); a negated positive cue ("not
   helpful") is Negative Feedback, a negated negative cue ("not bad") is mild praise.
3. Patterns no keyword list sees: a leading "no" that corrects rather than declines ("no
   thanks" is not DSAT), corrections of the form "it's X, not Y" or stated as a fact with a
   closing "though" ("the population is about 8 million, though"), doubt and challenge ("is
   that really right?", "I doubt that": Factual Error), requests to improve or redo the last
   answer ("explain the same in simple terms", "better formatting": Revision / Style),
   clarification questions about it ("explain the 5th point", "what does <a term of the
   answer> mean?": Insufficient Detail), an error pasted after code, pushback after a refusal,
   and repeats: a turn that repeats the user's previous request near-verbatim is Revision (the
   commonest negative signal, Don-Yehiya et al. 2024).
4. What is not Revision: a repeat only counts when near-verbatim (token Jaccard >=
   ``REPEAT_VERBATIM``) or very similar while adding no new words beyond framing, and not when
   it answers a question the response asked. Templated batch prompts (the same instruction with
   a different item or passage) and drill-downs ("what is X" then "benefits of X") share words
   but ask something new, so a partial repeat is only a prefilter hint. A turn that brings its
   own text after an edit instruction ("translate this paragraph: ...", a passage of at least
   ``OWN_TEXT_WORDS`` words mostly not from the response) is a new request: edit cues
   (Revision, Style, Insufficient Detail, Lower Quality) in its instruction, and every cue inside
   its passage, are ignored. A how-to question names an action ("how do I change the ...?"),
   not a redo, and a negative word in a request for new content ("write a story about a
   terrible storm") describes the content asked for.
5. A turn after an EMPTY response (``response`` is a string with no visible characters; None
   means there was no response) is DSAT: the assistant gave no answer. Revision when the turn
   repeats or rephrases the previous request (the rubric's "repeats the same request"; also
   when there is no previous request to compare), else No Engagement.
6. Politeness is not satisfaction: thanks followed by a new request ("thanks, now do Y") is a
   pivot, kept as Gratitude at half strength; praise followed by "but" and a complaint gives
   way to the complaint.

``sat``/``dsat`` are set when the strongest cue of that signal reaches ``SIGNAL_THRESHOLD``.
``score`` (0..1, :func:`prefilter_score`) ranks turns for the prefilter role: the strongest cue,
raised by a reaction opener ("no", "actually", "that's ...", an exclamation), a bare "yes/ok",
a partial repeat, a reply to a refusal or an early negation/persistence word, and damped when
the turn opens as a plain new request with only weak hints. ``candidate`` is ``score >=
threshold`` (default ``PREFILTER_THRESHOLD``, at most ``SIGNAL_THRESHOLD`` so every turn with a
signal is a candidate). The score levels were chosen on USS SGD + MultiWOZ; the default
threshold and the rules of 3-5 on the LLM-Rubric chats at an even index (their silver turn
labels) with the odd ones, USS ReDial + CCPE and WildChat as checks; benchmarks/
detector_quality.py prints every set and split.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES

SIGNAL_THRESHOLD = 0.5
CANDIDATE_THRESHOLD = 0.25
# default prefilter operating point (``classify(..., threshold=...)`` overrides it); chosen on
# the LLM-Rubric dev split (silver labels) for recall, checked on its odd split and on USS and
# WildChat (benchmarks/detector_quality.py)
PREFILTER_THRESHOLD = 0.25
SCAN_CHARS = 600  # cues are looked for in the opening of the message only
REPEAT_VERBATIM = 0.8  # a repeat this similar is Revision
REPEAT_JACCARD = 0.6  # ... and from this similarity on when it adds no new words
OWN_TEXT_WORDS = 12  # a passage of at least this many words after ':' / a line break / a quote


@dataclass
class Detection:
    sat: bool = False
    dsat: bool = False
    sat_categories: list[str] = field(default_factory=list)
    dsat_categories: list[str] = field(default_factory=list)
    evidence: str = ""
    candidate: bool = False  # may carry a signal (prefilter: send to the model)
    sat_strength: float = 0.0  # strongest SAT cue, 0..1 (a politeness pivot is 0.5)
    dsat_strength: float = 0.0  # strongest DSAT cue, 0..1
    score: float = 0.0  # prefilter score, 0..1: ``candidate`` is ``score >= PREFILTER_THRESHOLD``


@dataclass(frozen=True)
class _Rule:
    category: str
    pattern: re.Pattern[str]
    weight: float
    statements_only: bool = False  # ignore matches inside a question
    polarity: str = ""  # "pos": negation flips to DSAT; "neg": negation cancels it


def _rx(body: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'])(?:" + body + r")(?![\w'])")


_EMOJI_LAUGH = "😂|🤣|😆|😹"
_THANKS_ML = (
    "merci|gracias|danke|grazie|obrigad[oa]|спасибо|благодарю|谢谢|感谢|多谢|ありがとう|감사합니다"
    "|teşekkür(?:ler)?|dziękuję|bedankt|shukran|شكرا|धन्यवाद|cảm ơn|terima kasih"
)
_NEG_ML = "не работает|неправильно|неверно|ошибка|不对|错了|错误|no funciona|incorrecto|falsch|funktioniert nicht|ne fonctionne pas|c'est faux|sbagliato|non funziona|yanlış"

_RULES: tuple[_Rule, ...] = (
    # ---------------- SAT ----------------
    _Rule(
        "Gratitude",
        _rx(
            r"thanks?(?! in advance)|thank (?:you|u)(?! in advance)|thx|thnx|tysm|ty|much appreciated|i appreciate (?:it|this|that|your)|appreciate it|grateful|cheers"
        ),
        1.0,
    ),
    _Rule("Gratitude", re.compile(_THANKS_ML), 1.0),
    _Rule(
        "Learning",
        _rx(
            r"i (?:didn't|did not|never) (?:know|knew|realiz\w*|realis\w*|thought of)|today i learned|til|learn(?:ed|t) (?:a lot|something)|now i (?:understand|get it|see)|that explains|good to know|i see|oh+,? (?:i see|ok(?:ay)?)|makes (?:more )?sense(?: now)?|that clears|clear(?:er)? now|interesting|i understand(?: now)?"
        ),
        0.8,
        True,
        "pos",
    ),
    _Rule(
        "Compliance",
        _rx(
            r"(?:it|that|this)(?: (?:finally|now|all))? (?:works|worked|did the trick|fixed it|solved it)|works (?:perfectly|great|fine|like a charm|now)|it's working|that fixed|problem solved|(?:i'll|i will|gonna|going to) (?:try|use|go with|check (?:it|that|them|this) out|watch|look (?:into|it up|for)|give it a (?:try|shot|go)|queue|add)|i'll have to (?:watch|check|see|look|try)|i tried (?:it|that) and"
        ),
        0.8,
        True,
    ),
    _Rule(
        "Praise",
        _rx(
            r"great|awesome|excellent|amazing|perfect|brilliant|wonderful|fantastic|superb|impressive|outstanding|incredible|nice|neat|cool|lovely|beautiful|good (?:job|work|answer|one|stuff)|well done|nailed it|love (?:it|this|that)|i like (?:it|this|that)|you're (?:the best|amazing|awesome|great|a genius|a lifesaver|so helpful)|genius|lifesaver|helpful|very good|so good|bravo|kudos|wow"
        ),
        0.8,
        True,
        "pos",
    ),
    _Rule("Praise", re.compile(r"^(?:very |so |pretty |really )?good\b"), 0.7, True, "pos"),
    _Rule("Praise", _rx(r"(?:not|isn't|wasn't|ain't) (?:bad|too bad|terrible|awful)"), 0.6, True),
    _Rule(
        "Personal Details",
        _rx(
            r"my (?:wife|husband|son|daughter|kids?|children|mom|mother|dad|father|family|boss|friends?|girlfriend|boyfriend|partner|job|class|teacher|students?)|i'm (?:a|an) (?:\w+ )?(?:student|teacher|developer|engineer|writer|nurse|doctor|parent|designer|manager)|i work (?:as|at|in)|i (?:really )?(?:love|enjoy|like|adore) (?:watching|reading|playing|\w+ (?:movies|films|books|shows|games|music))"
        ),
        0.5,
        True,
    ),
    _Rule(
        "Humor",
        _rx(r"lo+l+|lmao|rofl|ha(?:ha)+h?|he(?:he)+|hilarious|funny|made me laugh|xd"),
        0.7,
        True,
        "pos",
    ),
    _Rule("Humor", re.compile(_EMOJI_LAUGH), 0.7),
    _Rule(
        "Acknowledgment",
        _rx(
            r"exactly|precisely|correct|that's (?:right|it|correct|true|the one|what i (?:wanted|needed|meant|was looking for))|(?:yes|yeah|yep|yup),? (?:that's|this is|exactly|correct|right|perfect|it is|that works)|sounds (?:good|great|perfect|fine|nice|right|about right|like a plan)|(?:that|this|it) (?:suits|is fine|is good|looks good|is perfect|will do|works for me)|looks (?:good|great|perfect|fine)|got it|understood|fair enough|spot on|just what i|that'll (?:do|work)|agreed|(?:ok|okay|alright|sure),? (?:sounds|great|good|perfect|cool|fine)"
        ),
        0.9,
        True,
        "pos",
    ),
    _Rule(
        "Positive Closure",
        _rx(
            r"that's (?:all|it|everything)(?: for (?:now|today))?|that (?:is|was|will be|would be) (?:all|everything)|i'm all set|all set|nothing else|(?:good)?bye|see (?:you|ya)|have a (?:good|great|nice|wonderful|lovely) (?:day|night|one|evening|weekend)|i'm (?:good|done)(?: now| for now)?|that should do|take care"
        ),
        0.8,
        True,
    ),
    _Rule(
        "Getting There",
        _rx(
            r"(?:that's|this is|it's|much|a lot|way|looks|sounds|now it's|getting) (?:\w+ )?better|almost(?: there)?|closer|close enough|getting (?:there|closer)|nearly there|on the right track|good start|more like it|an improvement|(?:good|nice|great|ok|okay|better),? but"
        ),
        0.7,
        True,
    ),
    # ---------------- DSAT ----------------
    _Rule(
        "Negative Feedback",
        _rx(
            r"wrong|bad|terrible|awful|horrible|useless|unhelpful|pointless|garbage|trash|rubbish|nonsense|disappointing|disappointed|frustrat\w*|annoying|stupid|dumb|ugh+|wtf|meh|broken|confus\w*|unclear|makes no sense|no sense"
        ),
        0.8,
        False,
        "neg",
    ),
    _Rule(
        "Negative Feedback",
        _rx(
            r"(?:doesn't|does not|don't|didn't|did not|won't|isn't|is not|not|still not|can't|cannot) (?:\w+ )?(?:work|working|run|running|compile|compiling|help|helpful|make (?:any )?sense|understand|get it)|not what i (?:want|wanted|need|needed|meant|asked)|(?:it|this|that) fails|still (?:doesn't|does not|isn't|wrong|the same|no)|same (?:error|problem|issue|result|thing)|not (?:quite|really)(?: it| right| what)?|no,? that's not"
        ),
        0.8,
    ),
    # an error word alone is often a new question about an error ("what does error 0x30 mean?"):
    # a hint only; reported as happening (after code, or "still/now/I get an error") it is DSAT
    _Rule("Negative Feedback", _rx(r"error|exception|traceback|bug|crash(?:es|ed)?"), 0.35),
    _Rule(
        "Negative Feedback",
        _rx(
            r"(?:i|it|still|now|again|this|that)(?: still| now)? (?:get|gets|got|getting|gives?|giving|gave|throws?|throwing|threw|returns?|returned|shows?|showing|showed|raises?|raised)(?: me)?(?: an?| the| this| that| same| another| new)? (?:error|exception|traceback)|(?:it|this|that|the (?:code|script|command|link|url|query|solution|fix|steps?)) (?:crashe[sd]|crash(?:ing)?|fail(?:s|ed)?|broke)"
        ),
        0.75,
    ),
    # a turn that opens with a pasted error message reports a failure
    _Rule(
        "Negative Feedback",
        re.compile(r"^\W*(?:\w+(?:error|exception)|error|exception|traceback|fatal|uncaught)\b"),
        0.7,
    ),
    # the answer's code / link does not do what it should; a complaint that persists
    _Rule(
        "Negative Feedback",
        _rx(
            r"(?:your|the|this|that) (?:code|script|answer|solution|link|url|function|program|query|command|formula|macro|example|page|site|website) (?:still |also |too )?(?:doesn't|does not|didn't|did not|isn't|is not|won't|will not|can't|cannot|never|only|just)\b|(?:link|url|page|website|site|video)s? (?:is |are |was |were )?(?:dead|broken|down|invalid|unavailable|not found|not working|doesn't work|does not work)|page not found|404|still(?: \w+){0,3} (?:not|never|no|wrong|broken|fails?|failing)\b|still(?: \w+){0,3} \w+n't\b|but (?:this|that|it|they|he|she|there) (?:isn't|is not|wasn't|was not|aren't|are not|weren't|doesn't|does not|didn't|did not|can't|won't)\b"
        ),
        0.75,
    ),
    _Rule("Negative Feedback", re.compile(_NEG_ML), 0.8),
    _Rule(
        "Revision",
        _rx(
            r"try again|redo|do it (?:again|over)|rewrite|re-write|rephrase|regenerate|start over|one more time|again|another (?:one|version|option|way|answer|try|example|suggestion)|something (?:else|different)|different (?:one|answer|approach|version|way|options?)|instead|change (?:it|this|that|the)|make (?:it|this|that) (?:\w+er|\w+ish|more|less|sound|look|different|better|shorter|longer|clearer|simpler|in)|sorry,? i mean(?:t)?\b|i meant\b|what i mean(?:t)? (?:is|was)|(?:make|keep) (?:it|this) (?:more|less)|other (?:options?|suggestions?|ones?|choices?)|any (?:other|more) (?:options?|suggestions?|ideas?)|(?:i|we) (?:said|meant|want(?:ed)? you to)|let's try|i (?:do not|don't) want|(?:please|can you|could you|would you)(?: please)? (?:change|fix|correct|update|modify|revise|adjust|remove|add|replace|use|include|make|try)|fix (?:it|this|that|the)|modify|revise|replace"
        ),
        0.7,
    ),
    _Rule(
        "Revision",
        re.compile(
            r"^\W*(?:no,? |sorry,? |oh,? )?i mean\b(?!,? i (?:like|love|liked|loved|enjoy))"
        ),
        0.75,
    ),
    # requests to improve the last answer
    _Rule(
        "Revision",
        _rx(
            r"improve (?:it|this|that|on (?:it|this|that)|upon (?:it|this|that)|the (?:answer|response|text|above|same|result|explanation)|your (?:answer|response|explanation))|(?:make|get) (?:it|this|that) (?:a (?:bit|little) )?better|(?:do|be) better|(?:can|could|would) you better|(?:a )?better (?:answer|response|version|explanation)|(?<!is )(?<!are )(?<!was )(?<!which )(?:more|less) (?:clearly|clear|precise|precisely|accurate|readable|understandable|structured|organi[sz]ed|confusing)(?! than)|(?<!is )(?<!are )(?<!was )(?<!which )clearer(?! than)|(?:re-?)?explain (?:it|this|that) (?:again|differently|better|another way)|(?:in|using) (?:a |an )?(?:different|other|another|simpler) (?:way|words|manner)|in other words|say (?:it|that|this) (?:again|differently)"
        ),
        0.75,
    ),
    _Rule(
        "Factual Error",
        _rx(
            r"actually|incorrect|inaccurate|(?:not|isn't|aren't|wasn't|weren't) (?:true|correct|accurate|right)|that's not (?:true|correct|right|accurate|how)|mistakes?|(?:you're|you are|you were) (?:wrong|mistaken|incorrect)|are you sure|double[- ]check|fact[- ]check|false|made (?:that|it) up|(?:doesn't|does not) exist|there is no such|hallucinat\w*|typo"
        ),
        0.8,
    ),
    _Rule(
        "Factual Error",
        re.compile(
            r"(?<![\w'])(?:it's|its|that's|he's|she's|they're|is|are|was|were|should be)\s+(?!not\b)[^,.;!?]{1,40}?,?\s+not\s+[^,.;!?]{1,40}|(?<![\w'])not\s+[^,.;!?]{1,30},\s*(?:but|it's|it is)\s"
        ),
        0.8,
    ),
    # doubt and challenge of the answer
    _Rule(
        "Factual Error",
        _rx(
            r"(?:is|was|are|were) (?:that|this|it|that answer|this answer|that info(?:rmation)?)(?: really| actually| even| still| definitely)? (?:right|true|correct|accurate|so|the case)\?|i (?:really |highly |strongly )?doubt (?:that|it|this|whether|if|very much|your)|i(?:'m| am) (?:not (?:so |too |that )?(?:sure|convinced)|skeptical|doubtful|unconvinced) (?:about (?:that|this|it)\b|of (?:that|this)|that's|that is|this is|it's|it is|if that's|your|you're|you are)|i (?:don't|do not|can't|cannot) (?:think|believe) (?:that's|that is|this is|it's|it is|you're|you are) (?:right|true|correct|accurate|how|the case|what|real|a thing)|i (?:don't|do not|can't|cannot) (?:believe|trust) (?:you|that|this|it)\b|(?:that|this|it) (?:can't|cannot|couldn't|can not) be (?:right|true|correct|accurate)|(?:that|this|it) (?:doesn't|does not|didn't|did not) (?:sound|seem|look) (?:right|correct|true|accurate)|(?:that|this|it) sounds? (?:wrong|off|fishy|suspicious)|really\?|seriously\?|are you (?:certain|kidding|joking|positive)|(?:where|how) did you (?:get|find|hear) (?:that|this)|what(?:'s| is) (?:your|the) source|(?:any|a|what) sources? for (?:that|this)|how (?:can|could|is) (?:that|this|it) (?:be )?(?:true|right|possible|correct)|that's not what i (?:read|heard|found|saw|see)|last (?:i|time i) checked|as far as i (?:know|remember|can tell)"
        ),
        0.8,
    ),
    # a correction that states the fact without a negation word
    _Rule(
        "Factual Error",
        _rx(
            r"(?:but|wait|hmm+|oh|huh|actually),? i (?:thought|believed|was told|read|heard)\b|i thought you said|i thought (?:it|that|this) (?:was|is) (?:supposed|meant|called|named)|(?:the )?(?:correct|right|actual|real|true) (?:answer|value|number|figure|date|year|name|one|version|price|amount|command|syntax|way|term|spelling|title|capital|population) (?:is|was|should be|would be)|the (?:answer|result|value|output|total|sum|correct \w+) (?:should|must) (?:be|read|say|return|equal)\b|(?:it's|it is|that's|that is|they're|it was) actually|in fact,? (?:it|that|the|they|there)"
        ),
        0.75,
    ),
    _Rule(
        "Unrealistic Expectation",
        _rx(
            r"you (?:can|could|should|must) (?:do|access|browse|search|see|open|read|check|watch|listen|be able)|i know you can|why (?:can't|won't|don't|cannot|wouldn't) you|you're (?:an|a) ai|just (?:do|answer|tell|give) (?:it|me)|(?:i )?need it (?:right )?now|you have to|come on|stop (?:refusing|saying)|you (?:are|were) able to"
        ),
        0.7,
    ),
    _Rule(
        "No Engagement",
        _rx(
            r"you're not listening|not listening|you (?:keep|kept) (?:repeating|saying|giving)|stop repeating|repeat(?:ed|ing)? (?:yourself|the same|what)|same (?:answer|response|thing) (?:again|as before)|generic|robotic|irrelevant|off[- ]topic|has nothing to do|you're supposed to|(?:didn't|did not|don't|do not) (?:answer|respond to|address) (?:my|the) question|that doesn't answer|not an answer|(?:talk|say) more than|vague|evasive|why (?:did|would|do) you|(?:cut|stop|quit|drop|skip) (?:being |the )?(?:diplomatic|vague|generic|evasive|fluff|filler|small talk|sugar[- ]?coating|the fluff|the filler)|(?:be|being) (?:so |too )?(?:diplomatic|evasive|wishy[- ]washy|noncommittal)|(?:give me|want|need) (?:a )?(?:straight|direct|clear|real|concrete|definite|specific) (?:answer|response|recommendation|opinion)|just (?:pick|choose) one|answer the question"
        ),
        0.7,
    ),
    _Rule(
        "Ignored",
        _rx(
            r"you (?:forgot|missed|skipped|ignored|left out|omitted|didn't (?:include|mention|add|use|answer|finish|complete|follow|consider|do|read))|you did not (?:include|mention|add|use|answer|finish|complete|follow|consider|do|read)|forgot (?:to|about|the)|i (?:asked|said|told you|specified|mentioned)|not what i (?:asked|said|requested)|what about|but where(?:'s| is| are)\b|where(?:'s| is| are) (?:the )?(?:rest|remaining|other|second|third|last|next|part|code|answer|example|link|source|list|output|table|steps?)\b|(?:is|are) missing|missing|left out|incomplete|unfinished|you stopped|didn't finish|as i (?:said|asked|mentioned)"
        ),
        0.8,
    ),
    _Rule(
        "Lower Quality",
        _rx(
            r"worse|(?:previous|earlier|last|first|original|old|other) (?:one|version|answer|response|code) (?:was )?better|(?:was|were) better (?:before|than)|not as good|less (?:good|helpful)|you used to|step back|(?:lower|poor(?:er)?) quality"
        ),
        0.8,
    ),
    _Rule(
        "Insufficient Detail",
        _rx(
            r"more (?:details?|detailed|depth|info(?:rmation)?|examples?|specific|thorough|in[- ]depth|comprehensive)|in (?:more |greater )?detail|elaborate|expand(?: on)?|explain (?:more|further|in detail|better|again|why|how)|go (?:deeper|into detail)|tell me more|too (?:short|brief|vague|simple|general|basic|shallow)|longer|lengthier|not (?:enough|detailed|specific)(?: enough)?|more specific|step[- ]by[- ]step|what do you mean|what does (?:that|this|it) mean|(?:can|could) you clarify|clarify|(?:any|some) more|more (?:options|suggestions)|at least \d+ words"
        ),
        0.7,
    ),
    # clarification questions about the answer itself
    _Rule(
        "Insufficient Detail",
        _rx(
            r"explain (?:me |us )?(?:the |your |that |this )?(?:\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|last|next|previous|above|final|\w+ed)? ?(?:point|step|part|bullet|item|option|line|section|paragraph|sentence|statement|example|code|answer)s?(?! (?:of|for|about|to|in|on) (?!(?:the|your) (?:above|answer|response|list)))|(?:point|step|item|option|bullet|number|no\.?|#) ?\d{1,2} (?:means?|is unclear|is not clear|isn't clear)|what (?:is|are|was) meant by|what does (?:that|this|it|that part|this part|the last part|the (?:\w+ )?(?:point|step|part|sentence|term|word|line)) mean|what (?:are|were) you (?:referring|talking) (?:to|about)|which (?:one|step|part|point|option) (?:do|did) you mean|what (?:exactly )?do you mean|meaning of (?:this|that|the (?:above|last|first|second|\w+ (?:point|step|part)))|(?:could|can|would) you explain (?:that|this|it|what you)\b"
        ),
        0.75,
    ),
    _Rule(
        "Style",
        _rx(
            r"too (?:long|wordy|verbose|formal|informal|casual|complicated|complex|technical|repetitive|robotic|stiff|cheesy|flowery|much|many|generic|academic|childish)|shorter|shorten|concise|condense|briefer|summari[sz]e|tl;?dr|less (?:formal|wordy|verbose|technical|words|text)|more (?:casual|formal|professional|natural|human|friendly|simple|simply|conversational|polite|engaging|creative|funny)|simpler|simplify|plain(?:er)? (?:english|language|words)|in (?:bullet points|a list|a table|table form|paragraphs?|one (?:sentence|paragraph|line))|bullet points?|the (?:tone|format|formatting|style|wording|phrasing)|(?:don't|do not|stop|without) (?:use|using) |no (?:emojis?|bullets?|lists?|hashtags|markdown)|(?:in|under|less than|within|max(?:imum)?) \d+ (?:words|characters|sentences)|like a human|sounds? (?:robotic|like (?:an )?ai)|(?:in|into|using|with) (?:more |very )?(?:simple|simpler|plain|plainer|layman'?s?|laymen'?s?|lay|non[- ]?technical|nontechnical|everyday|easy|easier|basic|simple english|common) (?:terms?|words|language|english|way|manner)|(?:layman'?s?|laymen'?s?|non[- ]?technical|plain|simple) terms|(?:for|like (?:i'm|i am)|to) (?:a )?(?:beginner|layman|laymen|five[- ]year[- ]old|5[- ]year[- ]old|child|kid|non[- ]?technical (?:person|user|audience))|eli5|better (?:format(?:ting)?|structure|layout|presentation|readability|formatted|structured)|(?:format|structure|organi[sz]e|present|lay out) (?:it|this|that|the (?:answer|response|above|same|result|list)) (?:better|properly|nicely|clearly|differently|in|as)|(?:improve|fix|change) the (?:format(?:ting)?|structure|layout|presentation)|point[- ](?:to|by)[- ]point|point[- ]?wise|(?:in|as) (?:a )?(?:tabular (?:form|format)|table format|points|numbered list|list form|steps)|tabular|concise (?:manner|way|form|version)|(?:a )?(?:little|bit|lot|more) (?:brief|briefer|crisp|crisper|shorter)|(?<!up )to the point(?! where| that| of| at| in)"
        ),
        0.8,
    ),
)

_GATE_CHARS = 4


def _prefixes(items: list, n: int) -> set[str] | None:
    """Every string of up to ``n`` characters a parsed regex can start with (None: unknown).

    Used to skip a rule whose pattern cannot start at any word of the text, which keeps the
    detector at tens of thousands of turns per second with dozens of alternation-heavy rules.
    """
    from re import _constants as c

    out: set[str] = set()

    def walk(seq: list, i: int, acc: str) -> bool:
        while len(acc) < n and i < len(seq):
            op, av = seq[i]
            if op is c.LITERAL:
                if av > 127:
                    return False
                acc += chr(av)
            elif op in (c.ASSERT, c.ASSERT_NOT, c.AT):
                pass
            elif op is c.SUBPATTERN:
                return walk(list(av[-1]) + seq[i + 1 :], 0, acc)
            elif op is c.BRANCH:
                return all(walk(list(b) + seq[i + 1 :], 0, acc) for b in av[1])
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[1] == 1:
                rest = seq[i + 1 :]
                return (
                    walk(rest, 0, acc) and walk(list(av[2]) + rest, 0, acc)
                    if av[0] == 0
                    else walk(list(av[2]) + rest, 0, acc)
                )
            elif op is c.IN and all(o is c.LITERAL and a < 128 for o, a in av) and len(av) <= 4:
                return all(walk([(c.LITERAL, a)] + seq[i + 1 :], 0, acc) for _, a in av)
            else:
                break
            i += 1
        if not acc:
            return False
        out.add(acc)
        return True

    return out if walk(items, 0, "") else None


def _rule_gate(pattern: re.Pattern[str]) -> dict[int, frozenset[str]] | None:
    try:
        from re import _parser

        found = _prefixes(list(_parser.parse(pattern.pattern)), _GATE_CHARS)
    except Exception:  # private parser changed: run the rule on every turn
        return None
    if found is None:
        return None
    by_len: dict[int, set[str]] = {}
    for p in found:
        by_len.setdefault(len(p), set()).add(p)
    return {k: frozenset(v) for k, v in by_len.items()}


_GATES = tuple(_rule_gate(r.pattern) for r in _RULES)
_UNGATED = tuple(i for i, g in enumerate(_GATES) if g is None)
_GRAM_RULES: dict[str, tuple[int, ...]] = {}
for _i, _gate in enumerate(_GATES):
    for _grams in (_gate or {}).values():
        for _g in _grams:
            _GRAM_RULES[_g] = (*_GRAM_RULES.get(_g, ()), _i)
_WORD = re.compile(r"[\w']+")
_ERROR_WORDS = re.compile(
    r"(?:error|exception)\b|\b(?:traceback|warning|undefined|not defined|failed|fails|segmentation fault)\b"
)

# a cue right after one of these is negated (window: the 3 words before the cue)
_NEGATORS = frozenset({"not", "never", "no", "hardly", "nothing", "nor", "barely"})
_LEADING_NO = re.compile(r"^\W*(?:no+|nope|nah|нет|nein|non|不是|不对|いいえ)\b[\s,.!]*")
_DECLINE_AFTER_NO = re.compile(
    r"^(?:thanks?|thank you|thx|i'm (?:good|fine|all set|ok)|i am (?:good|fine|all set)|that's (?:all|it|ok|fine)|that is all|need|not (?:now|at the moment|today|yet|really)|i don't|i do not|i haven't|i have not|i didn't|i did not|i'm not|i am not|i was not|it's (?:ok|fine)|worries|problem)"
)
_CORRECTION_AFTER_NO = re.compile(
    r"\b(?:instead|i (?:said|meant|want|wanted|need|asked)|actually|rather|not|it's|it is|that's|should)\b"
)
_PIVOT_REQUEST = re.compile(
    r"\?|\b(?:can|could|would|will) you\b|\b(?:please|now|also|next|another|help me|i (?:also )?(?:need|want|would like)|i'd like|let's|tell me|give me|write|show me|make|create|what|how|where|when|which|who|find|book)\b"
)
_CONTRAST = re.compile(r"\b(?:but|however|although|though|except)\b")
_RESPONSE_CODE = re.compile(
    r"```|\bdef \w+\(|\bfunction\b|\bimport \w|#include|\bpublic (?:static|class)\b|[;{]\s*\n"
)
_RESPONSE_REFUSAL = re.compile(
    r"\b(?:i'm sorry|i am sorry|i apologi[sz]e|sorry|unfortunately|as an ai|i cannot|i can't|i am unable|i'm unable|i don't have (?:access|the ability)|not able to|there (?:are|is) no|no (?:results|matches)|couldn't find|could not find)\b"
)
_PUSHBACK = re.compile(r"\b(?:you can|just|i know|you should|why|try|come on|please)\b")
_YOU_NEG = re.compile(
    r"\byou(?:r|'re|'ve)?\b.{0,30}(?:n't|\bnot\b|\bnever\b)|(?:n't|\bnot\b).{0,30}\byou\b"
)
# cheap "may be feedback" cues for the prefilter: negation, persistence, clarification, additions
_PREFILTER_CUE = re.compile(
    r"(?<![\w'])(?:not|no|never|nothing|none|cannot|can't|cant|don't|dont|doesn't|doesnt|didn't|didnt|isn't|isnt|"
    r"won't|wont|aren't|still|i mean|why|as well|also|instead|hm+|hmm+|but)(?![\w'])|\bне\b|исправ|все равно|仍然|还是|不"
)
# how a turn opens: a reaction to the response, or a plain new request / question
_OPEN_AFFIRM = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|ya|sure|ok|okay|alright|all right|fine|right|correct|confirmed?|of course|absolutely|definitely|exactly)\b"
)
_OPEN_REACTION = re.compile(
    r"^\W*(?:no+|nope|nah|not|never|negative|sorry|actually|but|hm+|um+|uh+|well|wait|hold on|oops|oh+|ah+|wow|ugh|meh|really|seriously|why)\b"
    r"|^\W*(?:that|this|it|those|these)(?:'s| is| was| sounds| seems| looks| works| would| will| does| doesn't| isn't| wasn't|'ll| should)\b"
    r"|^\W*(?:sounds|seems|looks)\b"
)
_OPEN_REQUEST = re.compile(
    r"^\W*(?:what|what's|how|when|where|which|who|does|do|did|is|are|was|were|can|could|would|will|may|might|should|shall|i|i'd|i'm|i'll|i've|my|we|we're|we'd|let's|please|find|book|get|show|tell|give|search|look|hi|hello|hey|also|and|the|a|an|any)\b"
)
# a request that opens with one of these cues is itself feedback on the response (a refinement)
_REFINEMENT = frozenset(
    {
        "Negative Feedback",
        "Factual Error",
        "No Engagement",
        "Lower Quality",
        "Insufficient Detail",
        "Style",
    }
)
_SEGMENT = re.compile(r"[^.!?\n;]+[.!?;]*|[.!?\n;]+")
_TOKEN = re.compile(r"\w+")
_STOP = frozenset(
    "a an the and or but if then so to of in on at for from by with about as is are was were be been being "
    "it its this that these those i me my we our you your he she they them his her their what which who whom "
    "do does did can could would should will shall may might must have has had not no yes please just also "
    "there here some any all more most very too than".split()
)
_NORMALISE = str.maketrans({"’": "'", "‘": "'", "`": "'", "“": '"', "”": '"', "\u00a0": " "})
_SAT_POLITENESS = frozenset({"Gratitude", "Acknowledgment", "Praise"})


def _content_tokens(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if t not in _STOP}


def repeat_similarity(message: str, previous: str) -> tuple[float, float]:
    """Token Jaccard and containment (overlap / smaller set) of two user requests' content words."""
    a, b = _content_tokens(message[:2000]), _content_tokens(previous[:2000])
    if not a or not b:
        return 0.0, 0.0
    inter = len(a & b)
    return inter / len(a | b), inter / min(len(a), len(b))


def _negated(before: str) -> bool:
    """Whether one of the (up to) three words before a cue negates it."""
    return any(w in _NEGATORS or w.endswith("n't") for w in before.split()[-3:])


# the categories an edit instruction names ("rewrite", "shorter", "in detail"): when the turn
# brings its own text, they apply to that text, not to the previous response
_EDIT_CATEGORIES = frozenset({"Revision", "Style", "Insufficient Detail", "Lower Quality"})
_PASSAGE_START = re.compile(r":|\n|```")
# the part before the passage names a task on a text ("translate this paragraph:", "fix the
# grammar in the following:")
_EDIT_INSTRUCTION = re.compile(
    r"\b(?:translate|rewrite|re-write|rephrase|paraphrase|summari[sz]e|proofread|correct|edit|improve"
    r"|polish|shorten|expand|simplify|convert|reword|check|fix|format|turn|write|continue|explain"
    r"|analy[sz]e|review|respond|reply|answer|make|grade|score|classify|extract|describe|generate)\b"
    r"|\b(?:this|the following|below|these|next)\b"
)
# words that frame a request ("tell me about X", "how to X") rather than change what it asks
_FRAMING = frozenset(
    "how what why when where which whats tell give show list explain want need ask know something "
    "anything me please can could let like am im would about information info details".split()
)
# a request to redo the previous answer, named by an anaphor ("explain the same ...")
_ANAPHOR_REQUEST = re.compile(
    r"\b(?:explain|give|convey|tell|say|write|put|present|provide|show|summari[sz]e|describe|rephrase"
    r"|repeat|format|list|translate|reword|redo|convert|simplify|shorten)(?: me| us| it)?(?: again)?"
    r" (?:the same|the above|all (?:of )?(?:this|that|the above)|above(?: \w+)?"
    r"|your (?:answer|response|reply|explanation|previous|last|above)"
    r"|the (?:previous|last|above) (?:answer|response|reply|one|explanation|points?|list))\b"
    r"(?! (?:for|about|with|on|regarding|but for|of)\b)"
)
# a turn that opens by asking for new content: a negative word after the opener describes the
# content asked for ("write a poem about a bad day"), not the previous response
_CREATIVE_TASK = re.compile(
    r"^\W*(?:(?:now|ok(?:ay)?|next|please|can you|could you|would you|pls)[\s,]+){0,2}"
    r"(?:write|compose|create|generate|draft|imagine|design|invent|come up with|list|name|suggest"
    r"|describe|give me (?:a|an|some|\d+)|make (?:a|an|up)|tell me (?:a|an|some)|brainstorm)\b"
)
# ... unless the words just before it point back at the response ("write it again, it's wrong")
_POINTS_BACK = re.compile(r"\b(?:it|it's|this|that|that's|you|your|answer|response|code|again)\b")
# a how-to question names an action ("how to change the ..."), not a redo of the answer
_HOW_TO = re.compile(
    r"\bhow (?:to|do i|can i|could i|would i|should i|do you|do we|can we|does one|can one)\s+$"
)
_ANAPHOR_HINT = re.compile(r"same|above|your |previous|last ")
# "what does X mean": a clarification of the answer when X comes from the response
_WHAT_MEANS = re.compile(
    r"\bwhat (?:does|do|is|are) (?:the |a |an )?(?:term |word |phrase )?['\"]?([\w' .-]{2,40}?)['\"]? (?:mean|means|stand for|stands for|refer to)\b"
)
# a sentence that ends on "though" states a contrast: "the population is about 8 million, though"
_THOUGH_END = re.compile(r"^\W*\S+\s+\S+\s.*\bthough\W*$")
# a figure or a name (a capitalised word other than "I" after the first word): what a stated
# correction is about
_FACT_TOKEN = re.compile(r"\d|(?<=\s)(?!I\b|I'[a-z])[A-Z][\w-]+")
# the response asks the user something specific (not a generic "anything else?")
_RESPONSE_GENERIC_Q = re.compile(
    r"\b(?:anything else|any other|any (?:more|further)|further (?:questions?|assistance|help)|more questions|"
    r"help (?:you )?with|assist (?:you )?with|would you like (?:to know )?more|like to know more|let me know)\b"
)


def _own_passage(text: str, response: str | None) -> int | None:
    """Where the text a request brings of its own starts (None: it brings none).

    A passage is what follows the first ``:``, line break or opening quote in the first 200
    characters, at least ``OWN_TEXT_WORDS`` words long, and mostly (>= 60% of its content words)
    not taken from the previous response: "translate this paragraph: ..." with a new paragraph
    is a new request, "rewrite this part: <a quote of the answer>" is not. The part before
    the passage must name a task on a text (``_EDIT_INSTRUCTION``), so a complaint followed by
    a pasted error or link ("it says: ...") is not an own passage.
    """
    m = _PASSAGE_START.search(text, 0, 200)
    if not m or not _EDIT_INSTRUCTION.search(text, 0, m.start()):
        return None
    passage = text[m.end() :]
    if len(passage.split()) < OWN_TEXT_WORDS:
        return None
    own = _content_tokens(passage)
    if not own:
        return None
    from_response = _content_tokens((response or "")[:20_000])
    if len(own & from_response) / len(own) > 0.4:
        return None
    return m.end()


def _asks_user(response_tail: str) -> bool:
    """Whether the response ends by asking the user something specific (a clarifying question)."""
    tail = response_tail.rstrip()
    if not tail.endswith("?"):
        return False
    last = re.split(r"(?<=[.!?])\s+", tail)[-1]
    return not _RESPONSE_GENERIC_Q.search(last)


def _position_factor(seg: int, start: int, sat: bool) -> float:
    if seg == 0 or start < 40:
        return 1.0
    if seg <= 2:
        return 0.8 if sat else 0.85
    return 0.5 if sat else 0.7


def prefilter_score(
    text: str,
    sat_strength: float,
    dsat_strength: float,
    dsat_categories: list[str],
    refused: bool,
    repeat_jac: float,
    response: str | None,
) -> float:
    """How likely a turn carries feedback, 0..1 (the prefilter ranks turns by it).

    Starts from the strongest rubric cue, raised by how the turn opens: a reaction ("no",
    "actually", "that's ...", "oh", an exclamation, "you" near a negation) is likely feedback;
    a bare "yes"/"ok" less so; a repeat of the previous request, a reply to a refusal or a
    negation/persistence word anywhere early are weaker hints. A turn that opens as a plain new
    request or question ("what is ...", "can you book ...", "I need ...") with no reaction is
    damped unless its cue is itself a refinement of the response ("can you make it shorter").
    Levels chosen on USS SGD + MultiWOZ (see benchmarks/detector_quality.py).
    """
    score = max(sat_strength, dsat_strength)
    head = text[:200]
    reaction = (
        bool(_OPEN_REACTION.match(text))
        or "!" in head
        or ("you" in head and bool(_YOU_NEG.search(head)))
    )
    if reaction:
        score = max(score, 0.6)
    if _OPEN_AFFIRM.match(text):
        score = max(score, 0.35 if "?" in head else 0.45)
    if repeat_jac >= 0.2:
        score = max(score, 0.3 + 0.4 * min(repeat_jac, 0.5))
    if refused:
        score = max(score, 0.35)
    if _PREFILTER_CUE.search(text, 0, 160):
        score = max(score, 0.4)
    if (
        not reaction
        and max(sat_strength, dsat_strength) < SIGNAL_THRESHOLD
        and _OPEN_REQUEST.match(text)
    ):
        score *= 0.6  # a plain new request or question whose only hints are weak ones
    return min(score, 1.0)


def classify(
    user_message: str,
    previous_user_message: str | None = None,
    response: str | None = None,
    threshold: float | None = None,
) -> Detection:
    """Label one user turn's reaction to the previous assistant ``response``.

    ``threshold`` is the prefilter operating point (default ``PREFILTER_THRESHOLD``): a turn is
    a ``candidate`` when its ``score`` reaches it.
    """
    raw = (user_message or "").translate(_NORMALISE)
    text = raw[:SCAN_CHARS].lower()
    if len(text) != len(raw[:SCAN_CHARS]):  # lower() changed lengths: quote from the lowered text
        raw = text
    resp_tail = (response or "")[-300:].translate(_NORMALISE).lower()

    seg_ends: list[int] = []
    seg_starts: list[int] = []
    seg_question: list[bool] = []
    for m in _SEGMENT.finditer(text):
        seg_starts.append(m.start())
        seg_ends.append(m.end())
        seg_question.append(m.group().rstrip().endswith("?"))

    scores: dict[str, float] = {}
    where: dict[str, tuple[int, int, int]] = {}  # category -> (segment, match start, match end)

    def hit(category: str, weight: float, seg: int, start: int, end: int = 0) -> None:
        if weight > scores.get(category, 0.0):
            scores[category] = weight
            where[category] = (seg, start, end)

    own_from = _own_passage(text, response)
    task = _CREATIVE_TASK.match(text)
    task_end = task.end() if task else 0

    # try each rule only where one of its possible openings starts a word of the text
    at: dict[int, set[int]] = {}
    n_words = 0
    for w in _WORD.finditer(text):
        n_words += 1
        pos = w.start()
        gram = text[pos : pos + _GATE_CHARS]
        for k in range(1, len(gram) + 1):
            for ri in _GRAM_RULES.get(gram[:k], ()):
                at.setdefault(ri, set()).add(pos)
    for ri in (*_UNGATED, *at):
        rule = _RULES[ri]
        is_sat = rule.category in SAT_CATEGORIES
        found = (
            rule.pattern.finditer(text)
            if ri not in at
            else (rule.pattern.match(text, p) for p in sorted(at[ri]))
        )
        for m in found:
            if m is None:
                continue
            if own_from is not None and (
                m.start() >= own_from or rule.category in _EDIT_CATEGORIES
            ):
                continue  # inside the turn's own text, or an edit instruction for it
            if rule.category == "Revision" and _HOW_TO.search(
                text, max(0, m.start() - 20), m.start()
            ):
                continue  # "how do I change the vault?": a how-to question, not a redo
            seg = min(bisect_right(seg_ends, m.start()), len(seg_ends) - 1)
            if rule.statements_only and seg_question[seg]:
                continue
            negated = bool(rule.polarity) and _negated(
                text[max(seg_starts[seg], m.start() - 24) : m.start()]
            )
            if negated and rule.polarity == "neg":
                continue
            if (
                rule.polarity == "neg"
                and task_end
                and m.start() >= task_end
                and not _POINTS_BACK.search(text, max(0, m.start() - 24), m.start())
            ):
                continue  # "write a story about a terrible storm": the content asked for
            factor = _position_factor(seg, m.start(), is_sat)
            if negated:  # "not helpful", "not correct", "doesn't make sense"
                hit("Negative Feedback", 0.8 * factor, seg, m.start(), m.end())
                break
            hit(rule.category, rule.weight * factor, seg, m.start(), m.end())
            break

    # a leading "no": declining an offer vs rejecting the answer
    lead = _LEADING_NO.match(text)
    if lead:
        rest = text[lead.end() :]
        if not rest.strip(" .!"):
            hit("Negative Feedback", 0.3, 0, 0)  # a bare "no": only a candidate
        elif _DECLINE_AFTER_NO.match(rest):
            pass  # "no thanks", "no, that's all": declining an offer
        elif _CORRECTION_AFTER_NO.search(rest[:120]):
            hit("Revision", 0.7, 0, 0)
        elif resp_tail.rstrip().endswith("?"):
            hit("Revision", 0.3, 0, 0)  # an answer to the assistant's question: only a candidate
        else:
            hit("Negative Feedback", 0.7, 0, 0)

    # an error pasted back after code; pushback after a refusal
    if response and scores.get("Negative Feedback", 0.0) < 0.7 and _ERROR_WORDS.search(text):
        if _RESPONSE_CODE.search(response[-4000:]):
            hit("Negative Feedback", 0.7, 0, 0)
    refused = bool(resp_tail) and bool(_RESPONSE_REFUSAL.search(resp_tail))
    if refused and _PUSHBACK.search(text, 0, 200):
        hit("Unrealistic Expectation", 0.5, 0, 0)

    if own_from is None:
        # "explain the same in ...", "summarize the above": a redo of the previous answer
        m = _ANAPHOR_REQUEST.search(text) if _ANAPHOR_HINT.search(text) else None
        if m:
            seg = min(bisect_right(seg_ends, m.start()), len(seg_ends) - 1)
            hit("Revision", 0.7 * _position_factor(seg, m.start(), False), seg, m.start(), m.end())
        # "what does <a term of the answer> mean?": a clarification question about it
        m = _WHAT_MEANS.search(text) if response and "what " in text else None
        if m and response:
            term = _content_tokens(m.group(1))
            if term and term <= _content_tokens(response[:20_000]):
                seg = min(bisect_right(seg_ends, m.start()), len(seg_ends) - 1)
                hit("Insufficient Detail", 0.7, seg, m.start(), m.end())
    # a correction stated as a fact with a closing "though"
    for i in range(min(3, len(seg_starts)) if "though" in text else 0):
        a, b = seg_starts[i], seg_ends[i]
        if (
            not seg_question[i]
            and _THOUGH_END.search(text[a:b].rstrip(" .!"))
            and _FACT_TOKEN.search(raw, a, b)
        ):
            hit("Factual Error", 0.7, i, a, b)
            break

    # repeat / rephrase of the previous request: Revision only when near-verbatim (Jaccard >=
    # REPEAT_VERBATIM), or very similar and adding no new words beyond framing ("tell me",
    # "how"), and not an answer to a question the response asked; templated batch prompts (the
    # same instruction, a different item) and drill-downs share words but ask something new
    repeat_jac = 0.0
    asks = _asks_user(resp_tail)
    if previous_user_message:
        jac, _ = repeat_similarity(raw, previous_user_message)
        novel = (
            _content_tokens(raw[:2000]) - _content_tokens(previous_user_message[:2000]) - _FRAMING
        )
        if not asks and (jac >= REPEAT_VERBATIM or (jac >= REPEAT_JACCARD and not novel)):
            hit("Revision", 0.8, 0, 0)
        elif jac >= 0.25:
            hit("Revision", 0.3, 0, 0)  # a partial repeat: only a candidate
        repeat_jac = jac

    # the response the turn reacts to is empty: the assistant gave no answer, so the turn
    # (usually the request again) is DSAT: Revision when it repeats or rephrases the previous
    # request ("repeats the same request"), else No Engagement (nothing engaged with it)
    if response is not None and not response.strip():
        rephrase = repeat_jac >= 0.25 or previous_user_message is None
        hit("Revision" if rephrase else "No Engagement", 0.9, 0, 0)

    sat_scores = {c: s for c, s in scores.items() if c in SAT_CATEGORIES}
    dsat_scores = {c: s for c, s in scores.items() if c in DSAT_CATEGORIES}
    dsat_strength = max(dsat_scores.values(), default=0.0)

    if sat_scores:
        contrast = _CONTRAST.search(text, min(w[1] for c, w in where.items() if c in sat_scores))
        closing = "Positive Closure" in sat_scores
        for c in list(sat_scores):
            if c == "Getting There":
                continue
            after = text[where[c][2] :]
            if contrast and dsat_strength >= SIGNAL_THRESHOLD and where[c][1] < contrast.start():
                sat_scores[c] *= 0.3  # "thanks, but that's wrong"
            elif (
                c in _SAT_POLITENESS
                and not closing
                and len(_TOKEN.findall(after)) >= 4
                and _PIVOT_REQUEST.search(after)
            ):
                sat_scores[c] *= 0.5  # "thanks, now do Y": a pivot
    sat_strength = max(sat_scores.values(), default=0.0)

    def ranked(d: dict[str, float]) -> list[str]:
        return [
            c for c, s in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])) if s >= SIGNAL_THRESHOLD
        ]

    det = Detection(sat_strength=round(sat_strength, 3), dsat_strength=round(dsat_strength, 3))
    det.sat_categories = ranked(sat_scores) if sat_strength >= SIGNAL_THRESHOLD else []
    det.dsat_categories = ranked(dsat_scores) if dsat_strength >= SIGNAL_THRESHOLD else []
    det.sat, det.dsat = bool(det.sat_categories), bool(det.dsat_categories)

    top = max(scores.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    if top and top[1] >= CANDIDATE_THRESHOLD and seg_starts:
        seg = where[top[0]][0]
        det.evidence = raw[seg_starts[seg] : seg_ends[seg]].strip()[:200]

    det.score = round(
        prefilter_score(
            text, sat_strength, dsat_strength, det.dsat_categories, refused, repeat_jac, response
        ),
        3,
    )
    det.candidate = det.score >= (PREFILTER_THRESHOLD if threshold is None else threshold)
    return det
