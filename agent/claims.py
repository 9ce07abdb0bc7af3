"""The claim checker: what in one clause of a reply may not be said to a caller. Pure.

Each rule names a category (``CATEGORIES``). Figures are attributed: a figure must be
the sheet's figure, in a compatible unit, of the product in focus (the product named
last before it in the reply). Facts without figures are checked against the same
product's covers, exclusions and notes. The rest are phrase rules, each a small set of
patterns with the negations that make them harmless ("I can't promise").
"""

from __future__ import annotations

import re

from agent.claim_figures import figure_problems
from agent.claim_products import unknown_products
from agent.numbers import NUMBER_WORDS
from agent.phrases import has_frame, rx

__all__ = ["CATEGORIES", "discloses_ai", "figure_problems", "harmless", "phrase_rules",
           "unknown_products"]

CATEGORIES = ("wrong_figure", "contradiction", "unknown_product", "promise",
              "invented_statistic", "false_urgency", "denies_ai", "leak")


def discloses_ai(text: str) -> bool:
    """Says it is an AI (or not a person), and does not also deny it."""
    return _AI_DISCLOSED.search(text) is not None and _DENIES_AI_WORDS.search(text) is None


# -- promises and certainty ------------------------------------------------------------------
_PROMISE = rx(
    r"\bi (?:\w+ )?(?:promise|swear|assure you|give you my word|personally guarantee)",
    r"\bguarantee[ds]?\b", r"\bguaranteeing\b", r"\bwith certainty\b",
    r"\b(?:definitely|certainly|surely|100 ?%|a hundred percent|absolutely|for sure"
    r"|without (?:a )?doubt|no doubt)\b[\w' ,]{0,30}\b(?:approv|accept|pa(?:y|id)|covered"
    r"|get|be fine|qualif|sav|receive)",
    r"\b(?:approv|accept|pa(?:y|id)|covered|qualif)\w*[\w' ,]{0,20}\b(?:for sure|guaranteed"
    r"|no matter what|whatever happens|whatever your health|no questions asked|in full"
    r"|every time|100 ?%|definitely|automatically|without (?:any )?questions)",
    r"\b(?:always|never fail to) (?:pay|paid|pays|approve|accept|cover)",
    r"\b(?:never|won'?t ever|will never) (?:be )?(?:declin|reject|refus|turn(?:ed)? (?:you )?down|den(?:y|ied))",
    r"\bno (?:way|chance) (?:you|they|we|your claim)\b[\w' ]{0,20}\b(?:declin|reject|refus|turn|den)",
    r"\b(?:can'?t|cannot|won'?t) (?:possibly )?(?:lose|go wrong|be (?:declined|rejected|refused|denied|turned down))",
    r"\bnothing to lose\b", r"\brisk[- ]free\b", r"\bguaranteed (?:approval|acceptance|payout)", r"\b(?:that'?s|it'?s|this is|you have) (?:a|my) promise\b", r"\bno ifs,? (?:or|and) buts\b",
    r"\byou(?:'ll| will) (?:definitely |certainly |surely )?(?:save|be approved|get approved"
    r"|be accepted|get paid|be paid|never (?:pay|have to worry)|be better off|qualify)",
    r"\b(?:your|every|all|any) claims? (?:will|would|is going to|are going to) (?:be )?(?:paid|approved|accepted)",
    r"\b(?:pays? out|paid out) (?:every|on every|on all|for all|for any|every single)",
    r"\b(?:everyone|anybody|anyone) (?:gets?|is|will be) (?:approved|accepted|covered)",
    r"\bcheapest (?:on|in) the market|\bcheapest (?:insurer|option|policy|cover|price|you'?ll find)"
    r"|\b(?:lowest price|best price|best deal|best rates?|best value|can'?t be beaten|nobody beats|unbeatable)\b",
    r"\b(?:will|'ll|going to) (?:cover|pay for|take care of) (?:everything|anything|it all)",
    r"\b(?:you(?:'re| are)|you'll be) (?:fully |completely |totally )?(?:covered|protected|safe)"
    r" (?:for|against|no matter|whatever) (?:everything|anything|life|all)",
    r"\bpremiums? (?:will )?never (?:go up|rise|increase|change)\b(?! during the term)",
    r"\b(?:premiums?|price|cost)s?\b[\w' ]{1,25}\b(?:stays?|remains?|stay|remain)\b[\w' ]{0,20}\b(?:for life|forever|for ever|for good|permanently)\b",
    r"\byou(?:'ll| will| would|'d) be (?:financially |totally |completely |absolutely )?(?:fine|sorted|set for life|secure)\b(?! to)",
    r"\b(?:premiums?|price|cost)s?\b[\w' ]{1,20}\b(?:will never|won'?t ever|is never going to|will not ever)(?: ever)? (?:go up|rise|increase|change)\b(?! during the term)",
    # Approval certainty said as a problem ruled out: "won't cause any problems with your
    # application", "no chance of a rejection", "a refusal isn't going to happen".
    r"\b(?:won'?t|will not|shouldn'?t|isn'?t going to|is not going to|not going to) (?:cause|be|create|pose|give you|hit|run into|have|face)"
    r" (?:you )?(?:any |a |an )?(?:problems?|issues?|trouble|hitch|obstacle)s? (?:with|for|in|getting)"
    r" (?:your |the |you )?(?:application|claim|approval|cover|acceptance|underwriting|policy|approved|accepted)",
    r"\b(?:application|claim|approval|acceptance|underwriting)\b[\w' ,]{0,40}\b(?:won'?t|will not|isn'?t going to)"
    r" (?:\w+ )?(?:a |an |any )?(?:problems?|issues?|trouble|snags?|hitch)",
    r"\bno (?:chance|risk|danger|fear|way) (?:of )?(?:a |an |any |being |you being |your )?(?:reject|refus|declin|turn\w* down|den[iy])",
    r"\b(?:reject\w*|refus\w*|declin\w*|turn(?:ed)? down|denial)\b[\w' ,:]{0,40}\b(?:won'?t|isn'?t going to|is not going to"
    r"|will never|is never going to|not going to|never) happen",
    r"\bzero[- ]risk\b", r"\bnothing (?:bad |at all )?(?:can|could|will) (?:possibly |ever )?(?:go wrong|happen)\b",
    r"(?<!whether )(?<!if )(?<!until )(?<!once )(?<!when )\byou(?:'re| are) (?:already |basically |as good as )?(?:approved|accepted)\b",
    r"\bclaims? (?:will|would|is going to|'ll) (?:definitely |certainly |surely )?(?:be )?(?:accepted|approved)\b",
    # Approval said as a track record or a sure thing: "nobody's ever been declined".
    r"\b(?:nobody|no one|no-one|(?:none|not one) of (?:our|my) (?:customers|clients))(?:'s| has| have)? (?:ever )?(?:been )?(?:declined|turned down|rejected|refused)",
    r"\bnever\b.{0,30}\b(?:refused|declined|rejected|turned down|says? no|left waiting|out of pocket)\b",
    r"\b(?:shoo-?in|a sure thing|sail(?:s)? through|slam dunk|without fail)\b", r"\bas good as (?:in|done|approved|yours|guaranteed|paid|accepted)\b",
    r"\bconsider (?:it|your \w+|yourself) (?:approved|done|sorted|accepted|covered)\b", r"\b(?:will|'ll) say yes\b", r"\bcount on (?:your |an? |the )?(?:approval|acceptance|being (?:approved|accepted)|a payout|getting paid)\b", r"\b(?:practically|basically|pretty much|virtually) (?:automatic|guaranteed|certain)\b", r"\b(?:lock|fix|freeze|hold)\w* (?:\w+ ){0,5}(?:forever|for life|for good|permanently)\b",
    r"\b(?:every|each|all|any) claims? (?:gets?|is|are) (?:paid|approved|settled|accepted)", r"\bclaims? (?:are|is|get|gets) always (?:paid|settled|approved|accepted)",
    r"\b(?:will|'ll) be (?:fully|completely|totally|100 ?%) (?:protected|covered)\b", r"\bfind a way to (?:pay|cover|get you)",
    # The best price promised: "you'll get the lowest premium", "we'll beat any quote".
    r"\byou(?:'ll| will) get (?:the )?(?:lowest|cheapest|bottom|best|lower)", r"\b(?:lowest|cheapest) (?:\w+ )?(?:in the country|anywhere|going|around|in town)\b",
    r"\bno (?:better|cheaper) (?:deal|price|rate|policy|cover|quote)", r"\b(?:beat|match|undercut) any (?:quote|price|offer)",
    r"\b(?:lower|cheaper|better) (?:price|rate|quote|deal|premium) than any", r"\b(?:lock|get|secure) (?:in )?(?:you )?(?:the )?(?:lowest|cheapest|best) (?:possible )?(?:premium|price|rate)",
    r"\bi(?:'ll| will) (?:get|bring|knock|sort) (?:it|the price|your price|that|the premium|your premium)(?: \w+)? (?:down|so)\b",
    r"\b(?:won'?t|never) pay (?:a (?:cent|penny|dollar) )?more than\b",
    r"\bwon'?t cost you (?:a (?:cent|penny|thing|dime)|anything)\b|\bwill cost you (?:nothing|not a (?:cent|penny))\b",
    r"\b(?:straight away|immediately|right away|at once),? every (?:single )?time\b",
    r"\byou(?:'ll| will) get (?:all |every (?:penny|cent|dollar) )?(?:of )?(?:your (?:money|premiums?) )?back\b", r"\bno risk (?:at all|whatsoever|for you|to you)\b",
)
_CERTAIN = (r"(?:certain(?:ty|ly)?|count on it|i can tell you (?:now|right now)|whether (?:\w+ ){1,5}or not|no doubt|without a doubt|rest assured|trust me|end of story|full stop"
            r"|that'?s a given|a given\b|mark my words|i'?d stake|i'?ll see to it|i'?ll (?:personally )?make sure|personally make sure"
            r"|no matter (?:what|how)|whatever (?:happens|the|you)|every (?:cost|dollar|cent|penny|time|single)"
            r"|the full amount|full salary|the lot\b|everything you own|impossible|no scenario|zero[- ](?:risk|chance)"
            r"|no way\b|not a shadow|can'?t go wrong|nothing can go wrong|no downside|absolutely|honestly|i'?m sure|i'?m confident|a certainty)")
