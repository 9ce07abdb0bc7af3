"""A/B variants: which arm a call gets, drawn by weight from a hash of the caller id."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from agent.compliance import normalize_caller_id


def assign_variant(
    caller_id: str | None, variants: Mapping[str, float], *, call_id: str | None = None
) -> str | None:
    """The A/B variant of a call, drawn by weight from a sha256 of the caller id.

    The same caller gets the same variant in every process and every run (the id is
    normalized first, so "+1 555-0100" and "+15550100" agree). A call without caller id
    is keyed by ``call_id`` instead: deterministic for that call, independent of the
    person. Returns None when no variants are configured. Config order does not matter.
    """
    if not variants:
        return None
    check_weights(variants)
    if caller_id is not None and caller_id.strip():
        key = "caller:" + normalize_caller_id(caller_id)
    elif call_id is not None:
        key = "call:" + call_id
    else:
        raise ValueError("assign_variant needs a caller id or, failing that, a call id")
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    names = sorted(n for n, w in variants.items() if w > 0)
    total = sum(variants[n] for n in names)
    edge = 0.0
    for name in names:
        edge += variants[name] / total
        if u < edge:
            return name
    return names[-1]  # u just below 1 and rounding left the last edge below it


def check_weights(variants: Mapping[str, float]) -> None:
    """Raise ValueError unless every weight is finite and >= 0, and one is > 0."""
    weights = variants.values()
    if variants and (
        any(not math.isfinite(w) or w < 0 for w in weights) or not any(w > 0 for w in weights)
    ):
        raise ValueError(f"variant weights must be finite, >= 0, not all 0: {dict(variants)}")
