"""What the insurance pack's products insure: each object people name, and the one product
that insures it, or none. Pure data."""

from __future__ import annotations

INSURER: dict[str, str | None] = {
    # What one product alone insures: a clause about "your house" speaks of Home Insurance
    # when it names no product.
    "car": "auto", "vehicle": "auto", "house": "home", "home": "home", "flat": "home",
    "break-in": "home", "comprehensive": "auto", "third-party": "auto", "burglar(?:y|ies)": "home",
    "telly": "home", "tv": "home", "sofa": "home", "furniture": "home", "jewellery": "home",
    "belongings": "home", "trip": "travel", "abroad": "travel", "luggage": "travel",
    "baggage": "travel", "flight": "travel", r"life (?:premium|cover|policy|plan)": "term_life",
    # What no product insures: offered as a service ("we can cover the caravan too", "we do
    # motorbikes as well"), it is a line the company does not sell.
    **dict.fromkeys((
        "boats?", "yachts?", "caravans?", "motor ?homes?", "camper ?vans?", "motorbikes?",
        "motorcycles?", "scooters?", "bikes?", "bicycles?", "dogs?", "cats?", "pets?", "horses?",
        "ponies", "pony", "phones?", "gadgets?", "drones?", "holiday lets?", "second homes?",
        "rental propert(?:y|ies)", "(?:your )?business(?:es)?", "shop", "wedding",
        "vet(?:'s)? (?:bills|fees)", "ducati", "harley"), None),
}
"""An object's word (a pattern) → the id of the one product that insures it, None when no
product does. A product's words are read with a plural "s" too; the uninsured spell out
their own plurals ("shop" takes none)."""