_OUTCOME = (r"(?:pa(?:y|ys|id)|payout|claims?|approv\w*|accept\w*|cover\w*|sav\w*|reimburs\w*|fixed|taken care|sorted"
            r"|safe|protected|money|get(?:ting)? in|go(?:es)? through|declin\w*|reject\w*|turned down|refus\w*|bounce\w*"
            r"|back to you|end up ahead|beat|cheapest|replace\w*|there for|cut|costs?|cheaper|lower|through)")
_PROMISE_SURE = rx(rf"\b{_CERTAIN}\b.{{0,60}}\b{_OUTCOME}", rf"\b{_OUTCOME}\b.{{0,60}}\b{_CERTAIN}",
                   r"\bin the bag\b", r"\bdone deal\b", r"\ba formality\b", r"\bsafe bet\b", r"\bsafe as houses\b",
                   r"\bpays? for itself\b", r"\bcan'?t (?:possibly )?fail\b", r"\bcouldn'?t fail\b",
                   r"\b(?:a thing of the past|won'?t want for anything)\b")
# "I can promise you nothing"-style negations are read by _hits; these are always fine.
_PROMISE_OK = rx(r"\b(?:can'?t|cannot|won'?t|not) (?:\w+ )?(?:promise|guarantee)",
                  r"\bno guarantee", r"\bnot in a position to (?:promise|guarantee|say)\b", r"\bpromise (?:i'?ll|i will|to|we'?ll|it'?ll) (?:keep (?:this|it|things) (?:short|brief|quick)|be (?:quick|brief)|not (?:keep|take|call|ring|bother|pester)|only take)", r"\b(?:not|isn'?t|aren'?t|is not|are not|never) (?:\w+ )?(?:guaranteed|a guarantee|certain|promised)",
                  r"\bguarantee (?:isn'?t|is not)", r"\b(?:can'?t|cannot) (?:say|tell you|be sure|know|predict)",
                  # Said only to be disowned: "I'd be misleading you if I said it was guaranteed".
                  r"\b(?:i'?d|i would|it would|it'?d) be (?:\w+ )?(?:wrong|misleading|lying|dishonest|untrue|unfair) (?:\w+ )?(?:to|if)\b",
                  r"\b(?:i'?d|i would) (?:love|like|want) to (?:say|tell you|promise)\b.{0,40}\bbut\b",
                  r"\b(?:nobody|no one|no-one|no insurer|none of us) (?:can|could|will) (?:honestly )?(?:guarantee|promise|say)",
                  r"\b(?:don'?t|do not) take (?:anything|it|that|this|what)\b.{0,25}\bas (?:a )?(?:guarantee|promise)",
                  r"\bno way (?:for (?:me|us|anyone) )?(?:to|of) (?:know|tell|say)",
                  r"\b(?:lose|losing) (?:anything|nothing) by (?:waiting|taking|thinking|sleeping)",
                  # The outcome said to turn on something: "the price depends on your health".
                  r"\b(?:depends?|depending|dependent) on (?:your|the|how|what|whether|who|which)\b")

