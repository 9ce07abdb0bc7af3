"""``bench turns``: false cut-ins and decision delay of turn ends, on real speech.

Real human speech (LibriVox and card names, Debian pocketsphinx-testdata) with silences of
0.5, 0.7 and 0.9 s spliced in at every mid-sentence word boundary (found with the ASR's
word timestamps; cut at the quietest 10 ms nearby, filled with the clip's own room tone).
Each clip, spliced and as recorded, is streamed through the real VAD into the
TurnDetector in simulated time: when the VAD pauses, the audio heard so far is decoded by
the real ASR, as the pipeline's prefetch does, and the partial reaches the detector
``asr_delay_s`` later (one decoder, so decodes queue). The rules compared see the same
audio, VAD and partials: (a) the punctuation rule, (b) the turn-completion head.

A false cut-in is a turn that ended before the caller's last word: at the spliced pause,
or at a natural pause. The decision delay is measured from the end of the last word (ASR
word timestamps). Deterministic: no wall clock enters a decision.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rich.console import Console
from rich.table import Table

from models import registry
from models.asr import ASR
from models.asr.base import Word
from models.audio import HOUSE_RATE, PCM
from models.config import ASRSettings, VADSettings
from models.tts import TTS
from models.vad import VAD
from voice.bench import real_utterances
from voice.pipeline import PipelineConfig
from voice.turns import SpeechPaused, SpeechStarted, TurnDetector, TurnEnded

PAUSES = (0.5, 0.7, 0.9)
ASR_DELAY_S = 0.4
"""Simulated time from the pause to its partial: a tiny.en decode costs ≈ 0.35-0.5 s on
this machine whatever the clip length (docs/architecture.md)."""
TAIL_S = 2.0
"""Room tone after the last word, enough for the longest hang-over to elapse."""
_FRAME = HOUSE_RATE // 100  # 10 ms
END_SLACK_S = 0.3
"""A turn end this close before the last word's end is the turn's end: whisper's word
ends run past where the VAD hears the speech stop (measured: a synthesized line whose
last word "ends" at 2.18 s, VAD silence from 2.02 s; with 0.1 s such runs counted as
cut-ins and as undecided, 76 of 226 synthesized runs)."""


class TurnBenchSettings(Protocol):
    cache_dir: Path
    asr: ASRSettings
    vad: VADSettings
    voice: PipelineConfig


@dataclass(frozen=True, slots=True)
class Run:
    """One clip as streamed: recorded, or with a pause spliced after word ``after``."""

    clip: str
    pcm: PCM
    after: int | None
    pause_s: float
    pause_at: float
    """Where the spliced silence starts (s)."""
    word_end: float
    """End of the word before the splice (s)."""
    true_end: float
    """End of the last word (s)."""


Rule = Callable[[str], float | None]
"""A partial's completion probability (None: the punctuation rule)."""


def _rms(pcm: PCM) -> np.ndarray[Any, np.dtype[np.float64]]:
    n = len(pcm) // _FRAME
    frames = pcm[: n * _FRAME].astype(np.float64).reshape(n, _FRAME)
    out: np.ndarray[Any, np.dtype[np.float64]] = np.sqrt((frames**2).mean(axis=1))
    return out


def room_tone(pcm: PCM, seconds: float) -> PCM:
    """The clip's quietest 100 ms, tiled to ``seconds``."""
    rms = _rms(pcm)
    start = int(np.argmin(np.convolve(rms, np.ones(10), mode="valid"))) * _FRAME
    piece = pcm[start : start + 10 * _FRAME]
    n = round(seconds * HOUSE_RATE)
    return np.tile(piece, n // len(piece) + 1)[:n].astype(np.int16)


def splice_at(pcm: PCM, left: Word, right: Word) -> int:
    """The sample at the centre of the quietest 10 ms between two words (± 50 ms)."""
    rms = _rms(pcm)
    lo = max(0, int((left.end_s - 0.05) * 100))
    hi = min(len(rms), max(lo + 1, int((right.start_s + 0.05) * 100)))
    return (lo + int(np.argmin(rms[lo:hi]))) * _FRAME + _FRAME // 2


def runs_of(name: str, pcm: PCM, words: Sequence[Word], pauses: Sequence[float]) -> list[Run]:
    """The clip as recorded, then one run per word boundary and pause length."""
    tone = room_tone(pcm, TAIL_S)
    end = words[-1].end_s
    out = [Run(name, np.concatenate([pcm, tone]), None, 0.0, 0.0, 0.0, end)]
    for i in range(len(words) - 1):
        if not words[i + 1].text.startswith(" "):  # "cold" + "-hearted": one spoken word
            continue
        at = splice_at(pcm, words[i], words[i + 1])
        for pause in pauses:
            audio = np.concatenate([pcm[:at], room_tone(pcm, pause), pcm[at:], tone])
            out.append(Run(name, audio, i, pause, at / HOUSE_RATE, words[i].end_s, end + pause))
    return out


@dataclass(slots=True)
class _Decoder:
    """Real ASR decodes of audio slices, each distinct slice once."""

    asr: ASR
    cache: dict[str, str] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)

    async def text(self, pcm: PCM) -> str:
        key = hashlib.sha1(pcm.tobytes()).hexdigest()
        if key not in self.cache:
            t = await self.asr.transcribe(pcm)
            self.seconds.append(t.decode_s)
            self.cache[key] = t.text
        return self.cache[key]


