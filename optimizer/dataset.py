"""Training data from calls: agent turns of stored dialogues as TRL-format examples.

Every agent turn that answers a caller's line is a candidate: its prompt is what
``SalesAgent`` had in front of it (the program's system prompt, the call as heard, each
strategy line where it started to apply, the caller's line and, in learned mode, the
private plan), its completion what the model writes in the program's decoding mode
(learned: the spoken response; single: the ``[template, product, state, sector,
response]`` array), figures said back as the sheet's fact references.

Candidates pass the turn filters (compliance, length, echo, format); what is left is the
pool. A turn is *desirable* when its dialogue passes the outcome and judge filters.

- SFT (``messages``): the desirable turns of the pool.
- KTO (``prompt/completion/label``): the whole pool, labelled desirable or not.
- DPO (``prompt/chosen/rejected``): pool turns are grouped by context (the same persona,
  the same lines spoken before, the same caller line: common random numbers make two
  arms or two samples meet it). In a group, the chosen reply is the best-ranked
  desirable one (success first, then the judge's mean score when both dialogues were
  judged); every different reply from a dialogue ranked strictly lower is rejected
  against it, once. The prompt is the chosen turn's.

Duplicates (same prompt and completion) are dropped per output; a KTO pair seen with
both labels is dropped as conflicting. Each filter counts what it removed.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from agent.compliance import ComplianceGuard, clauses, echoes
from agent.dialogue import Dialogue, Outcome, Record, Turn
from agent.domain import DomainPack
from agent.learned import with_plan
from agent.program import AgentProgram
from agent.prompt import render_system_prompt, thought_array_schema
from agent.refs import FORBIDDEN_WORDS, PROMISE_STEMS, response_pattern
from models.errors import ConfigError, SalesvoiceError
from models.llm.base import ChatMessage
from optimizer.judge import JudgeScores, filter_dialogues
from simulator.evaluate import OutcomeSource, outcome_of
from simulator.metrics import groups_of, persona_id

Message = dict[str, str]
TURN_FILTERS = ("compliance", "length", "echo", "format")
_FIXED = frozenset({"opt_out", "injection", "empty_reply"})
"""Turn compliance marks of a line the program says, not the model (opt-out, privacy and
repair replies)."""
_UNSAID = frozenset({"echo", "repetition"})
"""Marks of words left unsaid: what was heard is the model's text without them."""
_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*")


class EmptyDataset(SalesvoiceError):
    """No example is left after filtering."""


class DatasetConfig(Record):
    """The recipe of a dataset (TOML keys of ``salesvoice dataset build --config``)."""

    program: str = "insurance-default"
    """The program whose prompt frames every example (the one the tuned model serves)."""
    mode: Literal["learned", "single"] | None = None
    """The output format; None: the program's decoding mode."""
    outcome_source: OutcomeSource = "truth"
    """A programmatic user's own verdict where known, else the agent's reading."""
    keep_outcomes: list[Outcome] = Field(
        default_factory=lambda: [Outcome.ACCEPTED, Outcome.EXPLICIT_INTENT], min_length=1)
    judge_scores: Path | None = None
    """JSON object: dialogue id → ``JudgeScores`` (``Judge.score_all``); dialogues may
    also carry theirs under ``metadata["judge"]``."""
    min_judge_mean: float | None = Field(None, ge=0, le=3)
    """Drop dialogues whose mean judge score is lower (or that were not judged)."""
    min_words: int = Field(2, ge=1)
    max_words: int = Field(60, ge=1)
    compliance: bool = True
    claim_head: bool = True
    """The learned claim head beside the rules (off: rules only, faster)."""
    echo: bool = True
    dedupe: bool = True


@dataclass(frozen=True, slots=True)
class Candidate:
    """One agent turn as a training example."""

    dialogue_id: str
    turn: int
    sector: str
    outcome: str
    prompt: tuple[Message, ...]
    completion: str
    context: str
    """The persona and the lines spoken up to the caller's: turns in one context pair."""
    success: bool
    judge_mean: float | None
    desirable: bool = False


@dataclass
class Built:
    sft: list[dict[str, Any]]
    kto: list[dict[str, Any]]
    dpo: list[dict[str, Any]]
    counts: dict[str, Any]
    kept: list[Candidate]
    """The SFT examples' candidates (for per-sector and per-outcome counts)."""
    dialogues: list[Dialogue] = field(default_factory=list)