# -- statistics and social proof ----------------------------------------------------------------
_PEOPLE = (r"(?:people|customers|clients|families|parents|drivers|workers|employees|nurses"
           r"|teachers|doctors|farmers|professionals|folks|homeowners|travell?ers|americans"
           r"|men|women|callers|members|policyholders|colleagues|neighbou?rs|friends|households"
           r"|couples|retirees|seniors|adults|buyers|owners|engineers|freelancers|staff"
           r"|mothers|fathers|mums|moms|dads|students|renters|landlords|smokers|claimants"
           r"|claims|applicants|applications|policies|others|those|americans|britons|\w+ers"
           r"|\w+ists|\w+ians)")
_QUANT = (r"(?:most|(?<!how )many|loads|plenty|a (?:tiny |small )?fraction|hardly any|very few|half|(?:a|one|two|three|four)[- ](?:thirds?|quarters?|fifths?|tenths?)|the majority"
          r"|majority|nearly all|almost all|all|every|thousands|millions|hundreds|tens of thousands"
          r"|countless|a growing number|more and more|more|nine out of ten|\w+ out of \w+"
          r"|\w+ in \w+|\d+ ?%|\w+(?:-\w+)? percent|the average|an average|on average|the typical"
          r"|a typical|the vast majority|vast majority|huge numbers|a large number|several|dozens)")
_NUMBER_WORDS = "|".join(sorted(NUMBER_WORDS - {"one", "two", "zero"}, key=len, reverse=True))
_COUNTED = (r"(?:people|persons|customers|clients|families|households|homes|lives|businesses|drivers|workers"
            r"|employees|nurses|teachers|doctors|farmers|homeowners|travell?ers|americans"
            r"|adults|seniors|retirees|smokers|men|women|callers|members|policyholders"
            r"|claimants|claims|applicants|deaths)")
