"""The turn-completion head: its features, examples built from caller lines, training with
out-of-fold thresholds, sha256-stamped files (the packaged one included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.embed import FakeEmbedder
from models.errors import ConfigError, IntegrityError
from optimizer.turn_head import evaluate, examples, read_lines, render, train_turn_head
from voice.endpoint import DEFAULT, NO_WORDS, TAIL_BUCKETS, TurnHead, load_turn_head, tail

LINES = [
    "what does it cost per month", "can you call me back tomorrow please",
    "I'd like travel cover for my family", "no thanks I am not interested at all",
    "yes I have a minute to talk now", "how much is the accident cover",
    "send me the details by email please", "I work as a nurse at the hospital",
    "is there a waiting period before I claim", "we already have a policy with them",
    "my wife deals with the insurance usually", "could you explain the excess again",
]


def write_lines(path: Path, lines: list[str], key: str = "caller") -> Path:
    path.write_text("".join(json.dumps({key: line, "other": 1}) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TurnHead, dict[str, Any]]:
    """One training run on a fake embedder, shared by the tests that only read it."""
    source = (write_lines(tmp_path_factory.mktemp("turn") / "lines.jsonl", LINES), "caller")
    return train_turn_head(FakeEmbedder(dim=16), [source], folds=3)


def test_tail_features_flag_the_final_mark_and_hash_the_last_words() -> None:
    period, bare = tail("I'd like to know about."), tail("i'd like to know ABOUT")
    # The same last words, whatever the case or the mark.
    np.testing.assert_array_equal(period[:TAIL_BUCKETS], bare[:TAIL_BUCKETS])
    assert np.linalg.norm(period[:TAIL_BUCKETS]) == pytest.approx(1.0)
    assert not np.array_equal(period[TAIL_BUCKETS:], bare[TAIL_BUCKETS:])
    assert not np.array_equal(tail("know about...")[TAIL_BUCKETS:],
                              tail("know about.")[TAIL_BUCKETS:])
    assert tail("five")[TAIL_BUCKETS:].sum() == 2.0  # one mark flag, one length flag


def test_prefixes_are_unfinished_unless_cut_at_a_sentence_end() -> None:
    rows = examples(["Yes. I want the travel cover", "what does it cost?"], seed=1,
                    prefixes=10)
    labels = {(r.text.rstrip(".,?"), r.complete) for r in rows}
    assert ("Yes", True) in labels  # cut after "Yes.": a finished sentence
    assert ("Yes I want the travel cover", False) not in labels
    assert ("Yes. I want the travel cover", True) in labels
    assert ("Yes. I want", False) in labels
    assert all(r.text.endswith("?") for r in rows if r.text.startswith("what does it cost"))
    assert {r.mark for r in rows if not r.complete} <= {"", ".", ",", "..."}
    assert examples(LINES, seed=3) == examples(LINES, seed=3)


def test_render_replaces_the_final_mark_but_keeps_a_question() -> None:
    assert render("no thanks.", ",") == "no thanks,"
    assert render("no thanks", "...") == "no thanks..."
    assert render("is it cheap?", ".") == "is it cheap?"


def test_read_lines_takes_the_named_key_and_drops_repeats(tmp_path: Path) -> None:
    a = write_lines(tmp_path / "a.jsonl", ["hello there", "hello  there", "bye"])
    b = write_lines(tmp_path / "b.jsonl", ["bye", "  "], key="text")
    assert read_lines([(a, "caller"), (b, "text")]) == ["hello there", "bye"]


def test_training_reports_out_of_fold_thresholds_and_separates_lines_from_prefixes(
    trained: tuple[TurnHead, dict[str, Any]],
) -> None:
    head, report = trained
    assert report["lines"] == len(LINES) and report["folds"] == 3
    assert 0.5 <= report["complete_at"] <= 0.99
    assert 0.01 <= report["incomplete_below"] <= 0.5
    assert report["cv_at_thresholds"]["unfinished_taken_as_complete"] <= report["budget"]
    assert head.probability("can you call me back tomorrow please") > \
        head.probability("can you call me back")
    assert head.probability("   ") == NO_WORDS
    result = evaluate(head, LINES[:4], complete_at=0.8, incomplete_below=0.2,
                      train_lines=LINES)
    assert result["lines_also_in_training"] == 4
    assert 0.0 <= result["auc"] <= 1.0
    assert set(result["punctuation"]) == {"unfinished_taken_as_complete",
                                          "finished_taken_as_complete"}


def test_a_saved_head_loads_and_a_tampered_one_is_refused(
    tmp_path: Path, trained: tuple[TurnHead, dict[str, Any]],
) -> None:
    head, _ = trained
    path = tmp_path / "turn.json"
    head.save(path)
    loaded = load_turn_head(path, FakeEmbedder(dim=16))
    text = "what does it cost per month"
    assert loaded.probability(text) == pytest.approx(head.probability(text), abs=1e-4)
    body = json.loads(path.read_text())
    body["fields"]["complete"]["bias"][1] += 1.0
    path.write_text(json.dumps(body))
    with pytest.raises(IntegrityError, match="sha256"):
        load_turn_head(path, FakeEmbedder(dim=16))


def test_a_missing_malformed_or_misfit_head_is_a_config_error(
    tmp_path: Path, trained: tuple[TurnHead, dict[str, Any]],
) -> None:
    with pytest.raises(ConfigError, match="salesvoice turns train"):
        load_turn_head(tmp_path / "none.json", FakeEmbedder(dim=16))
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": {"complete": 3}}')
    with pytest.raises(ConfigError, match="malformed"):
        load_turn_head(bad, FakeEmbedder(dim=16))
    trained[0].save(tmp_path / "turn.json")
    with pytest.raises(ConfigError, match="does not fit"):
        load_turn_head(tmp_path / "turn.json", FakeEmbedder(dim=32))


def test_the_packaged_head_is_intact_and_fits_the_384_wide_embedder() -> None:
    head = load_turn_head(DEFAULT, FakeEmbedder(dim=384))
    assert head.meta["embedder"] != "fake"
    assert set(head.meta["report"]) >= {"complete_at", "incomplete_below", "cv_auc"}

