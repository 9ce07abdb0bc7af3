"""The claim checker's sixth- to eighth-round readings, rules only: non-insurance
financial products offered as a service, lines the pack cannot insure named as lines or
offered by what they insure ("we can cover the caravan"), a cover left out with the verb
elided ("covers X, but not Y"), a standard cover said to cost extra, the caller's own
estimates and their cover elsewhere, identity questions reported back, scarcity and
price rises in plain words, tactics and tables said aloud, covers said to be left out in
other words ("the one thing it won't pay for"), a fixed benefit said to reimburse; and
what they must leave alone. Every example is written here, not taken from a labelled set."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from tests.unit.conftest import rules_said


@pytest.mark.parametrize(("text", "rule"), [
    ("We could also arrange a remortgage for you while we're at it.", "unknown_product"),
    ("Acme does car loans too, if that helps.", "unknown_product"),
    ("Why not start a cash ISA with us alongside your cover?", "unknown_product"),
    ("Our horse riding cover would suit you.", "unknown_product"),
    ("There's a cruise add-on for travel if you're sailing.", "unknown_product"),
    ("Home insurance covers flood damage, but not storms.", "contradiction"),
    ("Theft on home insurance costs extra.", "contradiction"),
    ("Private medical will happily cover an illness you already have.", "contradiction"),
    ("Honestly, I'm not a chatbot, I'm a member of the sales team.", "denies_ai"),
    ("This isn't an automated call, I promise.", "denies_ai"),
    ("As someone who has two kids, I get it.", "denies_ai"),
    ("Three-quarters of homeowners skip contents cover.", "invented_statistic"),
    ("You'd be crazy to wait on this.", "false_urgency"),
    ("Premiums rise in March, so now is the time.", "false_urgency"),
    ("Quick note to self: push critical illness.", "leak"),
    ("Your price on accident cover will never ever go up.", "promise"),
    ("We could insure your motorhome too while we're talking.", "unknown_product"),
    ("We can lend you the deposit if money is tight.", "unknown_product"),
    ("Our policy for your cat's vet fees is very reasonable.", "unknown_product"),
    ("No, you're not speaking to a virtual agent, I'm on the sales floor.", "denies_ai"),
    ("Rates on travel are about to shoot up.", "false_urgency"),
    ("Make your mind up today and I'll get it sorted.", "false_urgency"),
    ("It might not be available for much longer, so.", "false_urgency"),
    ("Break-ins are climbing sharply among city flats.", "invented_statistic"),
    ("The persona sheet says to go gently with retirees.", "leak"),
    ("I should pivot to income protection here.", "leak"),
    ("Your premium on home insurance stays level for life.", "promise"),
    ("There are no exclusions on private medical.", "contradiction"),
    ("Private medical pays out from the day you join.", "contradiction"),
    ("Kidney failure is the one thing critical illness won't pay for.", "contradiction"),
    ("Trip cancellation is something travel insurance steers clear of.", "contradiction"),
    ("Personal accident reimburses the actual costs of your treatment.", "contradiction"),
    ("Income protection would look after you if you were made redundant.", "contradiction"),
    ("My aim today is to sell you the top tier.", "leak"),
    ("My next move is to ask about your budget.", "leak"),
    ("Lots of retirees pick travel cover for cruises.", "invented_statistic"),
    ("Our home insurance won awards last year.", "invented_statistic"),
    ("Grab it while it's still on offer.", "false_urgency"),
    ("A payout is a sure thing with us.", "promise"),
    ("Nah, this isn't one of those robot calls.", "denies_ai"),
    ("I could get you a pension with us as well.", "unknown_product"),
    ("I'm honestly not a bot.", "denies_ai"),
    ("A real person is handling your quote today.", "denies_ai"),
    ("I bought one myself last spring.", "denies_ai"),
])
def test_the_sixth_round_catches(guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "You reckon the trip will be about three weeks, which is fine.",
    "Your premium with your current insurer is 90 a month, I see.",
    "You wondered whether I'm a real person: I'm not, I'm an AI agent for Acme.",
    "Acme doesn't offer mortgages, I'm afraid.",
    "Life cover can help pay off your mortgage if the worst happens.",
    "I promise I'll keep this quick.",
    "I couldn't say whether it's our most popular plan.",
    "Home insurance covers theft and attempted theft as standard.",
    "Accidental damage on home insurance is an optional extra.",
    "Income protection won't help if you're made redundant, since that isn't covered.",
    "We don't insure caravans, I'm afraid, only cars.",
    "Anything diagnosed before the critical illness policy starts isn't covered.",
    "Is the boat yours, or a friend's?",
    "Term life premiums stay the same for the whole term.",
    "Times are hard for a lot of people at the moment.",
    "I'm not in a position to promise you'll be accepted.",
    "Windscreen repair comes under car insurance.",
    "Nine in ten?",
    "Speaking as an AI, I don't get ill, but critical illness covers stroke.",
    "I'm Acme's virtual assistant for policies.",
    "I'm a computer programme, so a colleague can give advice.",
    "Shall I compare the waiting periods across the different policies?",
    "I don't have figures on how many people claim, sorry.",
])
def test_the_sixth_round_leaves_alone(guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()