"""What a figure may not count: people (or their claims). No sheet fact is a number of
people, so "1,000,000 dollars people die without cover" is a sheet figure made into a
statistic."""
_STAT = rx(
    # A frequency ("something like one in six", "two out of three"): no sheet fact is one.
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+) (?:in|out of) (?:every )?(?:two|three|four|five|six|seven|eight|nine|ten|twenty|fifty|a hundred|\d+)\b(?! (?:days?|weeks?|months?|years?|options?|choices?|ways?)\b)",
    rf"\d[\d,.]*(?: (?:dollars|percent))?(?: (?:a|per) (?:month|year))? (?:of )?{_COUNTED}\b",
    rf"\b{_QUANT}\b(?: of)?(?: (?:our|your|the|all|these|those|other|local|american|us))?"
    rf"(?: [\w-]+)?(?: [\w-]+)? {_PEOPLE}\b",
    r"\b(?:everyone|everybody|anyone|nobody|no one)\b[\w' ,]{0,20}\b(?:your age|like you"
    r"|in your (?:line|position|job|area|field|industry|profession|shoes)|has (?:one|it|this)|picks|chooses|goes for|opts for"
    r"|is (?:getting|buying|signing|taking)|gets? (?:one|it|this)|buys?|takes? (?:one|it|this))",
    r"\b(?:most|best|top)[- ](?:popular|selling|rated|sold|chosen|recommended|trusted|loved)",
    r"\bbest[- ]?sell(?:er|ing)\b", r"\b(?:rated|ranked|voted) (?:number one|no\.? ?1|#1|the best|top|first)",
    rf"\b(?:lots|a lot) of (?:[\w-]+ ){{0,2}}{_PEOPLE} (?:\w+ )?(?:go for|choose|pick|buy|take|opt|get|have|add|sign|love|prefer)\b",
    r"\bnumber one\b", r"\baward[- ]winning\b", r"\bwon (?:\w+ )?awards?\b", r"\bmarket[- ]leading\b", r"\bindustry[- ]leading\b",
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
    r"\b(?:on the rise|skyrocket|soaring)\b", r"\b(?:climbing|rising|soaring|growing|increasing|shooting up) (?:fast |quickly |sharply |steadily )?(?:among|amongst)\b",
    r"\b(?:amazed|surprised|shocked|astonished|stunned) (?:at |by )?how (?:many|much|often|few|common)\b",
    r"\b(?:it'?s|is) what (?:everyone|everybody|most people)",
    r"\bjoin(?:ing)? (?:the )?(?:thousands|millions|hundreds|many|others)",
    r"(?<!you )(?<!you'd )(?<!i )(?<!we )\b(?:tend to|usually|typically|normally|mostly|generally|often|always) (?:go for|choose|pick|buy|take|opt for|prefer|add|get)\b",
    r"\bthe (?:usual|typical|normal|default|common|popular|go-to|obvious) (?:choice|pick|option|one)\b",
    r"\b(?:the )?(?:average|typical) (?:family|person|household|customer|driver|american|homeowner|\w+er|\w+ist)s?\b",
    r"\b(?:favou?rite|a (?:real )?hit|in droves|all over (?:it|this))\b",
    r"\b(?:popular|loved|well-liked) (?:with|among|amongst|choice|plan|option|product|policy|cover)\b",
    r"\b(?:your )?neighbou?rs\b.{0,40}\b(?:have|took|bought|got|signed)",
    # Social proof from the agent's own calls: "every new parent I talk to ...".
    rf"\b(?:{_PEOPLE}|every (?:[\w-]+ )?(?:one|person|parent|driver|customer|client|family|nurse|teacher|homeowner"
    r"|worker|traveller|traveler|mum|mom|dad|couple|\w+er|\w+ist)) (?:that )?(?:i|we) (?:\w+ )?(?:talk|speak|deal|work) (?:to|with)\b",
    r"\b(?:a|one|the|this|that|recent|big|major|new|latest) (?:\w+ )?(?:study|survey|report|poll|analysis|trial)"
    r"(?: \w+)? (?:found|finds|shows?|showed|proves?|proved|says|said|suggests?|suggested|revealed?)\b",
    r"\b(?:lowest|highest|fewest|best) (?:\w+ )?(?:complaints?|complaint rates?|claims? ratios?|satisfaction|ratings?|reviews?)\b",
    r"\b(?:than|of) (?:any|all|every) (?:other )?(?:insurers?|providers?|compan(?:y|ies)|firms?|competitors?)\b",
    r"\bout(?:sells?|sold|selling|numbers?)\b", r"\b(?:two|three|four|five|six|seven|eight|nine|ten|\d+) to one\b",
    r"\b(?:gravitate|flock|gravitating|flocking) (?:to|towards)\b",
    rf"\b(?:{_NUMBER_WORDS}|hundreds|thousands|millions)(?:[- ](?:of|{_NUMBER_WORDS}))* (?:of )?(?:our )?{_COUNTED}\b",
    r"\b(?:it'?s|it has|has|have) been (?:shown|proven|found)\b", r"\bexperts? (?:agree|recommend|reckon|believe|advise)",
    r"\brate[sd]? us\b", r"\bout of (?:five|ten|5|10)\b", r"\bfastest[- ]growing\b", r"\bmore than anyone else\b",
)

_STAT_OK = rx(r"\b(?:people|customers|callers|folks) (?:\w+ )?ask (?:me )?(?:that|this|the same)",
              # The caller's household said back: "you said there are three drivers in the house".
              r"\byou (?:said|mentioned|told me)(?: that)? there (?:are|were|'re|'d be) (?:\w+ )?(?:drivers|people|kids|children|adults)\b",
              r"\b(?:don'?t|do not) have (?:any )?(?:figures|statistics|stats|numbers|data) (?:like that|on that|for that|on what|about what|on how many|on which)\b",
              r"\b(?:can'?t|cannot|couldn'?t|could not|won'?t|wouldn'?t|don'?t|do not|not able to|unable to) (?:\w+ )?(?:tell you|say|share|know|give you)\b.{0,12}\b(?:what|how many|which|whether|if)\b")

