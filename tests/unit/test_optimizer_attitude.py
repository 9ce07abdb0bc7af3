"""Chain-of-Attitude: the state space file, the constrained classifier (FakeLLM), labels on
the right turns, and the transition statistics checked against hand arithmetic and scipy."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from agent.dialogue import CallerProfile, Dialogue, Turn
from agent.stats import persona_rate, wilson
from models.errors import ConfigError
from models.llm.base import LLMRequest
from models.llm.fake import FakeLLM
from optimizer.attitude import (
    AttitudeChain,
    AttitudeClassifier,
    AttitudeError,
    AttitudeSpace,
    AttitudeState,
    by_group,
    chain_from_dialogue,
    label,
    load_attitudes,
)
from optimizer.attitude_report import plot_groups, plot_transitions
from optimizer.attitude_stats import (
    average_entropy,
    js_divergence,
    normalized_entropy,
    row_entropy,
    summarize_chains,
    transition_counts,
    transition_matrix,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MADS16 = load_attitudes()


def space_of(*names: str, group: str = "G") -> AttitudeSpace:
    return AttitudeSpace(name="test", states=tuple(
        AttitudeState(name=n, group=group, description=f"{n} state") for n in names))


def chain(*states: str, did: str = "d") -> AttitudeChain:
    return AttitudeChain(did, states, ("",) * len(states), accepted=None)


def dialogue(did: str = "d1", *, users: int = 3, groups: dict[str, str] | None = None,
             user_text: str = "caller line {n}") -> Dialogue:
    """A greeting, then a caller line and an agent reply ``users`` times."""
    turns = [Turn(speaker="agent", text="Hello, this is Ava from Acme Insurance.")]
    for n in range(1, users + 1):
        turns.append(Turn(speaker="user", text=user_text.format(n=n)))
        turns.append(Turn(speaker="agent", text=f"agent reply {n}"))
    attributes: dict[str, Any] = {} if groups is None else {"groups": groups}
    return Dialogue(id=did, source="simulated", program_version="v1", turns=turns,
                    caller=CallerProfile(attributes=attributes))


def reply(states: list[str], accepted: bool = False, *, numbers: list[int] | None = None,
          evidence: str = "words {n}") -> str:
    numbers = numbers or list(range(1, len(states) + 1))
    return json.dumps({"rounds": [{"round": n, "evidence": evidence.format(n=n), "attitude": s}
                                  for n, s in zip(numbers, states, strict=True)],
                       "accepted": accepted}, separators=(",", ":"))


def round_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    refs = [item["$ref"] for item in schema["properties"]["rounds"]["prefixItems"]]
    return [schema["$defs"][ref.rsplit("/", 1)[-1]]["properties"] for ref in refs]


# -- the state space --------------------------------------------------------------------------
def test_builtin_space_is_the_sixteen_mads_states_in_four_ordered_groups() -> None:
    assert MADS16.name == "mads16"
    assert MADS16.groups == ("Negative", "Neutral", "Positive", "Acceptance")
    assert MADS16.names[:4] == ("Refusal", "Resistance", "Disinterest", "Doubt")
    assert MADS16.names[-4:] == ("Active", "Cooperative", "Satisfied", "Acceptance")
    assert len(MADS16.names) == 16
    assert MADS16.index("Weighing Options") == 7
    assert MADS16.group_of("Seeking Value") == "Positive"
    assert all(s.description for s in MADS16.states)
    with pytest.raises(AttitudeError, match="'Happy' is not a state"):
        MADS16.index("Happy")


def test_custom_four_state_space_file_drives_the_classifier_schema(tmp_path: Path) -> None:
    path = tmp_path / "four.toml"
    path.write_text('name = "four"\n' + "".join(
        f'[[states]]\nname = "{n}"\ngroup = "{g}"\ndescription = "{n} caller"\n'
        for n, g in [("No", "Neg"), ("Maybe", "Neg"), ("Yes", "Pos"), ("Buy", "Pos")]))
    space = load_attitudes(str(path))
    assert space.names == ("No", "Maybe", "Yes", "Buy") and space.groups == ("Neg", "Pos")
    classifier = AttitudeClassifier(FakeLLM([]), space)
    first, _ = round_schemas(classifier.schema(2).model_json_schema())
    assert first["attitude"]["enum"] == ["No", "Maybe", "Yes", "Buy"]


@pytest.mark.parametrize(("text", "problem"), [
    ('name = "x"\n[[states]]\nname = "A"\ngroup = "G"\ndescription = "a"\n',
     "needs at least 2 states, got 1"),
    ('name = "x"\n' + '[[states]]\nname = "A"\ngroup = "G"\ndescription = "a"\n' * 2,
     "duplicate state names: A"),
    ('name = "x"\n' + "".join(f'[[states]]\nname = "{n}"\ngroup = "{g}"\ndescription = "d"\n'
                              for n, g in [("A", "G"), ("B", "H"), ("C", "G")]),
     "group 'G' must be listed together"),
    ('name = "x"\n[[states]]\nname = "A"\ngroup = "G"\n', "states.0.description: Field required"),
    ('name = "x"\nstates = [\n', "not valid TOML"),
])
def test_bad_space_file_is_a_config_error_naming_the_problem(
        tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_attitudes(str(path))
    assert str(path) in str(info.value)


def test_unknown_space_name_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError, match=r"'nope' not found.*mads16"):
        load_attitudes("nope")


# -- the classifier ---------------------------------------------------------------------------
async def test_schema_asks_exactly_one_capped_state_per_caller_round() -> None:
    seen: list[LLMRequest] = []

    def respond(request: LLMRequest) -> str:
        seen.append(request)
        return reply(["Doubt", "Interested", "Acceptance"], accepted=True)

    classifier = AttitudeClassifier(FakeLLM(respond), MADS16, evidence_chars=50)
    await classifier.classify(dialogue(users=3))
    (request,) = seen
    assert request.json_schema is not None
    rounds = request.json_schema["properties"]["rounds"]
    assert rounds["minItems"] == rounds["maxItems"] == 3
    items = round_schemas(request.json_schema)
    assert [item["round"]["const"] for item in items] == [1, 2, 3]
    assert all(item["attitude"]["enum"] == list(MADS16.names) for item in items)
    assert all(item["evidence"]["maxLength"] == 50 for item in items)
    assert request.json_schema["properties"]["accepted"]["type"] == "boolean"
    assert request.max_tokens == classifier.max_tokens(3) > len(reply(["Weighing Options"] * 3))
    assert request.temperature == 0.0
    prompt = request.messages[1].content
    assert "[Round 3] User: caller line 3" in prompt and "[Round 4]" not in prompt
    assert "Weighing Options" in request.messages[0].content


async def test_labels_land_on_the_caller_turns_and_the_input_is_unchanged() -> None:
    source = dialogue("call-7", users=3)
    before = source.model_dump()
    llm = FakeLLM([reply(["Doubt", "Interested", "Acceptance"], accepted=True)])
    chain = await AttitudeClassifier(llm, MADS16).classify(source)
    assert chain == AttitudeChain("call-7", ("Doubt", "Interested", "Acceptance"),
                                  ("words 1", "words 2", "words 3"), accepted=True)
    labelled = label(source, chain)
    assert [t.attitude for t in labelled.turns] == [
        None, "Doubt", None, "Interested", None, "Acceptance", None]
    assert labelled.metadata["coa"] == {"evidence": ["words 1", "words 2", "words 3"],
                                        "accepted": True}
    assert source.model_dump() == before
    assert chain_from_dialogue(labelled) == chain
    assert chain_from_dialogue(source) is None


async def test_the_copied_line_label_is_cut_from_the_evidence() -> None:
    llm = FakeLLM([reply(["Doubt"], evidence="[Round {n}] User: why should I?")])
    chain = await AttitudeClassifier(llm, MADS16).classify(dialogue(users=1))
    assert chain.evidence == ("why should I?",)


async def test_long_dialogue_shows_every_round_to_the_classifier() -> None:
    long = dialogue(users=40, user_text="round {n} " + "blah " * 40)
    llm = FakeLLM([reply(["Indifference"] * 40)])
    await AttitudeClassifier(llm, MADS16).classify(long)
    assert "[Round 1] User: round 1 " in llm.requests[0].messages[1].content


async def test_dialogue_without_caller_rounds_gives_an_empty_chain_without_a_call() -> None:
    llm = FakeLLM([])
    chain = await AttitudeClassifier(llm, MADS16).classify(dialogue(users=0))
    assert chain.states == () and chain.accepted is False and not llm.requests


@pytest.mark.parametrize("bad", [
    "not json at all",
    reply(["Doubt", "Interested"]),  # one round short
    reply(["Doubt", "Interested", "Doubt"], numbers=[1, 3, 2]),  # rounds out of place
    reply(["Doubt", "Happy", "Interested"]),  # not a state
    reply(["Doubt"] * 3, evidence="x" * 81),  # evidence past its cap
])
async def test_invalid_output_is_an_attitude_error_naming_the_dialogue(bad: str) -> None:
    with pytest.raises(AttitudeError, match="dialogue 'call-9'"):
        await AttitudeClassifier(FakeLLM([bad]), MADS16).classify(dialogue("call-9", users=3))


def test_label_rejects_a_chain_of_another_length() -> None:
    with pytest.raises(AttitudeError, match="does not fit dialogue 'd1'"):
        label(dialogue("d1", users=3), chain("Doubt", "Doubt", did="d1"))


def test_by_group_groups_values_by_the_persona_group() -> None:
    items = [(dialogue("a", groups={"mbti_ei": "I"}), 1),
             (dialogue("b", groups={"mbti_ei": "E"}), 2),
             (dialogue("c", groups={"mbti_ei": "I"}), 3), (dialogue("d"), 4)]
    assert by_group(items, "mbti_ei") == {"E": [2], "I": [1, 3], "unknown": [4]}


# -- transition statistics --------------------------------------------------------------------
def test_every_transition_equally_often_gives_maximum_entropy() -> None:
    # One two-state chain per ordered pair: each transition exactly once. Joining the
    # chains would add transitions between them and break the uniformity.
    chains = [chain(a, b) for a, b in itertools.product(MADS16.names, repeat=2)]
    counts = transition_counts(chains, MADS16)
    assert (counts == 1).all()
    t = transition_matrix(counts)
    assert average_entropy(t) == pytest.approx(math.log(16))
    assert normalized_entropy(t) == pytest.approx(1.0)


def test_two_state_example_worked_by_hand() -> None:
    space = space_of("a", "b")
    # a a a a b b b: a→a three times, a→b once, b→b twice: N = [[3, 1], [0, 2]].
    counts = transition_counts([chain("a", "a", "a", "a", "b", "b", "b")], space)
    assert counts.tolist() == [[3, 1], [0, 2]]
    # T = [[3/4, 1/4], [0, 1]].
    t = transition_matrix(counts)
    assert t.tolist() == [[0.75, 0.25], [0.0, 1.0]]
    # H(T_a) = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.215762 + 0.346574 = 0.562335; H(T_b) = 0.
    assert row_entropy(t) == pytest.approx([0.562335, 0.0], abs=1e-6)
    # H_avg = (0.562335 + 0) / 2 = 0.281168; H_norm = 0.281168 / ln 2 = 0.405639.
    assert average_entropy(t) == pytest.approx(0.281168, abs=1e-6)
    assert normalized_entropy(t) == pytest.approx(0.405639, abs=1e-6)


def test_unvisited_states_keep_zero_rows_that_still_count_in_the_average() -> None:
    space = space_of("a", "b", "c")
    counts = transition_counts([chain("a", "b"), chain("a", "c")], space)
    t = transition_matrix(counts)
    assert t.tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    # Rows b and c are all zero: H = 0 each, and they still divide: ln 2 / 3.
    assert row_entropy(t).tolist() == pytest.approx([math.log(2), 0.0, 0.0])
    assert average_entropy(t) == pytest.approx(math.log(2) / 3)
    assert not np.isnan(transition_matrix(np.zeros((3, 3)))).any()


def test_identical_or_proportional_groups_have_zero_js() -> None:
    counts = np.array([[3, 1], [0, 2]])
    assert js_divergence(counts, counts) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(counts, 5 * counts) == pytest.approx(0.0, abs=1e-12)
    # Disjoint transitions: the maximum, ln 2.
    assert js_divergence([[1, 0], [0, 0]], [[0, 0], [0, 1]]) == pytest.approx(math.log(2))


def test_js_agrees_with_scipy_on_random_count_tables() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        a, b = rng.integers(0, 6, size=(2, 16, 16))
        expected = jensenshannon(a.ravel() / a.sum(), b.ravel() / b.sum()) ** 2
        assert js_divergence(a, b) == pytest.approx(expected, rel=1e-9)
        assert 0 < js_divergence(a, b) <= math.log(2)


def test_js_without_transitions_is_an_error() -> None:
    with pytest.raises(ValueError, match="no transitions"):
        js_divergence(np.zeros((2, 2)), np.ones((2, 2)))


def test_summary_per_group_is_json_and_compares_with_the_baseline() -> None:
    space = space_of("a", "b")
    groups = {
        "base": [AttitudeChain("1", ("a", "a", "b"), ("", "", ""), accepted=False),
                 AttitudeChain("2", ("a",), ("",), accepted=None)],
        "other": [AttitudeChain("3", ("b", "a", "b", "b"), ("",) * 4, accepted=True)],
        "empty": [],
    }
    summary = summarize_chains(groups, space, baseline="base", persona_of={})
    base, other, empty = (summary.groups[g] for g in ("base", "other", "empty"))
    assert (base.n_dialogues, base.n_transitions, base.js) == (2, 2, None)
    assert base.counts == [[1, 1], [0, 0]]
    assert base.state_freq == {"a": 0.75, "b": 0.25}
    assert base.coarse_freq == {"G": 1.0}
    assert base.acceptance_rate == 0.0 and other.acceptance_rate == 1.0
    assert other.js == pytest.approx(js_divergence([[1, 1], [0, 0]], [[0, 1], [1, 1]]))
    assert (empty.n_transitions, empty.h_avg, empty.js, empty.acceptance_rate) == (0, 0, None, None)
    assert json.loads(json.dumps(summary.to_dict()))["groups"]["other"]["h_norm"] == \
        pytest.approx(other.h_norm)
    with pytest.raises(AttitudeError, match="baseline group 'nope'"):
        summarize_chains(groups, space, baseline="nope", persona_of={})



def test_acceptance_interval_counts_personas_not_their_calls() -> None:
    # Ten personas, six calls each, every call of a persona judged alike: 60 calls but
    # only 10 independent units. A Wilson interval over the calls would be far narrower.
    space = space_of("a", "b")
    chains = [AttitudeChain(f"p{p}-{k}", ("a", "b"), ("", ""), accepted=p < 3)
              for p in range(10) for k in range(6)]
    persona_of = {c.dialogue_id: c.dialogue_id.split("-")[0] for c in chains}
    g = summarize_chains({"all": chains}, space, persona_of=persona_of).groups["all"]
    assert g.acceptance_rate == pytest.approx(0.3) and g.acceptance_interval is not None
    by_persona = persona_rate([[float(p < 3)] * 6 for p in range(10)])
    assert g.acceptance_interval == (by_persona.low, by_persona.high)
    calls_low, calls_high = wilson(18, 60)
    assert g.acceptance_interval[1] - g.acceptance_interval[0] > 1.5 * (calls_high - calls_low)
    # without a persona for a dialogue, it is its own unit
    alone = summarize_chains({"all": chains[:1]}, space, persona_of={}).groups["all"]
    assert alone.acceptance_interval == wilson(1, 1)

# -- plots ------------------------------------------------------------------------------------
def test_heatmaps_write_png_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = transition_matrix(rng.integers(0, 4, size=(16, 16)))
    one = plot_transitions(t, MADS16, tmp_path / "one.png", title="$base")
    many = plot_groups({"base": t, "sign": t.T, "mbti": t}, MADS16, tmp_path / "many.png")
    for path in (one, many):
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