@dataclass(frozen=True, slots=True)
class Partial:
    text: str
    covers: float
    at: float
    complete: float | None


async def simulate(run: Run, probs: Sequence[float], window_s: float, config: PipelineConfig,
                   decoder: _Decoder, rule: Rule, asr_delay_s: float
                   ) -> tuple[list[TurnEnded], list[Partial]]:
    """The detector's turn ends on ``run`` under ``rule``, and the partials it was given."""
    detector = TurnDetector(config.turn)
    ends: list[TurnEnded] = []
    given: list[Partial] = []
    pending: list[tuple[float, str, float]] = []  # (arrives, text, covers)
    decoder_free = 0.0
    session = 0.0
    for i, p in enumerate(probs):
        now = (i + 1) * window_s
        while pending and pending[0][0] <= now + 1e-9:
            # Each decode here is the one started at a pause, which the pipeline always
            # passes on (a partial that reaches the pause, changed or not).
            at, text, covers = pending.pop(0)
            complete = rule(text)
            detector.on_partial(text, covers, complete)
            given.append(Partial(text, covers, at, complete))
        for event in detector.on_vad(p, now, window_s):
            if isinstance(event, SpeechStarted):
                session, pending = max(0.0, now - config.preroll_s), []
            elif isinstance(event, SpeechPaused):
                text = await decoder.text(run.pcm[round(session * HOUSE_RATE):
                                                  round(now * HOUSE_RATE)])
                decoder_free = max(now, decoder_free) + asr_delay_s
                pending.append((decoder_free, text, now))
            elif isinstance(event, TurnEnded):
                ends.append(event)
                pending = []  # the session is finalized; later partials go nowhere
    return ends, given


def _outcome(run: Run, ends: list[TurnEnded]) -> dict[str, Any]:
    early = [e for e in ends if e.speech_end < run.true_end - END_SLACK_S]
    at_splice = [e for e in early if run.after is not None
                 and run.word_end - 0.3 <= e.speech_end <= run.pause_at + run.pause_s]
    final = [e for e in ends if e.speech_end >= run.true_end - END_SLACK_S]
    return {
        "cut_at_splice": bool(at_splice),
        "cut_elsewhere": len(early) - len(at_splice),
        "delay_s": final[0].decided_at - run.true_end if final else None,
        "final_reason": final[0].reason if final else None,
        "ends": [[round(e.speech_end, 3), round(e.decided_at, 3), e.reason] for e in ends],
    }


def _interior_pauses(probs: Sequence[float], threshold: float) -> int:
    """Silences (runs of windows under ``threshold``) between the first and last speech."""
    speech = [i for i, p in enumerate(probs) if p >= threshold]
    if not speech:
        return 0
    inner = [p < threshold for p in probs[speech[0] : speech[-1] + 1]]
    return sum(1 for a, b in zip([False, *inner], inner, strict=False) if b and not a)


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise(records: list[dict[str, Any]], rule: str, pauses: Sequence[float],
              natural_pauses: int) -> dict[str, Any]:
    spliced = [r for r in records if r["after"] is not None]
    recorded = [r for r in records if r["after"] is None]
    delays = [r[rule]["delay_s"] for r in records if r[rule]["delay_s"] is not None]
    reasons: dict[str, int] = {}
    for r in records:
        reason = r[rule]["final_reason"] or "none"
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "cut_at_spliced_pause": {str(p): [sum(r[rule]["cut_at_splice"] for r in spliced
                                              if r["pause_s"] == p),
                                          sum(r["pause_s"] == p for r in spliced)]
                                 for p in pauses},
        "cut_at_spliced_pause_all": [sum(r[rule]["cut_at_splice"] for r in spliced),
                                     len(spliced)],
        "cut_at_natural_pause": [sum(r[rule]["cut_elsewhere"] for r in recorded),
                                 natural_pauses],
        "other_cuts_in_spliced_runs": sum(r[rule]["cut_elsewhere"] for r in spliced),
        "delay_p50_s": _pct(delays, 50),
        "delay_p95_s": _pct(delays, 95),
        "undecided_runs": len(records) - len(delays),
        "final_reasons": reasons,
    }


Clip = tuple[PCM, str, str]
"""16 kHz speech, its reference text, and the corpus it belongs to."""


def recorded_clips(limit: int | None = None) -> list[Clip]:
    """The real human speech of pocketsphinx-testdata (book prose and card names)."""
    return [(pcm, text, "real speech") for pcm, text in real_utterances()[:limit]]


async def synthesized_clips(tts: TTS, lines: Sequence[str]) -> list[Clip]:
    """Caller lines of a sales call, spoken by ``tts`` (a voice other than the agent's)."""
    from simulator.audio import speak

    return [(await speak(tts, line), line, "sales lines (tts)") for line in lines]