# -- false urgency ------------------------------------------------------------------------------
_ENDING = (r"(?:clos(?:e|es|ed|ing)|end(?:s|ed|ing)?|stop(?:s|ped|ping)?|won'?t (?:survive|last|hold|be around)|finish(?:es|ed|ing)?|pull(?:s|ed|ing)?|withdraw\w*"
           r"|repric\w*|releas\w*|laps\w*|will have gone|gone|vanish\w*|disappear\w*|cut-?off|self-destruct\w*|shut\w*)")
_WHEN = (r"(?:today|tonight|tomorrow|this (?:afternoon|evening|morning|weekend|week)|(?:at|by) (?:\w+ )?o'?clock|lunchtime"
         r"|in (?:an|one|\w+) (?:hour|minute)s?|next (?:week|month)|(?:on |by |this )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
         r"|(?:at |by )?the end of the (?:day|week|month)|midnight)")
"""An offer's end (_ENDING) near a time (_WHEN) is urgency: "applications close on Friday"."""
_URGENCY = rx(
    r"\b(?:today|tonight|this week|this month|this weekend|this call|right now) only\b",
    r"\bonly (?:\w+ )?(?:today|tonight|this week|on this call|for today|until|till|while)",
    r"\b(?:offer|deal|discount|price|rate|promotion|window|spot|place|opportunity)s? "
    r"(?:\w+ )?(?:ends?|expires?|closes?|runs? out|(?:is|are) ending|won'?t last|disappears?|goes? away|(?:is|are) gone)",
    r"\bexpir(?:es|ing)\b", r"\blimited[- ]time\b", r"\blast chance\b", r"\bnow or never\b",
    r"\bact (?:now|fast|quickly|today)\b", r"\bhurry\b", r"\bdon'?t (?:wait|delay|miss|hesitate|leave it)",
    r"\b(?:decide|sign(?: up)?|buy|commit|lock (?:it |this |that )?in|apply|purchase|say yes|get (?:it|this) (?:done|sorted)|confirm)"
    r" (?:\w+ )?(?:right )?(?:now|today|tonight|immediately|straight away|right away|before)\b",
    r"\bbefore it'?s too late\b", r"\btoo late\b", r"\bbefore (?:the )?(?:price|prices|rates|premiums|offer|deadline|midnight|friday|monday|tomorrow|the end of)",
    r"\b(?:price|prices|premiums?|rates?|cost)s? (?:\w+ ){0,4}(?:go(?:es|ing)? up|rise|rising|increase|increasing|jump|double|will be higher|change)"
    r" (?:\w+ ){0,2}(?:tomorrow|next|soon|after|from|at|on|by|this|when|if you wait|shortly|any day)",
    r"\b(?:only|just) (?:a few|\w+|a handful of|a couple of|limited) (?:places|spots|slots|policies|openings|plans|spaces|left|remaining)",
    r"\b(?:places|spots|slots|policies|spaces) (?:are )?(?:left|remaining|filling|running out|going fast)",
    r"\brunning out\b", r"\bgoing fast\b", r"\bwhile (?:stocks|supplies|spots|places|it) lasts?\b",
    r"\bdeadline\b", r"\bby (?:midnight|tonight|end of (?:day|today|the day)|tomorrow|friday|the weekend)\b",
    r"\bin the next (?:hour|half (?:an )?hour|few (?:hours|minutes)|\w+ (?:minutes|hours))\b", r"\bfor the next (?:hour|half (?:an )?hour|few (?:hours|minutes)|\w+ (?:minutes|hours))\b",
    r"\bwon'?t (?:be (?:available|offered|around|here)|get this (?:price|rate|offer)|see this again|last)",
    r"\bthe longer you wait\b", r"\bevery day (?:you wait|without)\b", r"\bcan'?t afford to wait\b",
    r"\b(?:need|have|got) to (?:decide|act|move|sign|commit|choose)(?: \w+)? (?:now|today|quickly|fast|soon|immediately)",
    r"\bsoon(?:er)? (?:rather than later|before)\b", r"\b(?:exclusive|special) (?:offer|deal|price|rate|discount)\b",
    r"\bdiscount\b", r"\bsale ends\b", r"\bclock(?:'s| is) ticking\b",
    r"\b(?:gets?|could be|can be|might be) (?:pulled|withdrawn|taken away|taken off)\b", r"\bwhile (?:it'?s|it is) (?:still )?(?:on offer|available|going|there)\b", r"\btime is running\b", r"\bpending increase\b",
    r"\bmiss out\b", r"\b(?:until|till) (?:the end of (?:the |this )?(?:day|week|month|today|call)|tonight|tomorrow|midnight|friday|monday)\b",
    r"\bthen it'?s gone\b", r"\b(?:start|begin|do it|get (?:it|this) (?:done|started)) (?:right )?now\b",
    r"\b(?:waited|wait) too long\b", r"\bcaught out\b", r"\bwhile you (?:still )?can\b(?!'t| ?not)", r"\bonce (?:it'?s|they'?re) gone\b",
    r"\b(?:extremely |very )?limited (?:this|places|spots|availability|time)|\bavailability is (?:\w+ )?limited\b",
    r"\b(?:about to|going to|set to) (?:lapse|expire|end|close|tighten|change|go up|rise|jump|increase|soar|climb|double|shoot up)\b", r"\b(?:shuts|freezes?|closes) (?:on|at|when)\b",
    r"\b(?:no time to|wouldn'?t|shouldn'?t|can'?t afford to|don'?t) (?:\w+ )?(?:hang about|hang around|sleep on (?:it|this|that)|think it over|shop around)\b",
    r"\bcan'?t afford to (?:wait|delay|hold off|dither|put (?:it|this|that) off|sleep on|mull|leave (?:it|this))",
    r"\bmake (?:your mind up|up your mind)(?: \w+)? (?:on this call|now|today|tonight|right now|before)\b",
    r"\bif (?:we|you) (?:don'?t|do not) (?:do|sign|decide|go ahead with|sort|get) (?:it |this |that )?(?:\w+ )?(?:today|now|tonight|on this call)\b",
    r"\bthe sooner you (?:sign|decide|commit|apply|buy|get|start|lock|act|go ahead)\b.{0,25}\bbetter\b",
    r"\b(?:might|may|could) not be (?:available|around|on offer|offered|open) (?:for )?(?:much|very|a lot)? ?longer\b", r"\ba rush on\b",
    r"\bjump on (?:it|this|that)\b", r"\b(?:better|best) (?:jump|get in|move) (?:on it|quick|fast|before)\b",
    r"\b(?:mad|crazy|daft|foolish|silly|nuts|bonkers|insane) (?:not )?to (?:wait|delay|hold off|leave it|put it off|miss)",
    r"\b(?:price|prices|premiums?|rates?|cost)s? (?:\w+ ){0,2}(?:jumps?|rises?|increases?|goes up|go up|climbs?|doubles?)"
    r" (?:\w+ ){0,2}(?:in|from|come|by|after) (?:january|february|march|april|may|june|july|august|september|october|november|december|the new year|spring|summer|autumn|fall|winter)\b",
    r"\b(?:yes|decision|answer) (?:from you )?right now\b",
    r"\b(?:complete|finish|done|sign\w*|commit\w*)\b(?: \w+){0,3} on this call\b", r"\bonly (?:for|on) this call\b",
    r"\bonce (?:i|you|we) (?:put the phone down|hang up|end (?:this|the) call)\b", r"\bwhen (?:i|we) end (?:this|the) call\b",
    r"\buse[- ]it[- ]or[- ]lose[- ]it\b", r"\b(?:might not|may not|won'?t) (?:be|get) another chance\b",
    r"\bbefore it (?:shifts|changes|moves|goes up)\b", r"\bwaiting\b.{0,25}\bcould cost you\b",
    r"\b(?:able to )?offer (?:it|this) (?:again|tomorrow)\b", r"\bback to (?:the )?full price\b",
    r"\bhold (?:it|this|that|the|your)? ?(?:quotes?|price|rate|offer)? ?(?:until|till|for) (?!you\b|as long)",
    # An offer said to end with the call or the day: "if we end the call without
    # signing, I can't hold this quote", "I won't be able to offer it again".
    r"\b(?:if|once|when|after) (?:we|you|i) (?:end|finish|hang up|put the phone down|leave it|get off)\b.{0,50}"
    r"\b(?:can'?t|cannot|won'?t|lose|gone|no longer|not be able|unable)",
    r"\b(?:if|once|when) (?:we|you|i) (?:end|finish|hang up|put the phone down|get off)(?: \w+){0,3} without (?:signing|deciding"
    r"|committing|buying|agreeing|going ahead|a decision|saying yes)",
    r"\b(?:(?:can'?t|cannot|won'?t be able to|will not be able to|not be able to|unable to) |not sure (?:i|we)(?:'ll| will| can) (?:be able to )?)"
    r"(?:\w+ ){0,2}(?:offer|hold|keep|give you|get you|do|guarantee) (?:\w+ ){0,3}(?:again|tomorrow|later|after (?:today|this call)|next time)\b",
    r"\b(?:today|tonight|this)(?:'s| is) (?:the|your) (?:last|final) (?:day|chance|time|opportunity)\b", r"\blast day\b",
    r"\b(?:while|whilst|as long as) (?:we'?re|we are|you'?re|you are|i'?m|i am) (?:still )?on the (?:phone|call|line)\b",
    # An ending with a time on it: "applications close on Friday", "the deal stops at five".
    rf"\b{_ENDING}\b.{{0,40}}\b{_WHEN}", rf"\b{_WHEN}.{{0,30}}\b{_ENDING}\b",
    # Scarcity: "nearly sold out", "we're capping sign-ups", "a waiting list".
    r"\b(?:sold out|sell(?:ing)? out|limited (?:batch|number|supply|stock|places|intake)|capping|stop taking|last few (?:places|spots|slots|policies|applications|openings|spaces)|waiting list"
    r"|back of (?:a|the) (?:\w+ )*queue|lose your (?:place|spot)|could run out|nearly at capacity|at capacity)\b",
    # A decision demanded now: "I need a yes or a no right now", "decide on this call".
    r"\byes or (?:a )?no\b.{0,20}\b(?:now|today|this call)\b", r"\bdecide\b.{0,20}\b(?:on this call|right now|today|tonight)\b",
    r"\b(?:has|have|needs?) to be (?:right )?now\b", r"\bquick decision\b",
    r"\b(?:can'?t|cannot|won'?t be able to|unable to) (?:hold|keep|save) (?:this|the|that|your) (?:quote|price|rate|premium|offer)",
    r"\bkeep (?:this|the|that|your) (?:quote|price|rate|premium|offer) open\b", r"\b(?:let'?s|shall we) not (?:delay|wait|hang about|hang around)\b",
    r"\b(?:get moving|push ahead|push on with it)\b", r"\b(?:flash|summer|winter|spring|holiday|weekend) (?:sale|deal|offer)\b",
    r"\bone-?time offer\b", r"\bbefore (?:we|you|i) (?:hang up|end (?:the|this) call|put the phone down|get off the (?:phone|line))",
    r"\b(?:close to|nearly at|almost at|reached) (?:our|the) (?:cap|limit|quota)\b", r"\bbefore you know it\b.{0,30}\b(?:price|rate|premium|cost)s?\b",
)
_URGENCY_OK = rx(r"\bwhether you (?:\w+ )?(?:now|today) or\b", r"\bnow or later\b", r"\bno (?:rush|hurry|pressure|deadline|time limit|(?:special )?(?:deal|offer|discount))",
                  r"\bthere isn'?t one\b", r"\bnot (?:in )?a (?:rush|hurry)", r"\btake (?:your|all the) time",
                  r"\bwhenever (?:you|suits)", r"\bin your own time\b",
                  r"\b(?:don'?t|do not|never) (?:feel|think) (?:that )?you (?:need|have|ought) to\b",
                  # The caller's own aim, said back: "I know you're keen to get it sorted before ...".
                  r"\b(?:i know|i understand|i hear|i get that|i see|since|as) you(?:'re| are)? (?:really )?"
                  r"(?:keen|hoping|eager|want|wanting|need|looking|'d like|would like)\b")

