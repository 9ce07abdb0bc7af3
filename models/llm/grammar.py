"""LLGuidance grammars for backends that take them (``Capabilities.grammar``)."""

from __future__ import annotations

import json
from typing import Any


def compact_json_grammar(schema: dict[str, Any]) -> str:
    """An LLGuidance grammar for a schema that carries ``x-guidance`` options: by default
    no optional whitespace at all.

    Every token costs a decode step (about 40 ms here), and left to itself a model
    pretty-prints JSON; compact output reaches the fields that matter sooner. Opt-in,
    because without whitespace to end on, free-form numbers can run on digit after digit.
    """
    options = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
    compact = {**schema, "x-guidance": {**options, **schema.get("x-guidance", {})}}
    return "%llguidance {}\nstart: %json " + json.dumps(compact) + "\n"
