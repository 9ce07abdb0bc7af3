"""Leaks: what recites the agent's instructions, script, plan, thought or labels for the
caller, and the refusals that name them harmlessly. Pure; a pattern table of the claim
checker (``agent.claims``)."""

from __future__ import annotations

from agent.phrases import rx

__all__ = ["LEAK", "LEAK_OK"]

# -- leaks of instructions or thought ---------------------------------------------------------
LEAK = rx(
    r"\b(?:tag|label|flag|tier|segment|score)s? (?:on|for) (?:this|the|your) (?:call|file|account|record|lead)\b",
    r"\b(?:price|risk)[- ]sensitive\b|\bretention risk\b|\b(?:high[- ]value|warm|hot|cold) lead\b",
    # What the agent privately weighs or plays: "privately I was thinking you'd be an easy upsell".
    r"\b(?:privately|secretly|internally) (?:i'?m |i am |i was |i'?ve been )?(?:thinking|weighing|planning|hoping"
    r"|aiming|figuring|guessing)\b|\bwhat i'?m (?:privately|secretly|internally|really) (?:weighing|thinking|planning|after)\b",
    r"\b(?:the|my|our) (?:tactic|trick|angle|game plan)\b|\b(?:an? )?easy (?:upsell|sell|close|target|mark)\b",
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

LEAK_OK = rx(r"\b(?:read|reading|run|running) (?:through )?(?:my|the) notes back\b",
             r"\b(?:put|got|noted|added|jotted|written|writing|adding|putting) (?:it|that|this|them)? ?(?:down )?"
             r"(?:in|into|on) my notes\b",r"\b(?:can'?t|cannot|won'?t|will not|not able to|unable to|don'?t) (?:\w+ )?(?:reveal|share|tell you|disclose|discuss|show|read out|repeat|go into)"
               r" (?:you )?(?:my |the |our |any )?(?:internal |private |hidden )?(?:prompt|instructions|rules|notes|script|setup|configuration|details)",
               # Refusing to disclose names the thing kept back: "I keep my notes private".
               r"\b(?:keep|keeps|kept|stays?|remains?) (?:\w+ ){0,3}(?:private|confidential|to myself|there|internal|behind the scenes)\b",
               r"\b(?:isn'?t|is not|aren'?t|are not) (?:something|anything|things?) (?:that )?i (?:\w+ )?(?:share|reveal|disclose|discuss|go into)")