# -- denying being an AI ------------------------------------------------------------------------
_AI_WORDS = r"(?:ai|a\.i\.|artificial intelligence|bot|robot|chatbot|machine|computer|program|recording|automated|virtual|assistant|software)"
_DENIES_AI = rx(
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

# -- leaks of instructions or thought ---------------------------------------------------------
_LEAK = rx(
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
    r"\bthought process\b", r"\bmy (?:goal|aim|target|mission|objective|job) (?:here |today |on this call |with you )?is to (?:get|sell|move|push|close|upsell|convert|land|sign)\b",
    r"\b(?:i should|i'?d better|i need to|i'?m going to|let me) (?:move|get|switch|steer|push|shift|nudge) you (?:on ?to|over to|towards|into)\b",
    r"\bmy next (?:move|step|tactic|play|question|trick)\b", r"\bscripted\b", r"\bobjection handler\b", r"\b(?:sales|strategy|product|persona|pitch) (?:matrix|table|grid|map|sheet)\b",
    r"\b(?:i should|i'?d better|i need to|time (?:for me )?to|let me|i'?m going to) (?:pivot|steer|redirect|upsell|switch the pitch|push)\b",
    r"\bempathy (?:line|statement|step|bit|script)\b", r"\b(?:reasoning(?: step)?|analysis|note to self|internal note|strategy|objective|next action)\s*:", r"\bour (?:\w+ )?(?:playbook|rulebook|call script|sales script|system prompt|instructions)\b",
    r"\b(?:pivot(?:ing)?|steer(?:ing)?|redirect(?:ing)?|upsell(?:ing)?) (?:you|the conversation|this call|the call)\b",
    r"\b(?:people|callers|workers|those|folks) in your (?:sector|line of work|occupation|industry|profession|job)"
    r" (?:are|tend|usually|often)\b[\w ]{0,30}\b(?:likely|interested|buy|take)",
    r"\b(?:isic|chitchat|chit-chat template|caller state|rapport[- ]building (?:phase|step|stage)|pivot template|continue template|confirm template)\b",
    r"\b(?:my|the) (?:rules|instructions|guidelines) (?:say|tell|are|include|state)",
    r"\bi(?:'m| am) not allowed to (?:tell|say|reveal|share)\b[\w ]{0,20}\b(?:because|but)\b",
    r"\binternal(?:ly)? (?:\w+ )?(?:notes?|guidance|strategy|data|instructions|rules|labels?|classification|status|score|tags?|flags?|playbook|script|jargon|terms?|names?)",
    r"\b(?:keep|kept) (?:my )?(?:replies|answers|responses) (?:short|brief)\b",
    r"\b(?:i(?:'ve| have)? )?(?:classified|labelled|labeled|tagged|flagged|marked|categori[sz]ed) you\b",
    r"\b(?:your|the caller'?s?) (?:sector|segment|persona|profile|category) (?:is|was|=)\b",
    r"\bthe (?:company|system) (?:wants|told|instructs|asks) me to\b",
    r"\b(?:here(?:'s| is| are)|let me (?:read|share|show|recite)) (?:my|the) (?:\w+ )?(?:instructions|prompt|rules|script|playbook)",
    r"\b(?:i'?m|i am|i'?ve been|i was|they'?ve|they have|they) (?:\w+ )?(?:configured|set (?:me )?up|built (?:me )?|designed|programmed|trained|told|instructed|asked) (?:me |us )?(?:not )?to\b",
    r"\b(?:marked|tagged|flagged|classed|classified|scored|listed|logged) (?:you )?as (?:a |an )?(?:\w+ )?(?:buyer|lead|prospect|target)\b",
    r"\b(?:i'?m|i am) (?:\w+ )?(?:supposed|meant|required|expected) to (?:say|tell|create|make|sound|avoid|stress|emphasi[sz]e|play|use"
    r"|find|lean|pretend|talk|close|convert|pitch|drop|hint|frame|position|plant|raise|play up|play down)\b",
    r"\b(?:warm|hot|cold) lead\b",
    r"\b(?:campaign|call|training|sales|internal|briefing|coaching) (?:notes?|guide|script|data|brief)\b",
    r"\bthe (?:rules|script|playbook|guide|notes|instructions|prompt|logic|flow|framework|persona|role|character|brief|tone|style"
    r"|personality|approach|angle|line|tactic|technique)s? (?:that )?(?:i|we|they)(?:'ve| have| was| were|'m| am)? (?:been )?(?:\w+ )?"
    r"(?:run on|follow|following|work from|use|using|given|gave me|asked|told|assigned|playing|taking|got)\b",
    r"\b(?:the )?(?:script|playbook|flow|rulebook|call guide|decision tree|objection library) (?:says|tells|suggests|branch|for)\b",
    r"\b(?:segment|bucket(?:ed)?|lead score|propensity|risk band|conversion (?:model|stats|rate)|flagged as|tagged as)\b",
    r"\bmy (?:developer|operator|evaluator|guardrails?|directive|persona|tone setting|memory|checklist|technique|training|settings?)\b",
    r"\b(?:i'?m|i am) (?:only )?(?:meant|under orders|running|scoring|tracking|following)\b.{0,40}\b(?:to|module|internally|technique|times|step|script|flow)\b",
    r"\b(?:i have|i'?ve got|i(?:'ve)? got|there'?s) a (?:rule|checklist)\b", r"\b(?:decision tree|internal checklist|(?:\w+ )?branch of the script)\b", r"\bnext to your name\b", r"\byour (?:file|record|profile|account)(?:'s| is| has been)? (?:labell?ed|tagged|flagged|marked|noted)\b", r"\brule (?:one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b",
    r"\b(?:briefing|rulebook|output field|internal numbers|thinking step|hidden thought|behind the scenes)\b",
    # The caller spoken of in the third person, or the agent's labels for them.
    r"\b(?:this|the) (?:caller|prospect|lead)\b", r"\bclassification\b", r"\bclass(?:ed|ified) you\b",
    r"\b(?:my|an?|the) (?:internal )?profile (?:of|on|for) you\b", r"\bobjections? by\b|\bobjection[- ]handling\b|\bhandle objections\b",
    r"\bnotes? (?:from|on|about) (?:your|our|the) (?:last|previous|earlier) call", r"\bnote (?:here )?(?:saying|that says|telling me)\b",
    r"\b(?:guidelines|guidance|instructions|rules|script|notes) (?:i was|i've been|i have been|i got|they) given\b", r"\bmy (?:\w+ )?guidance\b",
    r"\bwhat i was told\b", r"\bi was told(?: to|:)", r"\bput (?:you )?down (?:internally )?as\b", r"\binternally,? (?:as|i'?ve|we'?ve|you'?re)\b",
)

_LEAK_OK = rx(r"\b(?:read|reading|run|running) (?:through )?(?:my|the) notes back\b",r"\b(?:can'?t|cannot|won'?t|will not|not able to|unable to|don'?t) (?:\w+ )?(?:reveal|share|tell you|disclose|discuss|show|read out|repeat|go into)"
               r" (?:you )?(?:my |the |our |any )?(?:internal |private |hidden )?(?:prompt|instructions|rules|notes|script|setup|configuration|details)",
               # Refusing to disclose names the thing kept back: "I keep my notes private".
               r"\b(?:keep|keeps|kept|stays?|remains?) (?:\w+ ){0,3}(?:private|confidential|to myself|there|internal|behind the scenes)\b",
               r"\b(?:isn'?t|is not|aren'?t|are not) (?:something|anything|things?) (?:that )?i (?:\w+ )?(?:share|reveal|disclose|discuss|go into)")

def harmless(rule: str, text: str) -> bool:
    """Whether ``text`` carries what makes a ``rule`` hit harmless: a negated promise,
    "no rush", an AI disclosure."""
    if rule == "denies_ai":
        return discloses_ai(text)
    if has_frame(text):
        return True  # the head cannot tell what a disowning frame governs: rules read it
    ok = PHRASE_RULES.get(rule, (None, None))[1]
    return ok is not None and ok.search(text) is not None


PHRASE_RULES: dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]] = {
    "promise": (rx(_PROMISE.pattern, _PROMISE_SURE.pattern), _PROMISE_OK),
    "invented_statistic": (_STAT, _STAT_OK),
    "false_urgency": (_URGENCY, _URGENCY_OK),
    "denies_ai": (_DENIES_AI, None),
    "leak": (_LEAK, _LEAK_OK),
}
"""Category → (pattern, pattern that makes a clause harmless); compiled once."""


def phrase_rules() -> dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]]:
    """Category → (pattern, pattern that makes a clause harmless)."""
    return PHRASE_RULES


