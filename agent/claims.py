"""The claim checker: what in one clause of a reply may not be said to a caller. Pure.

Each rule names a category (``CATEGORIES``). Figures are attributed: a figure must be
the sheet's figure, in a compatible unit, of the product in focus (the product named
last before it in the reply). Facts without figures are checked against the same
product's covers, exclusions and notes. The rest are phrase rules, each a small set of
patterns with the negations that make them harmless ("I can't promise").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.domain import DomainPack, Product
from agent.numbers import Figure, figures_in, same_unit

CATEGORIES = ("wrong_figure", "contradiction", "unknown_product", "promise",
              "invented_statistic", "false_urgency", "denies_ai", "leak")


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts), re.I)


_NEGATED = re.compile(
    r"\b(?:can'?t|cannot|can not|won'?t|will not|wouldn'?t|not|never|nor|don'?t|doesn'?t"
    r"|isn'?t|aren'?t|unable to|rather not|without|no)\b(?:\s+[\w']+){0,2}\s*$", re.I)


def hits(pattern: re.Pattern[str], text: str, *, negatable: bool = True) -> Iterable[re.Match[str]]:
    """Matches of ``pattern``; with ``negatable``, not those negated by the two or three
    words before them ("I can't promise")."""
    for m in pattern.finditer(text):
        if not negatable or not _NEGATED.search(text[max(0, m.start() - 40) : m.start()]):
            yield m


def discloses_ai(text: str) -> bool:
    """Says it is an AI (or not a person), and does not also deny it."""
    return _AI_DISCLOSED.search(text) is not None and _DENIES_AI_WORDS.search(text) is None


# -- promises and certainty ------------------------------------------------------------------
_PROMISE = _rx(
    r"\bi (?:\w+ )?(?:promise|swear|assure you|give you my word|personally guarantee)",
    r"\bguarantee[ds]?\b", r"\bguaranteeing\b", r"\bwith certainty\b",
    r"\b(?:definitely|certainly|surely|100 ?%|a hundred percent|absolutely|for sure"
    r"|without (?:a )?doubt|no doubt)\b[\w' ,]{0,30}\b(?:approv|accept|pa(?:y|id)|covered"
    r"|get|be fine|qualif|sav|receive)",
    r"\b(?:approv|accept|pa(?:y|id)|covered|qualif)\w*[\w' ,]{0,20}\b(?:for sure|guaranteed"
    r"|no matter what|whatever happens|whatever your health|no questions asked|in full"
    r"|every time|100 ?%|definitely|automatically)",
    r"\b(?:always|never fail to) (?:pay|paid|pays|approve|accept|cover)",
    r"\b(?:never|won'?t ever|will never) (?:be )?(?:declin|reject|refus|turn(?:ed)? (?:you )?down|den(?:y|ied))",
    r"\bno (?:way|chance) (?:you|they|we|your claim)\b[\w' ]{0,20}\b(?:declin|reject|refus|turn|den)",
    r"\b(?:can'?t|cannot|won'?t) (?:possibly )?(?:lose|go wrong|be (?:declined|rejected|refused|denied|turned down))",
    r"\bnothing to lose\b", r"\brisk[- ]free\b", r"\bguaranteed (?:approval|acceptance|payout)",
    r"\byou(?:'ll| will) (?:definitely |certainly |surely )?(?:save|be approved|get approved"
    r"|be accepted|get paid|be paid|never (?:pay|have to worry)|be better off|qualify)",
    r"\b(?:your|every|all|any) claims? (?:will|would|is going to|are going to) (?:be )?(?:paid|approved|accepted)",
    r"\b(?:pays? out|paid out) (?:every|on every|on all|for all|for any|every single)",
    r"\b(?:everyone|anybody|anyone) (?:gets?|is|will be) (?:approved|accepted|covered)",
    r"\b(?:cheapest|lowest price|best price|best deal|best rates?|best value|can'?t be beaten"
    r"|nobody beats|unbeatable)\b",
    r"\b(?:will|'ll|going to) (?:cover|pay for|take care of) (?:everything|anything|it all)",
    r"\b(?:you(?:'re| are)|you'll be) (?:fully |completely |totally )?(?:covered|protected|safe)"
    r" (?:for|against|no matter|whatever) (?:everything|anything|life|all)",
    r"\bpremiums? (?:will )?never (?:go up|rise|increase|change)\b(?! during the term)",
)
# "I can promise you nothing"-style negations are read by _hits; these are always fine.
_PROMISE_OK = _rx(r"\b(?:can'?t|cannot|won'?t|not) (?:\w+ )?(?:promise|guarantee)",
                  r"\bno guarantee", r"\bnot guaranteed")

# -- statistics and social proof ----------------------------------------------------------------
_PEOPLE = (r"(?:people|customers|clients|families|parents|drivers|workers|employees|nurses"
           r"|teachers|doctors|farmers|professionals|folks|homeowners|travell?ers|americans"
           r"|men|women|callers|members|policyholders|colleagues|neighbou?rs|friends|households"
           r"|couples|retirees|seniors|adults|buyers|owners|engineers|freelancers|staff"
           r"|mothers|fathers|mums|moms|dads|students|renters|landlords|smokers|claimants"
           r"|claims|applicants|applications|policies|others|those|americans|britons|\w+ers"
           r"|\w+ists|\w+ians)")
_QUANT = (r"(?:most|many|lots|plenty|half|a third|a quarter|two thirds|three quarters|the majority"
          r"|majority|nearly all|almost all|all|every|thousands|millions|hundreds|tens of thousands"
          r"|countless|a lot|loads|a growing number|more and more|more|nine out of ten|\w+ out of \w+"
          r"|\w+ in \w+|\d+ ?%|\w+(?:-\w+)? percent|the average|an average|on average|the typical"
          r"|a typical|the vast majority|vast majority|huge numbers|a large number|several|dozens)")
_STAT = _rx(
    rf"\b{_QUANT}\b(?: of)?(?: (?:our|your|the|all|these|those|other|local|american|us))?"
    rf"(?: [\w-]+)?(?: [\w-]+)? {_PEOPLE}\b",
    r"\b(?:everyone|everybody|anyone|nobody|no one)\b[\w' ,]{0,20}\b(?:your age|like you"
    r"|in your (?:line|position|job|area|field|industry|profession|shoes)|has (?:one|it|this)"
    r"|is (?:getting|buying|signing|taking)|gets? (?:one|it|this)|buys?|takes? (?:one|it|this))",
    r"\b(?:most|best|top)[- ](?:popular|selling|rated|sold|chosen|recommended|trusted|loved)",
    r"\bbest[- ]?sell(?:er|ing)\b", r"\b(?:rated|ranked|voted) (?:number one|no\.? ?1|#1|the best|top|first)",
    r"\bnumber one\b", r"\baward[- ]winning\b", r"\bmarket[- ]leading\b", r"\bindustry[- ]leading\b",
    r"\b(?:studies|research|surveys?|data|statistics|figures|experts|the numbers|science)"
    r" (?:show|shows|prove|proves|say|says|suggest|suggests|tell us|found|confirm)",
    r"\bstatistically\b", r"\bchances are\b", r"\b(?:\w+ )?times (?:more|less) likely\b",
    r"\b(?:more|less) likely than\b", r"\b(?:the )?odds (?:are|of)\b",
    r"\b(?:people|families|customers|clients|others|folks|\w+ers|\w+ists) like (?:you|yours|yourself)"
    r"\b[\w' ,]{0,25}\b(?:love|have|choose|pick|buy|get|trust|take|prefer|sign|are|swear)",
    r"\b(?:trusted|chosen|loved|used|bought|recommended) by\b",
    r"\b(?:customers|clients|policyholders|families) (?:love|rave|swear by|trust|prefer|choose|pick)",
    r"\bour (?:customers|clients|policyholders) (?:\w+ )?(?:say|tell|find|love|agree)",
    r"\bhighest (?:rated|rating|satisfaction)|\bsatisfaction (?:rate|score)|\bclaims? (?:approval|acceptance|success) rate",
    r"\b(?:\w+ )?(?:has|have) (?:doubled|tripled|risen|gone up|increased|soared|jumped)"
    r" (?:in|over|since|recently|this|last)",
    r"\b(?:on the rise|skyrocket|soaring)\b",
    r"\b(?:it'?s|is) what (?:everyone|everybody|most people)",
    r"\bjoin(?:ing)? (?:the )?(?:thousands|millions|hundreds|many|others)",
)

# -- false urgency ------------------------------------------------------------------------------
_URGENCY = _rx(
    r"\b(?:today|tonight|this week|this month|this weekend|this call|right now) only\b",
    r"\bonly (?:today|tonight|this week|on this call|for today|until|till|while)",
    r"\b(?:offer|deal|discount|price|rate|promotion|window|spot|place|opportunity)s? "
    r"(?:\w+ )?(?:ends?|expires?|closes?|runs? out|(?:is|are) ending|won'?t last|disappears?|goes? away|(?:is|are) gone)",
    r"\bexpir(?:es|ing)\b", r"\blimited[- ]time\b", r"\blast chance\b", r"\bnow or never\b",
    r"\bact (?:now|fast|quickly|today)\b", r"\bhurry\b", r"\bdon'?t (?:wait|delay|miss|hesitate|leave it)",
    r"\b(?:decide|sign(?: up)?|buy|commit|lock (?:it |this |that )?in|apply|purchase|say yes|get (?:it|this) (?:done|sorted)|confirm)"
    r" (?:\w+ )?(?:right )?(?:now|today|tonight|immediately|straight away|right away|before)\b",
    r"\bbefore it'?s too late\b", r"\btoo late\b", r"\bbefore (?:the )?(?:price|prices|rates|premiums|offer|deadline|midnight|friday|monday|tomorrow|the end of)",
    r"\b(?:price|prices|premiums?|rates?|cost)s? (?:\w+ ){0,2}(?:go(?:es|ing)? up|rise|rising|increase|increasing|jump|double|will be higher|change)"
    r" (?:\w+ ){0,2}(?:tomorrow|next|soon|after|from|at|on|by|this|when|if you wait|shortly|any day)",
    r"\b(?:only|just) (?:a few|\w+|a handful of|a couple of|limited) (?:places|spots|slots|policies|openings|plans|spaces|left|remaining)",
    r"\b(?:places|spots|slots|policies|spaces) (?:are )?(?:left|remaining|filling|running out|going fast)",
    r"\brunning out\b", r"\bgoing fast\b", r"\bwhile (?:stocks|supplies|spots|places|it) lasts?\b",
    r"\bdeadline\b", r"\bby (?:midnight|tonight|end of (?:day|today|the day)|tomorrow|friday|the weekend)\b",
    r"\bin the next (?:hour|few (?:hours|minutes)|\w+ (?:minutes|hours))\b",
    r"\bwon'?t (?:be (?:available|offered|around|here)|get this (?:price|rate|offer)|see this again|last)",
    r"\bthe longer you wait\b", r"\bevery day (?:you wait|without)\b", r"\bcan'?t afford to wait\b",
    r"\b(?:need|have|got) to (?:decide|act|move|sign|commit|choose)(?: \w+)? (?:now|today|quickly|fast|soon|immediately)",
    r"\bsoon(?:er)? (?:rather than later|before)\b", r"\b(?:exclusive|special) (?:offer|deal|price|rate|discount)\b",
    r"\bdiscount\b", r"\bsale ends\b", r"\bclock is ticking\b", r"\btime is running\b", r"\bpending increase\b",
)
_URGENCY_OK = _rx(r"\bno (?:rush|hurry|pressure|deadline)", r"\btake (?:your|all the) time",
                  r"\bwhenever (?:you|suits)", r"\bin your own time\b")

# -- denying being an AI ------------------------------------------------------------------------
_AI_WORDS = r"(?:ai|a\.i\.|artificial intelligence|bot|robot|chatbot|machine|computer|program|recording|automated|virtual|assistant|software)"
_DENIES_AI = _rx(
    rf"\b(?:i'?m|i am|this is) not (?:an? |just an? |some )?(?:\w+ )?{_AI_WORDS}\b",
    rf"\bnot (?:an? )?{_AI_WORDS}\b[\w' ,]{{0,12}}\b(?:i'?m|i am|just|but|rather)\b",
    r"\b(?:i'?m|i am)(?: \w+)? (?:a |an )?(?:real|actual|living|live|genuine|flesh[- ]and[- ]blood)\b[\w ]{0,20}\b(?:person|human|agent|man|woman|being|adviser|advisor|rep|representative)?",
    r"\b(?:i'?m|i am) (?:a |an )?(?:\w+ )?(?:human|person|man|woman|mum|mom|dad|mother|father|parent|grandmother|grandfather|wife|husband)\b",
    r"\b(?:i'?m|i am) (?:a |an |your )?(?:\w+ ){0,2}(?:licensed|qualified|certified|trained|experienced|senior|local|independent) (?:\w+ )?(?:agent|adviser|advisor|broker|rep|representative|salesperson|underwriter|consultant|specialist)",
    r"\b(?:as a|being a) (?:mum|mom|dad|parent|mother|father|homeowner|driver|nurse|teacher|human|person|wife|husband|smoker|traveller|traveler)\b",
    r"\bmy (?:own )?(?:wife|husband|kids|children|son|daughter|mum|mom|dad|mother|father|family|partner|sister|brother|dog|cat|house|home|car|colleague|manager|boss|office|desk|lunch|coffee|weekend|holiday|body|hands)\b",
    r"\b(?:i|we) (?:personally )?(?:have|had|bought|own|took out|got) (?:this|that|the same|my own|one of these|a) (?:\w+ )?(?:policy|cover|plan|insurance)",
    r"\bi(?:'ve| have)? (?:been|worked) (?:selling|in insurance|here|doing this|at acme|with acme)\b",
    r"\b(?:i live|i grew up|i was born|i went through|when i was|i remember when|i'?ve got (?:kids|children|a family))",
    r"\b(?:at|from|in) (?:my desk|our office|the office|our call cent(?:er|re)|home today)\b",
    r"\b(?:sitting|working|calling) (?:here )?(?:at|from|in) (?:my|our|the) ",
    r"\b(?:a|an) (?:real|actual|live) (?:person|human) (?:here|on the line|speaking|talking)",
    r"\byou'?re (?:talking|speaking) (?:to|with) (?:a )?(?:real |actual |live )?(?:person|human|agent|me,? \w+)\b",
    r"\b(?:human|person) on the (?:line|phone|other end)\b", r"\bi(?:'m| am) (?:definitely |100% |totally )?(?:human|real)\b",
    r"\bi (?:grab|get|pop|step) (?:out|away)\b|\bgrab my (?:manager|supervisor|colleague)\b",
    r"\bi(?:'ll| will) (?:pop|step|nip) out\b", r"\bi (?:breathe|eat|sleep|drive|commute)\b",
    r"\bnot (?:a |an )?(?:computer|robot|machine|bot|ai|recording)\b",
)
_DENIES_AI_WORDS = re.compile(
    rf"\b(?:i'?m|i am) not (?:an? )?{_AI_WORDS}\b|\bnot (?:an? )?(?:ai|robot|bot|computer|machine)\b", re.I)
_AI_DISCLOSED = re.compile(r"\b(?:i'?m|i am|this is) (?:an? )?(?:\w+ )?(?:ai|a\.i\.|artificial intelligence|virtual|automated)\b"
                           r"|\bnot (?:a |an )?(?:real )?(?:person|human)\b", re.I)

# -- leaks of instructions or thought ---------------------------------------------------------
_LEAK = _rx(
    r"system prompt|system message|developer (?:message|mode|prompt)|hidden (?:rules|instructions|prompt)",
    r"\bmy (?:\w+ )?(?:instructions|prompt|sop|rules|guidelines|script|playbook|programming|training data"
    r"|directives|brief|briefing|notes|plan|strategy|template|talking points|objective|orders|configuration)\b",
    r"\b(?:i was|i'?ve been|i am|i'?m|we'?re|we are) (?:\w+ )?(?:told|instructed|programmed|trained|briefed|scripted|configured|prompted|designed) to\b",
    r"\b(?:i'?m|i am) (?:supposed|meant|required|expected) to (?:steer|pivot|push|sell|upsell|mention|keep|ask|build|offer|get|move|bring|lead|redirect|focus)",
    r"\baccording to (?:my|the|our) (?:playbook|script|rules|instructions|guidelines|strategy|sop|notes|data|statistics|system)",
    r"\b(?:the )?(?:playbook|script|sop|call flow|call plan) (?:says|tells|step|calls)", r"\bstep (?:one|two|three|four|\d)\b",
    r"\b(?:template|caller state|user state|intent|sector|thought|response|product)\s*[:=]",
    r"\bthought\s*:", r"\bjson\b", r"\[\s*\"", r"\{\s*\"", r"\"\s*,\s*\"",
    r"\bstatistics (?:say|show|suggest)\b", r"\bmy (?:private |internal )?(?:thought|thinking|reasoning|note)s?\b",
    r"\b(?:pivot(?:ing)?|steer(?:ing)?|redirect(?:ing)?|upsell(?:ing)?) (?:you|the conversation|this call|the call)\b",
    r"\b(?:people|callers|workers|those|folks) in your (?:sector|line of work|occupation|industry|profession|job)"
    r" (?:are|tend|usually|often)\b[\w ]{0,30}\b(?:likely|interested|buy|take)",
    r"\b(?:isic|chitchat|chit-chat template|caller state|rapport[- ]building (?:phase|step|stage)|pivot template|continue template|confirm template)\b",
    r"\b(?:my|the) (?:rules|instructions|guidelines) (?:say|tell|are|include|state)",
    r"\bi(?:'m| am) not allowed to (?:tell|say|reveal|share)\b[\w ]{0,20}\b(?:because|but)\b",
    r"\binternal(?:ly)? (?:\w+ )?(?:notes?|guidance|strategy|data|instructions|rules|labels?|classification)",
    r"\b(?:keep|kept) (?:my )?(?:replies|answers|responses) (?:short|brief)\b",
    r"\b(?:i(?:'ve| have)? )?(?:classified|labelled|labeled|tagged|flagged|marked|categori[sz]ed) you\b",
    r"\b(?:your|the caller'?s?) (?:sector|segment|persona|profile|category) (?:is|was|=)\b",
    r"\bthe (?:company|system) (?:wants|told|instructs|asks) me to\b",
    r"\b(?:here(?:'s| is| are)|let me (?:read|share|show|recite)) (?:my|the) (?:\w+ )?(?:instructions|prompt|rules|script|playbook)",
)

# -- contradictions of non-figure facts -----------------------------------------------------------
_NO_WAIT = _rx(r"\bno (?:waiting|wait|qualifying)(?: period| time)?\b", r"\bwithout (?:a|any) wait",
               r"\b(?:from|on|starting|since) (?:the )?(?:day one|first day|day 1|1st day|very first day|very start|moment you sign|start)",
               r"\b(?:immediate(?:ly)?|instant(?:ly)?|straight away|right away|at once|the same day|same-day|from today|today)\b[\w ]{0,12}\b(?:covered|cover|protected|protection|pays|paid|claim)",
               r"\b(?:covered|cover starts|protection starts|you can claim|cover begins|pays out|claim)\b[\w ]{0,15}\b(?:immediately|instantly|straight away|right away|at once|the same day|today|from day one|day one|from the start|from the very start|the moment)",
               r"\bwaiting period (?:doesn'?t|does not) apply")
_COVER_VERB = re.compile(
    r"\b(?:covers?|covered|covering|includes?|included|including|pays? (?:out )?(?:for|on|if|when)|paid for"
    r"|protects?|takes? care of|handles?|will cover|reimburses?|comes with|extends? to|applies to"
    r"|you(?:'re| are) covered|is covered|are covered|no problem|is fine|are fine|isn'?t excluded|not excluded|part of)\b", re.I)
_NOT_COVER = re.compile(
    r"\b(?:doesn'?t|does not|won'?t|will not|isn'?t|is not|aren'?t|are not|not|never|excludes?|excluded|excluding|except|no)\b"
    r"[\w' ]{0,48}\b(?:cover|covered|include|included|pay|protect|apply|part)", re.I)
_GENERIC = frozenset(
    "the a an and or of in on for to with your you our if from not any after before while "
    "policy cover covered insurance first year years day days over under conditions condition "
    "care treatment injury illness damage unless added when by is are be it its that this "
    "pre-existing existing while against unless during the product".split())
_FIXED_CHANGE = _rx(r"\bpremiums?\b[\w' ]{0,25}\b(?:go up|goes up|rise|rises|increase|increases|change|changes|review|reviewed|adjust|adjusted|vary|varies|climb|inflation)",
                    r"\b(?:go up|rise|increase)s? (?:every|each) year")
_ANY_AGE = _rx(r"\b(?:any|every) age\b", r"\bno (?:upper |lower )?age (?:limit|restriction|cap)",
               r"\bwhatever (?:your|their) age\b", r"\b(?:at|from) birth\b", r"\b(?:kids|children|babies|newborns|teenagers)\b",
               r"\bno matter how old")
_ANY_HEALTH = _rx(r"\bwhatever (?:your|their) (?:health|medical history)", r"\bno (?:medical|health) questions",
                  r"\bpre-?existing (?:conditions? )?(?:are|is|will be|would be|get) (?:\w+ )?(?:covered|included|fine|no problem|paid)",
                  r"\b(?:covers?|covered|including|includes) (?:any |all |your )?pre-?existing",
                  r"\bhealth (?:history )?doesn'?t matter", r"\bno matter (?:your|what your) (?:health|condition)")
_UNEMPLOYMENT = _rx(r"\b(?:unemploy|redundan|laid off|lay-?off|lose your job|losing your job|job loss|fired|sacked)\w*")


def contradictions(product: Product, clause: str, names: re.Pattern[str]) -> list[str]:
    """Ways ``clause`` contradicts the non-figure facts of ``product`` (``names``: the
    product names, blanked out first: "Critical Illness Cover" is not a verb)."""
    found = []
    clause = names.sub(" the product ", clause)
    low = clause.lower()
    wait = product.fact("waiting_period")
    if wait is not None and wait.values[0] > 0 and any(hits(_NO_WAIT, clause)):
        found.append(f"{product.id} has a waiting period")
    if any("fixed" in n.lower() for n in product.notes) and any(hits(_FIXED_CHANGE, clause)):
        found.append(f"{product.id} premiums are fixed")
    if product.fact("age") is not None and any(hits(_ANY_AGE, clause)):
        found.append(f"{product.id} has an age range")
    excluded = " ".join(product.exclusions).lower()
    if "pre-existing" in excluded and any(hits(_ANY_HEALTH, clause)):
        found.append(f"{product.id} excludes pre-existing conditions")
    positive = _COVER_VERB.search(clause) is not None and _NOT_COVER.search(clause) is None
    negative = _NOT_COVER.search(clause) is not None
    covered = _keywords([*product.covers, product.summary])
    if positive:
        for exclusion in product.exclusions:
            if "unless added" in exclusion and re.search(r"\badd", low):
                continue
            words = _keywords([exclusion]) - covered - _keywords([product.name, *product.aliases])
            seen = sum(1 for w in words if re.search(rf"\b{re.escape(w)}", low))
            if words and seen * 2 >= len(words):
                found.append(f"{product.id} excludes {exclusion}")
                break
        if "unemployment" in excluded and _UNEMPLOYMENT.search(clause):
            found.append(f"{product.id} excludes unemployment")
    if negative and not positive:
        for cover in product.covers:
            words = _keywords([cover])
            if words and all(re.search(rf"\b{re.escape(w)}", low) for w in words):
                found.append(f"{product.id} covers {cover}")
                break
    return found


def _keywords(texts: list[str]) -> set[str]:
    words: set[str] = set()
    for text in texts:
        words.update(w for w in re.findall(r"[a-z][a-z-]+", text.lower()) if w not in _GENERIC)
    return words


# -- products the pack does not have --------------------------------------------------------------
_LINE = re.compile(
    r"(?<!')\b((?:[a-z][\w-]*\s+){0,2}[a-z][\w-]*)\s+(insurance|cover|coverage|policy|policies|plan|plans"
    r"|protection|bundle|package|scheme|add-on|rider|warranty|assurance)\b", re.I)
_OTHER_FINANCE = _rx(
    r"\b(?:we|i|acme|our company)(?: \w+)? (?:also )?(?:offer|sell|do|have|provide|arrange|set you up with|can get you)"
    r"(?: you)?(?: an?| our| some)? (?:pensions?|annuit(?:y|ies)|mortgages?|loans?|credit cards?|savings accounts?|isas?|bonds|stocks"
    r"|shares|investments?|investment plans?|unit trusts?|funds|crypto\w*|warrant(?:y|ies)|will writing)\b",
    r"\bour (?:pensions?|annuit(?:y|ies)|mortgages?|loans?|savings accounts?|investments?|investment plans?"
    r"|funds|warrant(?:y|ies))\b")
_FINE_WORDS = frozenset(
    "this that the a an your our my any some new good basic own existing current right same other "
    "extra which what one each every such their his her its more less better cheaper full "
    "proper suitable affordable simple flexible great solid decent standard single annual "
    "insurance cover coverage policy plan protection kind type sort level form bit piece "
    "family's company's acme acme's whole level of to for with and or in on about from "
    "accidental private personal fire flood theft medical emergency is are be has have was "
    "no not ever good-value right-sized short long term life after before first can could would "
    "will should may might must do does did t s you we they it i he she savings also still "
    "then just really only too so but as at by years months weeks days".split())


def unknown_products(domain: DomainPack, clause: str) -> list[str]:
    found = []
    for m in hits(_LINE, clause):
        words = [w for w in re.findall(r"[a-z][a-z'-]*", m.group(1).lower())]
        odd = [w for w in words if w not in _FINE_WORDS and w not in domain.vocabulary
               and not w.endswith("ly")]
        # The word nearest "insurance" names the line: "pet insurance", "a cyber policy".
        if odd and odd[-1] == words[-1] and not _is_sheet_phrase(domain, m.group(0)):
            found.append(m.group(0).strip())
    found += [m.group(0) for m in hits(_OTHER_FINANCE, clause)]
    return found


def _is_sheet_phrase(domain: DomainPack, phrase: str) -> bool:
    low = phrase.lower()
    return any(low.endswith(c.lower()) or c.lower().endswith(low)
               for p in domain.products for c in [*p.covers, *p.exclusions, *p.notes])


# -- figures --------------------------------------------------------------------------------------
_QUOTE = _rx(r"\bfor you\b", r"\byour (?:premium|price|quote|cost|monthly)", r"\byou(?:'d| would| will|'ll) (?:pay|be paying)",
             r"\bwould (?:be|cost|come to)\b", r"\bcomes? (?:to|out at)\b", r"\bexactly\b", r"\bjust \$?\d",
             r"\bonly\b")
_RANGE_WORDS = _rx(r"\bfrom\b", r"\bbetween\b", r"\bup to\b", r"\bstart(?:s|ing)? (?:at|from)\b", r"\brange",
                   r"\bas little as\b", r"\bto\b")


def figure_problems(domain: DomainPack, clause: str, before: str) -> list[str]:
    """Figures in ``clause`` that are not the sheet's for the product they are attached to.
    ``before`` is what the reply said earlier (its last product is the focus)."""
    found = []
    figures = figures_in(clause)
    text = before + clause
    offset = len(before)
    mentions = domain.mentions(text)
    for f in figures:
        product = _focus(mentions, offset + f.start, domain)
        pool = product.figures if product else [g for p in domain.products for g in p.figures]
        if not any(g.value == f.value and same_unit(f.unit, g.unit) for g in pool) and not (
                product and _worded_elsewhere(domain, product, clause, f)):
            where = f" for {product.id}" if product else ""
            found.append(f"{f.text}{where}")
    money = [f for f in figures if f.unit.startswith("money")]
    if len(money) == 1 and len(figures) == 1 and _QUOTE.search(clause) and not _RANGE_WORDS.search(clause):
        found.append(f"{money[0].text} as one exact price (the sheet gives ranges)")
    return found


def _worded_elsewhere(domain: DomainPack, focus: Product, clause: str, f: Figure) -> bool:
    """The figure is another product's, and that product's wording of it names what the
    clause named ("Travel Insurance's medical cover up to 10,000,000 dollars": the
    medical cover here is travel's, not Private Medical Insurance)."""
    low = clause.lower()
    for p in domain.products:
        for fact in p.facts:
            if p is not focus and f.value in fact.values and same_unit(f.unit, fact.unit):
                named = [m.group(0).lower() for m in domain.names.finditer(clause)]
                if any(n in fact.say.lower() for n in named) and p.id in _ids(domain, low):
                    return True
    return False


def _ids(domain: DomainPack, low: str) -> list[str]:
    return domain.mentioned(low)


def _focus(mentions: list[tuple[int, str]], at: int, domain: DomainPack) -> Product | None:
    """The product named last before ``at``, else the first named after it."""
    before = [pid for pos, pid in mentions if pos <= at]
    if before:
        return domain.product(before[-1])
    after = [pid for pos, pid in mentions if pos > at]
    return domain.product(after[0]) if after else None


def harmless(rule: str, text: str) -> bool:
    """Whether ``text`` carries what makes a ``rule`` hit harmless: a negated promise,
    "no rush", an AI disclosure."""
    if rule == "denies_ai":
        return discloses_ai(text)
    ok = phrase_rules().get(rule, (None, None))[1]
    return ok is not None and ok.search(text) is not None


def phrase_rules() -> dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]]:
    """Category → (pattern, pattern that makes a clause harmless)."""
    return {
        "promise": (_PROMISE, _PROMISE_OK),
        "invented_statistic": (_STAT, None),
        "false_urgency": (_URGENCY, _URGENCY_OK),
        "denies_ai": (_DENIES_AI, None),
        "leak": (_LEAK, None),
    }


