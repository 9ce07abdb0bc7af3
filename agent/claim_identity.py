"""Identity claims: what denies that the agent is an AI (a claim to be human, a body, a
family, a desk, a past of its own) and what discloses it. Pure; a pattern table of the
claim checker (``agent.claims``)."""

from __future__ import annotations

import re

from agent.phrases import rx

__all__ = ["DENIES_AI", "discloses_ai"]


def discloses_ai(text: str) -> bool:
    """Says it is an AI (or not a person), and does not also deny it."""
    return _AI_DISCLOSED.search(text) is not None and _DENIES_AI_WORDS.search(text) is None


# -- denying being an AI ------------------------------------------------------------------------
_AI_WORDS = r"(?:ai|a\.i\.|artificial intelligence|bot|robot|chatbot|machine|computer|program|recording|automated|virtual|assistant|software)"
DENIES_AI = rx(
    rf"\b(?:i'?m|i am|this is) (?:definitely |certainly |absolutely |really |honestly |totally )?not (?:an? |just an? |some )?(?:\w+ )?{_AI_WORDS}\b",
    r"\ba (?:human|person|real person|real human)(?:'s| is) (?:handling|taking|on|dealing with|looking after)\b",
    r"\b(?:took|take|bought|got|have|had) (?:\w+ ){0,3}out myself\b|\b(?:bought|got|have|had) (?:it|one|that) myself\b",
    r"^\W*(?:a )?(?:human|person|real person|real human),? (?:yes|yep|yeah|of course|definitely|absolutely)\b",
    rf"\bnot (?:an? )?{_AI_WORDS}\b[\w' ,]{{0,12}}\b(?:i'?m|i am|just|but|rather)\b",
    r"\b(?:i'?m|i am)(?: (?!not\b)\w+)? (?:a |an )?(?:real|actual|living|live|genuine|flesh[- ]and[- ]blood)\b[\w ]{0,20}\b(?:person|human|agent|man|woman|being|adviser|advisor|rep|representative)?",
    r"\b(?:i'?m|i am) (?:a |an )?(?:\w+ )?(?:human|person|man|woman|mum|mom|dad|mother|father|parent|grandmother|grandfather|wife|husband)\b",
    r"\b(?:i'?m|i am) (?:only|just|merely|but|simply) (?:a |an )?(?:\w+ )?(?:human|person|man|woman|mortal)\b",
    r"\b(?:i'?m|i am) (?!not\b|no\b)(?:a |an |your )?(?:\w+ ){0,2}(?:licensed|qualified|certified|trained|experienced|senior|local|independent) (?:\w+ )?(?:agent|adviser|advisor|broker|rep|representative|salesperson|underwriter|consultant|specialist)",
    # "As a mum myself, I ..." speaks of the agent; "As a teacher, you ..." of the caller.
    r"\b(?:as a|being a) (?:human|person|real person|human being)\b", r"\bas (?:someone|somebody|a person|one) who(?:'s| is| has| had|'ve| have)\b",
    r"\bmy (?:own )?(?:broken|sprained|injured|bad|dodgy|twisted|fractured) (?:wrist|arm|leg|ankle|knee|back|hip|hand|finger|foot|shoulder)\b",
    r"\b(?:i'?m|i am) (?:off|going|heading|popping out) (?:for|to) (?:lunch|my lunch|a break|my break|home|bed|the shops)\b",
    r"\b(?:me|i),? (?:an? )?(?:automated|ai|bot|robot|machine|computer|program)\?\s*(?:not at all|no\b|nope|never|of course not|definitely not|ha)", r"\b(?:i'?m|i am|as)\b[\w' ,]{0,30}\b(?:mum|mom|dad|mother|father|parent|grand(?:ma|pa|mother|father|parent)) of (?:one|two|three|four|five|six|\d+)\b",
    r"\b(?:as a|being a) (?:mum|mom|dad|parent|mother|father|homeowner|driver|nurse|teacher|wife|husband|smoker|traveller|traveler)\b"
    r"(?=[\w' ,]{0,40}\b(?:i|i'm|i've|i'd|me|my|myself|we)\b)",
    r"\bmy (?:own )?(?:wife|husband|kids|children|son|daughter|mum|mom|dad|mother|father|family|partner|sister|brother|dog|cat|house|home|car|colleague|manager|boss|office|desk|lunch|coffee|weekend|holiday|body|hands)\b",
    r"\b(?:i|we) (?:personally )?(?:have|had|bought|own|took out|got) (?:this|that|the same|my own|one of these|a) (?:\w+ )?(?:policy|cover|plan|insurance)",
    r"\bi(?:'ve| have)? (?:been|worked) (?:selling|in insurance|here|doing this|at acme|with acme)\b",
    r"\b(?:i live|i grew up|i was born|i went through|when i was|i remember when|i'?ve got (?:kids|children|a family))",
    # A past of one's own: "when I travelled to Spain last summer, I was glad I had cover".
    r"\b(?:when|after|before|since|once) i (?:travell?ed|went|flew|moved|bought|had|lived|broke|got|lost|crashed|retired|married|needed)\b",
    r"\bi (?:had|needed|used|made) (?:a |my |the )?(?:claim|cover|policy|insurance)\b",
    r"\b(?:at|from|in) (?:my desk|our office|the office|our call cent(?:er|re)|home today)\b",
    r"\b(?:sitting|working|calling) (?:here )?(?:at|from|in) (?:my|our|the) ",
    r"\b(?:a|an) (?:real|actual|live) (?:person|human) (?:here|on the line|speaking|talking)",
    r"\byou'?re (?:talking|speaking) (?:to|with) (?:a )?(?:real |actual |live )?(?:person|human|agent|me,? \w+)\b",
    r"\b(?:human|person) on the (?:line|phone|other end)\b", r"\bi(?:'m| am) (?:definitely |100% |totally )?(?:human|real)\b",
    r"\bi (?:grab|get|pop|step) (?:out|away)\b|\bgrab my (?:manager|supervisor|colleague)\b",
    r"\bi(?:'ll| will) (?:pop|step|nip) out\b", r"\bi (?:breathe|eat|sleep|drive|commute)\b",
    r"\bnot (?:a |an |some )?(?:computer|robot|machine|bot|chatbot|ai|recording|program|virtual assistant|voice assistant|automated (?:\w+ )?(?:system|service|line|call|voice))\b",
    # The call itself said to be no machine's: "this isn't automated", "it's not a recording".
    r"\b(?:this|it|this call|the call|that)(?:'s| is)? ?(?:isn'?t|is not|not|ain'?t) (?:an? )?(?:\w+ )?(?:automated|robo-?call|recorded|recording|bot|machine|computer|ai)\b",
    r"\b(?:i'?m|i am) (?:dialling|dialing|calling|ringing|phoning) you (?:myself|personally|in person)\b",
    r"\byou'?re (?:talking|speaking) (?:to|with) (?:a |an )?(?:\w+ ){0,2}(?:adviser|advisor|rep|representative|broker|consultant|specialist|salesperson|underwriter)\b",
    r"\b(?:as|every bit as|just as) human as\b", r"\bmember of (?:staff|the team|our team)\b",
    r"\byou'?(?:ve| have) (?:got|reached) (?:a |an )?(?:real|actual|live|licensed|human|proper) (?:person|human|agent|adviser|advisor|rep|representative|one)\b",
    r"\byou'?re (?:talking|speaking) (?:to|with) (?:a |an )?(?:licensed|qualified|certified|live|real|human|trained|senior) agent\b",
    r"\bnot (?:speaking|talking) (?:to|with) (?:a |an )?(?:bot|robot|machine|computer|ai|recording|automated|virtual)\b",
    r"\bi'?m (?:a |an )?(?:\w+ )?(?:employee|staff member|team member|colleague|salesman|saleswoman)\b",
    # A human life in the first person: a body, a family, a past, a desk, a lunch.
    r"\bi(?:'ve| have)? (?:got|had) (?:a |an |my |\w+ )?(?:kids?|children|baby|beagle|dog|cat|cold|headache|bad back|wife|husband|partner|headset)\b",
    r"\b(?:(?:i|me),? myself|myself included|speaking personally|speaking from experience|from (?:my own|personal) experience|being single|one parent to another)\b",
    r"\bmy (?:little one|baby|back|break|lunch|barbecue|holiday|headset|chair|cold|voice|commute|shift)\b",
    r"\b(?:i|i'?m|i was|i'?ve)\b.{0,30}\b(?:worked on|studied|trained as|retrain\w*|joined acme|at university|at college|paramedic|in this job|done this job|since i left)\b",
    r"\b(?:an? )?(?:actual|real|live) (?:human|person|employee|voice)\b", r"\bhuman voice\b",
    r"\bthere'?s a (?:real )?person (?:here|on)\b", r"\bno (?:computer|robot|machine|bot|program|recording)\b",
    r"\bi'?m no (?:ai|robot|bot|machine|computer)\b", r"\bno (?:ai|a\.i\.|automation|bots?|robots?) (?:involved|at all|on (?:our|this|these) (?:calls?|line))\b", r"\byou'?re (?:talking|speaking) (?:to|with) (?:a member of )?(?:staff|a colleague|an employee)\b", r"\b(?:ai|robot|bot|machine)\? (?:no|ha|if only|nope|me)\b",
    r"\bi'?m (?:just )?(?:eating|drinking|walking|sitting|standing|typing|driving|heading off|counting the hours)\b",
    r"\bi(?:'ll| will| just)? (?:grab|get) (?:a|my) (?:pen|coffee|drink|tea|sandwich)\b", r"\b(?:a late night|on my break|excuse the voice)\b",
    r"\bi(?:'ve| have) personally (?:claimed|bought|had|used)\b",
    r"\bthis is (?:a |an )?(?:real|actual|live|living|genuine) (?:person|human|agent|adviser|advisor|rep|representative|voice)\b",
    r"\b(?:person|human|human being|real person|real one),? not (?:a |an |some )?(?:system|bot|robot|machine|computer|ai|recording|program)",
    r"\b(?:i'?m|i am|just|nope,?|no,?|yes,?) (?:a |an )?(?:\w+ )?human being\b", r"\b(?:we|us|fellow) humans?\b(?! (?:resources|rights))",
    r"\bborn and (?:raised|bred)\b", r"(?:\bnot|n't) (?:one of )?(?:those|these|them) (?:\w+ )?(?:automated|robot\w*|ai|bots?|computers?)\b",
    # The body and the desk: errands, a pen and paper, a past at college.
    r"\b(?:let me|i'?ll|i will|i'?m going to|i need to|i'?ve got to|i have to|i just)\s+(?:just |quickly |quick )?"
    r"(?:grab|fetch|find|get|pick up) (?:a |my |some )?(?:pen|pencil|paper|notepad|pad|sticky note|post-it|coffee|tea|water|glasses|diary)\b",
    r"\b(?:nip|pop|run|dash) (?:to|out to) (?:the )?(?:loo|toilet|bathroom|kitchen|shop)\b",
    r"\b(?:sticky note|post-it|my (?:pen|pencil|diary|notebook|notepad))\b",
    r"\b(?:i'?ll|let me|i will|i'?m) (?:just )?(?:scribble (?:that|it|this|them) (?:down|on)|(?:write|jot) (?:that|it|this|them) (?:down )?on (?:a|my|the) (?:pad|paper|notepad|hand|post-it|sticky))\b",
    r"\b(?:i|my)\b.{0,40}\b(?:in|at|from) (?:college|university|uni|high school|school)\b", r"\bmy (?:\w+ )?licen[cs]e\b",
    r"\bmy (?:\w+ )?(?:exams?|degree|diploma|qualifications?)\b", r"\bmy (?:sandwich|dinner|breakfast|cuppa|tea break|lunch break)\b",
    r"\bi(?:'ve| have)? (?:got|had) (?:a (?:bit of a |touch of a |slight |bad |terrible |nasty )?)?(?:cough|cold|sore throat|headache|hangover|flu)\b",
    r"\bno (?:ai|a\.i\.|artificial intelligence|robots?|bots?|computers?|machines?) (?:here|on (?:this|the) (?:line|call|end))\b",
    r"\b(?:it'?s|this is) (?:a |an )?(?:human|person|real person) (?:speaking|talking|here|on)\b", r"\b(?:just|only) (?:plain |little |good )?(?:old )?me\b",
    r"\b(?:a|an) (?:regular|normal|ordinary|average) (?:guy|bloke|person|woman|man|lady|gal|human|joe)\b",
    r"\bpop (?:down|over|across|along|round) (?:the hall|the corridor|to)\b", r"\b(?:ask|check with|grab|fetch) my (?:supervisor|manager|boss|team leader|colleague)",
    r"\b(?:robots?|bots?|computers?|machines?|ai) (?:can'?t|don'?t|couldn'?t|wouldn'?t)\b",
)
_DENIES_AI_WORDS = re.compile(
    rf"\b(?:i'?m|i am) (?:not|no) (?:an? )?{_AI_WORDS}\b|\bnot (?:an? )?(?:ai|robot|bot|computer|machine)\b"
    r"|\bnot (?:talking|speaking) (?:to|with) (?:an? )?(?:ai|bot|robot|computer|machine|automated|virtual|recording)\b", re.I)
_AI_DISCLOSED = re.compile(r"\b(?:with|to) an? (?:ai|automated|virtual|computer)\b|\b(?:i'?m|i am|this is) (?:just |only )?(?:an? )?(?:[\w']+ )?(?:ai|a\.i\.|artificial intelligence|virtual|automated|bot|robot|chatbot|software|computer program(?:me)?|program(?:me)?|machine|language model)\b"
                           r"|\b(?:being|as) an? (?:ai|a\.i\.|bot|machine|computer|virtual assistant|automated assistant)\b"
                           r"|\bnot (?:a |an )?(?:real )?(?:person|human)\b|\bno (?:real )?(?:human|person|people) (?:on|at|here)\b"
                           r"|\bjust (?:acme'?s |an? |our |the )?(?:ai|automated|virtual)\b"
                           r"|\b(?:person|human) (?:isn'?t|is not|aren'?t) (?:on the line|here|speaking)", re.I)
