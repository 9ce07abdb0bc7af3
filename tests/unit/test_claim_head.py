"""The learned claim head: training with out-of-fold numbers, sha256-stamped files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.claim_head import load_head
from models.embed import FakeEmbedder
from models.errors import ConfigError, IntegrityError
from optimizer.claim_head import train_head

PROMISES = ["you will definitely be approved", "your claim will surely be paid",
            "approval is certain for you", "I promise it pays out every time"]
OK = ["how is your week going", "what do you do for work", "tell me about your family",
      "do you travel much these days", "would a short summary help", "is now a good time"]


def write_rows(tmp_path: Path) -> Path:
    rows = [{"text": t, "label": "promise"} for t in PROMISES * 3]
    rows += [{"text": t, "label": "ok"} for t in OK * 3]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_training_reports_out_of_fold_numbers_and_the_head_flags_its_category(
    tmp_path: Path,
) -> None:
    embedder = FakeEmbedder(dim=32)
    head, report = train_head(embedder, [write_rows(tmp_path)], folds=3, max_fp=0.0)
    assert report["cv_false_positive_rate"] == 0.0
    assert set(report["cv_recall"]) == {"promise"}
    assert head.flag("you will definitely be approved")[0][0] == "promise"
    assert head.flag("how is your week going") == []


def test_a_saved_head_loads_and_a_tampered_one_is_refused(tmp_path: Path) -> None:
    embedder = FakeEmbedder(dim=32)
    head, _ = train_head(embedder, [write_rows(tmp_path)], folds=3)
    path = tmp_path / "head.json"
    head.save(path)
    again = load_head(path, embedder)
    [(rule, p)] = again.flag(PROMISES[0])
    assert rule == head.flag(PROMISES[0])[0][0]
    assert p == pytest.approx(head.flag(PROMISES[0])[0][1], abs=1e-4)  # weights kept to 1e-6
    body = json.loads(path.read_text())
    body["threshold"] = 0.01
    path.write_text(json.dumps(body))
    with pytest.raises(IntegrityError, match="sha256"):
        load_head(path, embedder)


def test_the_word_features_are_part_of_the_heads_identity(tmp_path: Path) -> None:
    embedder = FakeEmbedder(dim=32)
    head, _ = train_head(embedder, [write_rows(tmp_path)], folds=3, words=True)
    plain, _ = train_head(embedder, [write_rows(tmp_path)], folds=3, words=False)
    assert head.weights.shape[1] > plain.weights.shape[1] == 32
    path = tmp_path / "head.json"
    head.save(path)
    assert load_head(path, embedder).words
    body = json.loads(path.read_text())
    body["words"] = False  # same weights read as another function: refused
    path.write_text(json.dumps(body))
    with pytest.raises((IntegrityError, ConfigError)):
        load_head(path, embedder)


def test_a_missing_or_malformed_head_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_head(tmp_path / "none.json", FakeEmbedder())
    bad = tmp_path / "bad.json"
    bad.write_text('{"classes": ["ok"]}')
    with pytest.raises(ConfigError, match="malformed"):
        load_head(bad, FakeEmbedder())
