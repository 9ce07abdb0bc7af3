"""Shared fixtures of the unit tests."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from agent.domain import load_domain


@pytest.fixture(scope="module")
def guard() -> ComplianceGuard:
    """The claim checker, rules only (no learned head): what the claims tests pin down.
    A module that needs other instructions defines its own ``guard``."""
    return ComplianceGuard(load_domain("insurance"), "", head=None)


def rules_said(guard: ComplianceGuard, text: str) -> set[str]:
    """The rules a whole reply breaks."""
    return {v.rule for v in guard.check_reply(text)}