def load_scores(path: Path | None, dialogues: Sequence[Dialogue]) -> dict[str, JudgeScores]:
    """Judge scores by dialogue id: those dialogues carry, then the file's (which win)."""
    found: dict[str, Any] = {d.id: d.metadata["judge"] for d in dialogues
                             if "judge" in d.metadata}
    if path is not None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"judge scores file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"judge scores file {path} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"judge scores file {path}: expected an object of dialogue ids")
        found.update(data)
    try:
        return {k: JudgeScores.model_validate(v) for k, v in found.items()}
    except ValidationError as exc:
        raise ConfigError(f"judge scores are invalid: {exc}") from None


def thought_fields(turn: Turn) -> list[str] | None:
    """The single-model answer's leading fields for ``turn``: its thought, and the
    caller's sector as the agent held it after the turn ("?": none; the record keeps
    no written sector field)."""
    if turn.thought is None:
        return None
    sector = turn.sector.sector if turn.sector is not None and turn.sector.sector else "?"
    t = turn.thought
    return [t.template.value, t.intent or "none", t.user_state.value, sector]


def agent_messages(dialogue: Dialogue, index: int, system: str) -> list[ChatMessage]:
    """The messages ``SalesAgent`` had before writing agent turn ``index``: the system
    prompt, the call as heard, each strategy line before the caller's line it came with
    (as ``SalesAgent.commit`` and ``_prompt`` put it there), ending with the caller's line."""
    messages = [ChatMessage("system", system)]
    said: str | None = None
    for k, turn in enumerate(dialogue.turns[: index + 1]):
        if turn.speaker == "user":
            said = turn.text
            continue
        if said:
            if turn.strategy:
                messages.append(ChatMessage("system", turn.strategy))
            messages.append(ChatMessage("user", said))
        said = None
        if k < index and turn.text:
            messages.append(ChatMessage("assistant", turn.text))
    return messages


def with_refs(text: str, domain: DomainPack, intent: str | None) -> str:
    """``text`` as the model wrote it: each sheet wording back as its fact reference
    (``RefExpander`` inverted, with the " for <product>" it adds after a figure of a
    product not yet named). A wording several products share is the product's named
    last before it, else the thought's; one that stays ambiguous is left as said."""
    by_wording: dict[str, list[str]] = defaultdict(list)
    for ref, said in domain.refs.items():
        by_wording[said].append(ref)
    words = "|".join(re.escape(w) for w in sorted(by_wording, key=len, reverse=True))
    out, at = [], 0
    for m in re.finditer(rf"(?<!\w)(?:{words})(?!\w)", text):
        refs = by_wording[m.group(0)]
        named = domain.mentioned(text[: m.start()], by_id=False)
        pick, end = None, m.end()
        for ref in refs:
            suffix = f" for {domain.product(ref.split('.')[0]).name}"
            if not named and text.startswith(suffix, m.end()):
                pick, end = ref, m.end() + len(suffix)
                break
        focus = named[-1] if named else intent
        pick = pick or next((r for r in refs if r.split(".")[0] == focus),
                            refs[0] if len(refs) == 1 else None)
        if pick is not None:
            out.append(text[at : m.start()] + "{" + pick + "}")
            at = end
    return "".join(out) + text[at:]


def writable(response: str, domain: DomainPack, mode: str) -> bool:
    """Could the model write ``response`` under the agent's output constraints: no
    figure but a sheet reference, no number word or promise, and in single mode a JSON
    string within the schema's length with no quote or backslash."""
    if re.fullmatch(response_pattern(list(domain.refs)), response) is None:
        return False
    for word in _WORD.findall(response):
        low = word.lower()
        if low in FORBIDDEN_WORDS or low.startswith(PROMISE_STEMS):
            return False
    if mode == "single":
        limit = thought_array_schema(domain)["prefixItems"][4]["maxLength"]
        return len(response) <= limit and '"' not in response and "\\" not in response
    return True


def sector_of(dialogue: Dialogue) -> str:
    """The caller's sector: known (persona, CRM), else the agent's last reading."""
    known = groups_of(dialogue).get("sector")
    guess = next((t.sector.sector for t in reversed(dialogue.agent_turns)
                  if t.sector is not None and t.sector.sector), None)
    return known or guess or "unknown"


def _plain(messages: Sequence[ChatMessage]) -> tuple[Message, ...]:
    return tuple({"role": m.role, "content": m.content} for m in messages)


def _key(prompt: Sequence[Message], completion: str) -> str:
    return " ".join(json.dumps([list(prompt), completion]).lower().split())