async def run_turns_bench(settings: TurnBenchSettings, console: Console, *,
                          rules: dict[str, Rule], pauses: Sequence[float] = PAUSES,
                          asr_delay_s: float = ASR_DELAY_S, limit: int | None = None,
                          extra: Sequence[Clip] = ()) -> dict[str, Any]:
    """Every rule on every run of the recorded clips (the first ``limit``) and ``extra``;
    prints a table per corpus and returns the JSON-able result."""
    with console.status("loading the VAD and the ASR..."):
        vad: VAD = registry.build_vad(settings.vad, settings.cache_dir)
        asr = registry.build_asr(settings.asr, settings.cache_dir)
    decoder = _Decoder(asr)
    config = settings.voice
    spent: dict[str, list[float]] = {name: [] for name in rules}

    def timed(name: str, rule: Rule) -> Rule:
        def call(text: str) -> float | None:
            start = time.perf_counter()
            out = rule(text)
            spent[name].append(time.perf_counter() - start)
            return out
        return call

    rules = {name: timed(name, rule) for name, rule in rules.items()}
    records: list[dict[str, Any]] = []
    natural: dict[str, int] = {}
    try:
        clips = [*recorded_clips(limit), *extra]
        for n, (pcm, reference, corpus) in enumerate(clips):
            natural.setdefault(corpus, 0)
            words = (await asr.transcribe(pcm)).words
            name = f"{n:02d} {reference[:40]}"
            runs = runs_of(name, pcm, words, pauses) if words else []
            console.print(f"[dim]{name}: {len(runs) - 1} spliced runs[/]")
            for run in runs:
                stream = vad.stream()
                probs = stream.push(run.pcm)
                if run.after is None:
                    natural[corpus] += _interior_pauses(probs, config.turn.end_threshold)
                rec: dict[str, Any] = {"clip": run.clip, "corpus": corpus, "after": run.after,
                                       "pause_s": run.pause_s, "true_end": run.true_end,
                                       "after_words": " ".join(w.text.strip() for w in
                                                               words[: (run.after or -1) + 1])}
                for rule_name, rule in rules.items():
                    ends, given = await simulate(run, probs, stream.window_s, config, decoder,
                                                 rule, asr_delay_s)
                    rec[rule_name] = _outcome(run, ends)
                    rec[rule_name]["partials"] = [
                        [p.text, round(p.covers, 3), None if p.complete is None
                         else round(p.complete, 3)] for p in given]
                records.append(rec)
    finally:
        await asr.aclose()
    summary = {name: summarise(records, name, pauses, sum(natural.values())) for name in rules}
    for name, seconds in spent.items():
        summary[name]["rule_ms_p50"] = _pct([1000 * t for t in seconds], 50)
    by_corpus = {corpus: {name: summarise([r for r in records if r["corpus"] == corpus], name,
                                          pauses, count) for name in rules}
                 for corpus, count in natural.items()}
    result = {
        "settings": {"pauses_s": list(pauses), "asr_delay_s": asr_delay_s,
                     "turn": config.turn.model_dump(), "preroll_s": config.preroll_s,
                     "asr_decode_wall_p50_s": _pct(decoder.seconds, 50)},
        "runs": len(records), "summary": summary, "by_corpus": by_corpus,
        "records": records,
    }
    print_table(console, result)
    return result


def print_table(console: Console, result: dict[str, Any]) -> None:
    pauses = result["settings"]["pauses_s"]
    table = Table(title=f"turn ends with pauses spliced in: {result['runs']} runs, partial "
                        f"{result['settings']['asr_delay_s']} s after each pause")
    cut_in = "false cut-ins at spliced pause " + " / ".join(f"{p}" for p in pauses) + " s"
    for col in ("corpus", "rule", cut_in, "all spliced", "natural", "delay p50 / p95",
                "final ends"):
        table.add_column(col, justify="right")
    rows = [(corpus, name, s) for corpus, per_rule in result["by_corpus"].items()
            for name, s in per_rule.items()]
    if len(result["by_corpus"]) > 1:
        rows += [("all", name, s) for name, s in result["summary"].items()]
    for corpus, name, s in rows:
        cuts = [s["cut_at_spliced_pause"][str(p)] for p in pauses]
        delay = "-" if s["delay_p50_s"] is None else \
            f"{s['delay_p50_s']:.2f} / {s['delay_p95_s']:.2f} s"
        table.add_row(corpus, name, "  ".join(f"{k}/{n}" for k, n in cuts),
                      "{}/{}".format(*s["cut_at_spliced_pause_all"]),
                      "{}/{}".format(*s["cut_at_natural_pause"]), delay,
                      " ".join(f"{k} {v}" for k, v in sorted(s["final_reasons"].items())))
    console.print(table)


def standard_rules(settings: TurnBenchSettings, head_path: Path | None = None
                   ) -> dict[str, Rule]:
    """(a) the punctuation rule, (b) the packaged turn-completion head."""
    from models.embed import load_embedder
    from voice.endpoint import DEFAULT, load_turn_head

    head = load_turn_head(head_path or DEFAULT, load_embedder(settings.cache_dir))
    return {"punctuation": lambda text: None, "classifier": head.probability}
