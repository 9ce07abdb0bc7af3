"""The MADS judge: schema, prompt, acceptance rate, filtering and summary (FakeLLM only)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from agent.dialogue import Dialogue, Outcome, Turn
from models.llm.base import LLMRequest
from models.llm.fake import FakeLLM
from optimizer.judge import (
    METRICS,
    REASON_MAX_CHARS,
    RUBRIC,
    Judge,
    JudgeScores,
    acceptance_rate,
    evaluation_summary,
    excerpt,
    filter_dialogues,
)
from simulator.report import Table, render_markdown


def dialogue(did: str, outcome: Outcome | None = None, lines: int = 2) -> Dialogue:
    turns = []
    for k in range(lines):
        turns.append(Turn(speaker="agent", text=f"Agent line {k} of {did}."))
        turns.append(Turn(speaker="user", text=f"Caller line {k} of {did}."))
    return Dialogue(id=did, source="simulated", program_version="p-test", turns=turns,
                    outcome=outcome)


def scores(mean_each: int = 2, success: bool = False, **fixed: int) -> JudgeScores:
    values: dict[str, object] = {m: fixed.get(m, mean_each) for m in METRICS}
    return JudgeScores(reason="ok", task_success=success, **values)  # type: ignore[arg-type]


def scores_json(**changes: object) -> str:
    body: dict[str, object] = {"reason": "Clear pitch, caller agreed.", "authenticity": 3,
                               "relevance": 2, "consistency": 3, "efficiency": 1,
                               "human_likeness": 2, "task_success": True}
    return json.dumps({**body, **changes})


def test_scores_schema_allows_only_integers_0_to_3_and_a_capped_reason() -> None:
    assert JudgeScores.model_validate_json(scores_json()).mean == pytest.approx(11 / 5)
    for bad in ({"relevance": 4}, {"relevance": -1}, {"relevance": "2"}, {"relevance": 2.5},
                {"task_success": "yes"}, {"reason": "x" * (REASON_MAX_CHARS + 1)},
                {"extra": 1}):
        with pytest.raises(ValidationError):
            JudgeScores.model_validate_json(scores_json(**bad))
    schema = JudgeScores.model_json_schema()
    assert schema["properties"]["reason"]["maxLength"] == REASON_MAX_CHARS
    for m in METRICS:
        assert schema["properties"][m]["enum"] == [0, 1, 2, 3]
    assert schema["properties"]["task_success"]["type"] == "boolean"
    assert schema["additionalProperties"] is False


async def test_judge_prompt_holds_the_rubric_and_the_transcript_and_decodes_to_the_schema(
) -> None:
    llm = FakeLLM([scores_json()])
    d = dialogue("call-1", Outcome.ACCEPTED)
    result = await Judge(llm).score(d)
    assert result.task_success and result.relevance == 2 and result.efficiency == 1
    request: LLMRequest = llm.requests[0]
    prompt = "\n".join(m.content for m in request.messages)
    for name, text in RUBRIC.items():
        assert f"{name}: {text}" in prompt
    assert "[Round 1] User: Caller line 0 of call-1." in prompt
    assert "Assistant: Agent line 1 of call-1." in prompt
    assert "agrees to buy, asks for a quote" in prompt
    assert request.json_schema == JudgeScores.model_json_schema()
    assert request.temperature == 0.0


async def test_score_all_keys_by_id_and_leaves_out_a_dialogue_the_judge_fails_on() -> None:
    def reply(request: LLMRequest) -> str:
        return "not json" if "of bad" in request.messages[-1].content else scores_json()

    judged = await Judge(FakeLLM(reply)).score_all(
        [dialogue("a"), dialogue("bad"), dialogue("b")], concurrency=2)
    assert list(judged) == ["a", "b"]


def test_excerpt_keeps_the_opening_and_the_ending_within_the_limit() -> None:
    d = dialogue("long", lines=40)
    text = excerpt(d, 600)
    assert len(text) <= 600
    assert text.startswith("Assistant: Agent line 0 of long.")
    assert text.endswith("[Round 40] User: Caller line 39 of long.")
    assert "[...]" in text
    assert excerpt(dialogue("short"), 600).count("\n") == 3


def test_acceptance_rate_from_judge_verdicts_and_from_recorded_outcomes() -> None:
    ds = [dialogue("a", Outcome.ACCEPTED), dialogue("b", Outcome.WITHDREW),
          dialogue("c", Outcome.EXPLICIT_INTENT), dialogue("d", Outcome.GOODBYE)]
    assert acceptance_rate(ds) == 0.5
    judged = {"a": scores(success=False), "b": scores(success=False),
              "c": scores(success=True), "d": scores(success=False)}
    assert acceptance_rate(ds, judged) == 0.25
    assert acceptance_rate([]) == 0.0
    with pytest.raises(ValueError, match="no judge scores for dialogue 'd'"):
        acceptance_rate(ds, {k: v for k, v in judged.items() if k != "d"})


def test_filter_keeps_dialogues_at_or_above_min_mean_and_the_quantile() -> None:
    ds = [dialogue(x) for x in "abcde"]
    # Means 0.4, 1.0, 2.0, 3.0; "e" was never judged.
    judged = {"a": scores(0, relevance=2), "b": scores(1), "c": scores(2), "d": scores(3)}
    assert judged["a"].mean == pytest.approx(0.4)

    by_quantile = filter_dialogues(ds, judged, quantile=0.5)  # median of means = 1.5
    assert [d.id for d in by_quantile.kept] == ["c", "d"]
    assert by_quantile.threshold == pytest.approx(1.5)
    reasons = {x.dialogue_id: x.reason for x in by_quantile.dropped}
    assert reasons == {"a": "mean 0.40 < 50% quantile 1.50",
                       "b": "mean 1.00 < 50% quantile 1.50", "e": "not judged"}

    both = filter_dialogues(ds, judged, min_mean=2.5, quantile=0.25)  # q25 = 0.85
    assert [d.id for d in both.kept] == ["d"]
    assert both.threshold == 2.5
    assert {x.dialogue_id: x.mean for x in both.dropped}["c"] == 2.0

    assert [d.id for d in filter_dialogues(ds, judged).kept] == ["a", "b", "c", "d"]
    assert [d.id for d in filter_dialogues(ds, judged, min_mean=1.0).kept] == ["b", "c", "d"]
    with pytest.raises(ValueError, match="quantile"):
        filter_dialogues(ds, judged, quantile=1.5)


def test_evaluation_summary_reports_metric_means_tau_agreement_and_filter_counts() -> None:
    ds = [dialogue("a", Outcome.ACCEPTED), dialogue("b", Outcome.WITHDREW),
          dialogue("c", Outcome.WITHDREW)]
    judged = {"a": scores(3, success=True), "b": scores(1, success=True)}
    data, section = evaluation_summary(ds, judged, min_mean=2.0)
    assert data["dialogues"] == 3 and data["judged"] == 2
    assert data["metrics"]["relevance"] == {"mean": 2.0, "sd": pytest.approx(2 ** 0.5)}
    assert data["metrics"]["mean"]["mean"] == 2.0
    assert data["acceptance_rate"] == 1.0
    assert data["acceptance_rate_recorded"] == pytest.approx(1 / 3)
    assert data["verdict_agreement"] == 0.5
    assert data["filter"]["kept"] == 1 and data["filter"]["dropped"] == 2
    assert data["filter"]["dropped_reasons"]["c"] == "not judged"
    json.dumps(data)  # JSON-ready
    tables = [b for b in section.blocks if isinstance(b, Table)]
    assert ("human_likeness", "2.00", "1.41") in tables[0].rows
    markdown = render_markdown("run", [section])
    assert "τ acceptance (judge) | 100.0% (" in markdown  # with its interval
    assert data["intervals"]["acceptance_rate"]["n"] == 2  # personas: each call its own
    assert "kept / dropped | 1 / 2" in markdown