class DatasetBuilder:
    """Turns dialogues into SFT, KTO and DPO examples under one ``DatasetConfig``."""

    def __init__(self, config: DatasetConfig, program: AgentProgram, domain: DomainPack,
                 guard: ComplianceGuard | None = None) -> None:
        """``guard``: the claim checker (default: the one ``SalesAgent`` builds)."""
        self.config = config
        self.program = program
        self.domain = domain
        self.mode = config.mode or program.decoding.mode
        if self.mode not in ("learned", "single"):
            raise ConfigError(
                f"program {program.version} decodes in {self.mode!r} mode, whose response "
                "prompt is built inside SalesAgent; set mode = 'learned' or 'single'")
        if config.min_words > config.max_words:
            raise ConfigError(f"min_words {config.min_words} > max_words {config.max_words}")
        self._system = render_system_prompt(program, domain, domain.sheet())
        self.guard = guard or ComplianceGuard(
            domain, render_system_prompt(program, domain, ""),
            head="default" if config.claim_head else None)
        self._checked: dict[str, bool] = {}

    def build(self, dialogues: Sequence[Dialogue],
              scores: Mapping[str, JudgeScores] | None = None, *,
              select: Collection[str] | None = None) -> Built:
        """``select``: the ids of the dialogues whose turns may be desirable (best-of-N's
        winners); a passing dialogue left out is neither desirable nor, for KTO, a loser."""
        scores = scores or {}
        c = self.config
        unusable: Counter[str] = Counter()
        removed: Counter[str] = Counter({f: 0 for f in TURN_FILTERS})
        pool: list[Candidate] = []
        for d in dialogues:
            for index, turn in enumerate(d.turns):
                if turn.speaker != "agent":
                    continue
                cand, why = self._candidate(d, index, turn, scores)
                if cand is None:
                    (removed if why in TURN_FILTERS else unusable)[why] += 1
                else:
                    pool.append(cand)
        won, judged = passing(dialogues, scores, c)
        chosen = won & judged if select is None else won & judged & set(select)
        pool = [replace(x, desirable=x.dialogue_id in chosen) for x in pool]
        dialogue_filters = {
            "outcome": {"dialogues": len(dialogues) - len(won),
                        "turns": sum(x.dialogue_id not in won for x in pool)},
            "judge": {"dialogues": sum(d.id in won and d.id not in judged for d in dialogues),
                      "turns": sum(x.dialogue_id in won and x.dialogue_id not in judged
                                   for x in pool)},
        }
        unselected = won & judged - chosen
        if select is not None:
            dialogue_filters["best_of_n"] = {
                "dialogues": len(unselected),
                "turns": sum(x.dialogue_id in unselected for x in pool)}
        sft, kept, dup_sft = self._sft([x for x in pool if x.desirable])
        kto, dup_kto, conflicts = self._kto(
            [x for x in pool if x.dialogue_id not in unselected])
        dpo, dup_dpo = self._dpo(pool)
        counts: dict[str, Any] = {
            "dialogues": len(dialogues),
            "agent_turns": sum(len(d.agent_turns) for d in dialogues),
            "not_a_model_reply": dict(sorted(unusable.items())),
            "turn_filters": {f: removed[f] for f in TURN_FILTERS},
            "pool": len(pool),
            "dialogue_filters": dialogue_filters,
            "duplicates": {"sft": dup_sft, "kto": dup_kto, "kto_conflicting": conflicts,
                           "dpo": dup_dpo},
            "outputs": {"sft": len(sft), "kto": len(kto),
                        "kto_desirable": sum(bool(e["label"]) for e in kto), "dpo": len(dpo)},
        }
        if not sft:
            raise EmptyDataset(empty_message(counts))
        return Built(sft, kto, dpo, counts, kept, list(dialogues))

    def _candidate(self, d: Dialogue, index: int, turn: Turn,
                   scores: Mapping[str, JudgeScores]) -> tuple[Candidate | None, str]:
        c = self.config
        before = d.turns[index - 1] if index else None
        if before is None or before.speaker != "user" or not before.text.strip():
            return None, "greeting"
        if _FIXED & set(turn.compliance):
            return None, "fixed_reply"
        if turn.interrupted:
            return None, "interrupted"
        fields = thought_fields(turn)
        if fields is None:
            return None, "no_thought"
        text, heard = turn.text.strip(), before.text
        if c.compliance and (set(turn.compliance) - _UNSAID or not self._complies(text)):
            return None, "compliance"
        if not c.min_words <= len(text.split()) <= c.max_words:
            return None, "length"
        if c.echo and (echoes(text, heard) or any(echoes(x, heard) for x in clauses(text))):
            return None, "echo"
        response = with_refs(text, self.domain, turn.thought.intent if turn.thought else None)
        if not writable(response, self.domain, self.mode):
            return None, "format"
        messages = agent_messages(d, index, self._system)
        if self.mode == "learned":
            messages = with_plan(messages, fields)
            completion = response
        else:
            completion = json.dumps([*fields, response], ensure_ascii=False,
                                    separators=(",", ":"))
        spoken = [f"{t.speaker}: {t.text}" for t in d.turns[:index]]
        judged = scores.get(d.id)
        return Candidate(
            dialogue_id=d.id, turn=index, sector=sector_of(d),
            outcome=outcome_of(d, c.outcome_source), prompt=_plain(messages),
            completion=completion, context="\n".join([persona_id(d), *spoken]),
            success=outcome_of(d, c.outcome_source) in {o.value for o in c.keep_outcomes},
            judge_mean=judged.mean if judged is not None else None,
        ), ""

    def _complies(self, text: str) -> bool:
        if text not in self._checked:
            self._checked[text] = not self.guard.check_reply(text)
        return self._checked[text]

    def _sft(self, desirable: list[Candidate]
             ) -> tuple[list[dict[str, Any]], list[Candidate], int]:
        out, kept, seen = [], [], set()
        for x in desirable:
            key = _key(x.prompt, x.completion)
            if self.config.dedupe and key in seen:
                continue
            seen.add(key)
            kept.append(x)
            out.append({"messages": [*x.prompt, _assistant(x.completion)]})
        return out, kept, len(desirable) - len(out)

    def _kto(self, pool: list[Candidate]) -> tuple[list[dict[str, Any]], int, int]:
        labels: dict[str, set[bool]] = defaultdict(set)
        for x in pool:
            labels[_key(x.prompt, x.completion)].add(x.desirable)
        out, seen = [], set()
        conflicting = 0
        for x in pool:
            key = _key(x.prompt, x.completion)
            if len(labels[key]) > 1:
                conflicting += 1
                continue
            if self.config.dedupe and key in seen:
                continue
            seen.add(key)
            out.append({"prompt": list(x.prompt), "completion": [_assistant(x.completion)],
                        "label": x.desirable})
        return out, len(pool) - conflicting - len(out), conflicting

    def _dpo(self, pool: list[Candidate]) -> tuple[list[dict[str, Any]], int]:
        groups: dict[str, list[Candidate]] = defaultdict(list)
        for x in pool:
            groups[x.context].append(x)
        out: list[dict[str, Any]] = []
        duplicates = 0
        for members in groups.values():
            best = [x for x in members if x.desirable and not any(_better(y, x) for y in members)]
            if not best:
                continue
            chosen = best[0]
            rejected: set[str] = set()
            for x in members:
                if x.completion == chosen.completion or not _better(chosen, x):
                    continue
                if x.completion in rejected:
                    duplicates += 1
                    continue
                rejected.add(x.completion)
                out.append({"prompt": list(chosen.prompt),
                            "chosen": [_assistant(chosen.completion)],
                            "rejected": [_assistant(x.completion)]})
        return out, duplicates


