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
from agent.claim_identity import DENIES_AI, discloses_ai
from agent.claim_leaks import LEAK, LEAK_OK
from agent.claim_products import unknown_products
from agent.numbers import NUMBER_WORDS
from agent.phrases import has_frame, rx

__all__ = ["CATEGORIES", "discloses_ai", "figure_problems", "harmless", "phrase_rules",
           "unknown_products"]

CATEGORIES = ("wrong_figure", "contradiction", "unknown_product", "promise",
              "invented_statistic", "false_urgency", "denies_ai", "leak")


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
            r"|no way\b|not a shadow|can'?t go wrong|nothing can go wrong|no downside|absolutely|honestly(?!,? (?:i )?(?:don'?t|do not|can'?t|cannot|am not|'m not|not|no idea|and|but|so|anyway)\b)|i'?m sure|i'?m confident|a certainty)")
_OUTCOME = (r"(?:pa(?:y|ys|id)|payout|claims?|approv\w*|accept\w*|cover\w*|sav\w*|reimburs\w*|fixed|taken care|sorted"
            r"|safe|protected|money|get(?:ting)? in|go(?:es)? through|declin\w*|reject\w*|turned down|refus\w*|bounce\w*"
            r"|back to you|end up ahead|beat|cheapest|replace\w*|there for|cut|costs?|cheaper|lower|through)")
_PROMISE_SURE = rx(rf"\b{_CERTAIN}\b.{{0,60}}\b{_OUTCOME}", rf"\b{_OUTCOME}\b.{{0,60}}\b{_CERTAIN}",
                   r"\bin the bag\b", r"\bdone deal\b", r"\ba formality\b", r"\bsafe bet\b", r"\bsafe as houses\b",
                   r"\bpays? for itself\b", r"\bcan'?t (?:possibly )?fail\b", r"\bcouldn'?t fail\b",
                   r"\b(?:a thing of the past|won'?t want for anything)\b")
# "I can promise you nothing"-style negations are read by _hits; these are always fine.
_PROMISE_OK = rx(r"\b(?:can'?t|cannot|won'?t|not) (?:\w+ )?(?:promise|guarantee)",
                  r"\bnot (?:going|gonna|able|about|in a position) to (?:\w+ )?(?:promise|guarantee)",
                  r"\bno guarantee", r"\bnot in a position to (?:promise|guarantee|say)\b", r"\bpromise (?:i'?ll|i will|to|we'?ll|it'?ll) (?:keep (?:this|it|things) (?:short|brief|quick)|be (?:quick|brief)|not (?:keep|take|call|ring|bother|pester)|only take)", r"\b(?:not|isn'?t|aren'?t|is not|are not|never) (?:\w+ )?(?:guaranteed|a guarantee|certain|promised)",
                  r"\bguarantee (?:isn'?t|is not)", r"\b(?:can'?t|cannot) (?:say|tell you|be sure|know|predict)",
                  # Said only to be disowned: "I'd be misleading you if I said it was guaranteed".
                  r"\b(?:i'?d|i would|it would|it'?d) be (?:\w+ )?(?:wrong|misleading|lying|dishonest|untrue|unfair) (?:\w+ )?(?:to|if)\b",
                  r"\b(?:i'?d|i would) (?:love|like|want) to (?:say|tell you|promise)\b.{0,40}\bbut\b",
                  r"\b(?:nobody|no one|no-one|no insurer|none of us) (?:can|could|will) (?:honestly )?(?:guarantee|promise|say)",
                  r"\bnothing (?:i|we|anyone) (?:can|could) (?:\w+ )?(?:guarantee|promise)\b",
                  # A promise about the call, or to oneself: "I promise I'll keep it to five minutes".
                  r"\bpromise (?:i'?ll|i will|to) keep (?:it|this) to\b", r"\bpromised (?:myself|my\w*)\b",
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
    r"\bwon'?t (?:be (?:available|offered|around|here)|get this (?:price|rate|offer)|see this again|last|come (?:round|around|back|along) again)",
    r"\b(?:now(?:'s| is)|this is|today is) (?:the|your) (?:moment|window)\b",
    r"\b(?:stricter|tighter|tougher)\b.{0,30}\b(?:from|in|after|next|soon|this)\b",
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
    r"\b(?:price|prices|premiums?|rates?|cost)s? (?:\w+ ){0,2}(?:jumps?|rises?|rising|increas(?:es|ing)|go(?:es|ing)? up|climbs?|climbing|doubles?)"
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
    r"|back of (?:a|the) (?:\w+ )*queue|lose your (?:place|spot)|could run out|(?:nearly |almost )?(?:at|out of) capacity)\b",
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
                  # The caller's no, accepted: "if you decide against it today, that's fine".
                  r"\bdecide (?:against|not to)\b", r"\b(?:let'?s|we(?:'ll| will)?|no need to) not rush\b",
                  r"\bno need to (?:rush|hurry|decide)\b",
                  r"\byou(?:'re| are) in a (?:hurry|rush)\b", r"\byour (?:own )?deadline\b",
                  r"\b(?:don'?t|do not|never) (?:feel|think) (?:that )?you (?:need|have|ought) to\b",
                  # The caller's own aim, said back: "I know you're keen to get it sorted before ...".
                  r"\b(?:i know|i understand|i hear|i get that|i see|since|as) you(?:'re| are)? (?:really )?"
                  r"(?:keen|hoping|eager|want|wanting|need|looking|'d like|would like)\b")

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
    "denies_ai": (DENIES_AI, None),
    "leak": (LEAK, LEAK_OK),
}
"""Category → (pattern, pattern that makes a clause harmless); compiled once."""


def phrase_rules() -> dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]]:
    """Category → (pattern, pattern that makes a clause harmless)."""
    return PHRASE_RULES


