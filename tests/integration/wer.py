"""Word error rate with the normalisation usual for English ASR evaluation."""

from __future__ import annotations

import re

import jiwer


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"\bmr\.?\b", "mister", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(text.split())


def wer(references: list[str], hypotheses: list[str]) -> float:
    return float(jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses]))