def passing(dialogues: Sequence[Dialogue], scores: Mapping[str, JudgeScores],
            config: DatasetConfig) -> tuple[set[str], set[str]]:
    """The ids of the dialogues that pass the outcome filter, and the judge filter."""
    won = {d.id for d in dialogues if outcome_of(d, config.outcome_source) in
           {o.value for o in config.keep_outcomes}}
    judged = (set(d.id for d in filter_dialogues(dialogues, scores,
                                                 min_mean=config.min_judge_mean).kept)
              if config.min_judge_mean is not None else {d.id for d in dialogues})
    return won, judged


def _better(a: Candidate, b: Candidate) -> bool:
    """``a`` ranks strictly above ``b``: it succeeded and ``b`` did not, or both alike and
    the judge scored ``a``'s dialogue higher."""
    if a.success != b.success:
        return a.success
    return a.judge_mean is not None and b.judge_mean is not None and a.judge_mean > b.judge_mean


def _assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def empty_message(counts: Mapping[str, Any]) -> str:
    """Which filter removed what, for a dataset left with no SFT example."""
    parts = [f"{n} {why.replace('_', ' ')}"
             for why, n in counts["not_a_model_reply"].items() if n]
    parts += [f"{f} removed {n}" for f, n in counts["turn_filters"].items() if n]
    df = counts["dialogue_filters"]
    parts += [f"{f} removed {v['turns']} turns ({v['dialogues']} dialogues failed it)"
              for f, v in df.items() if v["turns"] or v["dialogues"]]
    if counts["duplicates"]["sft"]:
        parts.append(f"duplicates removed {counts['duplicates']['sft']}")
    return (f"no SFT example left from {counts['dialogues']} dialogues "
            f"({counts['agent_turns']} agent turns): " + ("; ".join(parts) or "nothing to use")
            + ". Loosen the filter that removed the most, or add dialogues.")
