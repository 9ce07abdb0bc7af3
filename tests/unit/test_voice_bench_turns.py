"""The turn-end bench's pure parts: splicing pauses at word boundaries and counting
false cut-ins per corpus."""

from __future__ import annotations

import numpy as np

from models.asr.base import Word
from voice.bench_turns import runs_of, summarise


def speech_with_words() -> tuple[np.ndarray, list[Word]]:
    rng = np.random.default_rng(0)
    loud = (rng.standard_normal(8000) * 3000).astype(np.int16)  # 0.5 s of "speech"
    quiet = (rng.standard_normal(1600) * 30).astype(np.int16)  # 0.1 s between words
    pcm = np.concatenate([loud, quiet, loud, quiet, loud])
    words = [Word(" one", 0.0, 0.5, 1.0), Word(" two", 0.6, 1.1, 1.0),
             Word("-three", 1.2, 1.7, 1.0)]  # joined to the word before: no splice there
    return pcm, words


def test_a_pause_is_spliced_into_the_gap_of_each_boundary_between_spoken_words() -> None:
    pcm, words = speech_with_words()
    runs = runs_of("clip", pcm, words, [0.5, 0.9])
    assert [(r.after, r.pause_s) for r in runs] == [(None, 0.0), (0, 0.5), (0, 0.9)]
    spliced = runs[2]
    assert 0.5 <= spliced.pause_at <= 0.6  # in the quiet gap, not inside a word
    assert spliced.true_end == 1.7 + 0.9
    assert len(spliced.pcm) == len(runs[0].pcm) + round(0.9 * 16000)


def record(corpus: str, after: int | None, cut: bool, delay: float | None) -> dict[str, object]:
    return {"corpus": corpus, "after": after, "pause_s": 0.5 if after is not None else 0.0,
            "rule": {"cut_at_splice": cut, "cut_elsewhere": 0, "delay_s": delay,
                     "final_reason": "early" if delay is not None else None}}


def test_cut_ins_and_delays_are_counted_over_the_runs_given() -> None:
    records = [record("a", None, False, 0.3), record("a", 0, True, 0.3),
               record("a", 1, False, 0.9), record("b", 0, False, None)]
    s = summarise(records, "rule", [0.5], natural_pauses=2)
    assert s["cut_at_spliced_pause"] == {"0.5": [1, 3]}
    assert s["cut_at_natural_pause"] == [0, 2]
    assert s["undecided_runs"] == 1
    assert s["final_reasons"] == {"early": 3, "none": 1}
