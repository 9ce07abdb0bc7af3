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
    """Corpus WER (errors over reference words) after ``normalise``."""
    return float(jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses]))


def line_wer(reference: str, hypothesis: str) -> float:
    """WER of one line; an empty reference scores 0 if nothing was heard, else 1."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or "<nothing>"))
