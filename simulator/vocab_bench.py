"""``salesvoice bench vocab``: today's ASR on insurance vocabulary over the telephone.

Sentences are made from the product sheet (every product's name and aliases, every
figure in its sheet wording), spoken by the agent's voice (piper) and the simulated
caller's (espeak-ng), as the simulator's audio mode does; each crosses the telephone
line (8 kHz, 300-3400 Hz, μ-law, 30 dB SNR: ``simulator.audio.TelephoneLine``) and the
embedded ASR transcribes it. Reported per voice and line: overall WER, the error rate
on product-name words and on figures, and the most frequent confusions.

Figures are compared by value: "85", "eighty-five" and "$85" are one token ``85`` on
both sides (read by ``agent.numbers.figures_in``), so a figure counts as wrong only if
the number heard differs. Unit words ("dollars", "percent") are left out on both
sides, since "$85" and "85 dollars" say the same. Category rates count substitutions and
deletions of the category's reference words over their number; insertions count in the
overall WER only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import jiwer
from rich.console import Console
from rich.table import Table

from agent.domain import DomainPack, load_domain
from agent.numbers import figures_in, spoken_number
from models.asr.base import ASR
from models.errors import ConfigError
from models.tts.base import TTS
from simulator.audio import LineSettings, TelephoneLine, speak
from simulator.batch import SimSettings
from voice.wer import normalise

Category = Literal["product", "figure", "other"]
Voice = Literal["agent", "caller"]


@dataclass(frozen=True, slots=True)
class VocabLine:
    text: str
    voice: Voice
    product: str


def vocab_lines(domain: DomainPack) -> list[VocabLine]:
    """Lines a call about ``domain``'s products carries: the agent stating each sheet
    figure of each product by name; the caller asking for each product by name or alias,
    and naming a budget (the product's premium figures)."""
    lines: list[VocabLine] = []
    for p in domain.products:
        for fact in p.facts:
            label = fact.attribute.replace("_", " ")
            lines.append(VocabLine(f"For {p.name}, the {label} is {fact.spoken()}.", "agent",
                                   p.id))
        lines.append(VocabLine(f"Can you tell me about your {p.name}?", "caller", p.id))
        for alias in p.aliases[:2]:
            lines.append(VocabLine(f"How much would {alias} cost me a month?", "caller", p.id))
        if (premium := p.fact("premium")) is not None:  # a caller's budget, in figures
            low, high = (spoken_number(v) for v in (premium.values[0], premium.values[-1]))
            lines.append(VocabLine(f"I could pay {low} or maybe {high} dollars a month.",
                                   "caller", p.id))
    return lines


def tokens(text: str, domain: DomainPack) -> list[tuple[str, Category]]:
    """``text`` as WER tokens, each figure one token (its value), each tagged with its
    category: a word of a product's name or alias, a figure, or other."""
    figures = figures_in(text)
    spans: list[tuple[int, int, str | None]] = [
        (f.start, f.end, str(int(f.value)) if f.value == int(f.value) else str(f.value))
        for f in figures]
    spans += [(m.start(), m.end(), None) for m in domain.names.finditer(text)
              if not any(s < m.end() and m.start() < e for s, e, _ in spans)]
    out: list[tuple[str, Category]] = []
    at = 0
    for start, end, value in sorted(spans, key=lambda span: span[0]):
        out += [(w, "other") for w in normalise(text[at:start]).split()]
        if value is not None:  # a figure: one token, its value
            out.append((value, "figure"))
        else:
            out += [(w, "product") for w in normalise(text[start:end]).split()]
        at = end
    out += [(w, "other") for w in normalise(text[at:]).split()]
    return [(w, kind) for w, kind in out if w not in _UNIT_WORDS]


_UNIT_WORDS = frozenset({"dollar", "dollars", "percent"})


@dataclass
class Score:
    """Error counts over some lines."""

    words: Counter[str]
    errors: Counter[str]
    insertions: int = 0
    confusions: Counter[tuple[str, str]] | None = None

    @classmethod
    def empty(cls) -> Score:
        return cls(Counter(), Counter(), 0, Counter())

    def add(self, ref: list[tuple[str, Category]], hyp: list[str]) -> None:
        assert self.confusions is not None
        words = [w for w, _ in ref]
        for _, kind in ref:
            self.words[kind] += 1
        if not words:
            self.insertions += len(hyp)
            return
        out = jiwer.process_words(" ".join(words), " ".join(hyp) or "<nothing>")
        for chunk in out.alignments[0]:
            if chunk.type == "equal":
                continue
            said = words[chunk.ref_start_idx:chunk.ref_end_idx]
            heard = out.hypotheses[0][chunk.hyp_start_idx:chunk.hyp_end_idx]
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                self.errors[ref[i][1]] += 1
            if chunk.type == "insert":
                self.insertions += len(heard)
            self.confusions[(" ".join(said) or "∅", " ".join(heard) or "∅")] += 1

    def rate(self, kind: str | None = None) -> float | None:
        if kind is None:
            n = sum(self.words.values())
            return round((sum(self.errors.values()) + self.insertions) / n, 4) if n else None
        n = self.words[kind]
        return round(self.errors[kind] / n, 4) if n else None

    def row(self, top: int) -> dict[str, Any]:
        assert self.confusions is not None
        return {
            "wer": self.rate(), "product_word_error": self.rate("product"),
            "figure_error": self.rate("figure"), "other_word_error": self.rate("other"),
            "words": sum(self.words.values()), "product_words": self.words["product"],
            "figures": self.words["figure"], "insertions": self.insertions,
            "top_confusions": [{"said": s, "heard": h, "count": n}
                               for (s, h), n in self.confusions.most_common(top)],
        }


async def measure(lines: Iterable[VocabLine], voices: dict[Voice, TTS], asr: ASR,
                  domain: DomainPack, line: LineSettings | None, *,
                  top: int = 10) -> dict[str, Any]:
    """Speak, carry (``line``; None: straight into the ASR) and transcribe each line."""
    scores: dict[str, Score] = {}
    heard: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i, vl in enumerate(lines):
        if vl.voice not in voices:
            continue
        pcm = await speak(voices[vl.voice], vl.text)
        if line is not None:
            pcm = TelephoneLine(line, seed=i).carry(pcm)
        text = (await asr.transcribe(pcm)).text.strip()
        ref, hyp = tokens(vl.text, domain), [w for w, _ in tokens(text, domain)]
        for key in (vl.voice, "all"):
            scores.setdefault(key, Score.empty()).add(ref, hyp)
        heard.append({"voice": vl.voice, "said": vl.text, "heard": text})
    return {"elapsed_s": round(time.monotonic() - t0, 1),
            "by_voice": {k: s.row(top) for k, s in scores.items()}, "lines": heard}


LINES: dict[str, LineSettings | None] = {"telephone": LineSettings(), "clean": None}
"""The telephone line as the simulator runs it, and no line (the ASR's own floor)."""


async def run_vocab_bench(settings: SimSettings, console: Console, *, domain: str = "insurance",
                          lines: tuple[str, ...] = ("telephone", "clean"),
                          voices: tuple[Voice, ...] = ("agent", "caller"),
                          limit: int | None = None, top: int = 10) -> dict[str, Any]:
    """Build the embedded ASR and voices from ``settings``, measure, print a table."""
    from models import registry

    unknown = [n for n in lines if n not in LINES] + [v for v in voices
                                                     if v not in ("agent", "caller")]
    if unknown:
        raise ConfigError(f"unknown line or voice {unknown[0]!r}: lines are "
                          f"{', '.join(LINES)}; voices are agent, caller")
    pack = load_domain(domain)
    chosen = [vl for vl in vocab_lines(pack) if vl.voice in voices][:limit]
    tts: dict[Voice, TTS] = {}
    if "agent" in voices:
        tts["agent"] = registry.build_tts(settings.tts, settings.cache_dir)
    if "caller" in voices:  # the simulator's caller voice
        tts["caller"] = registry.build_tts(
            settings.tts.model_copy(update={"backend": "espeak-ng"}), settings.cache_dir)
    asr = registry.build_asr(settings.asr, settings.cache_dir)
    results: dict[str, Any] = {}
    try:
        for name in lines:
            console.print(f"[dim]{name}: {len(chosen)} lines ...")
            results[name] = await measure(chosen, tts, asr, pack, LINES[name], top=top)
    finally:
        await asr.aclose()
        for engine in tts.values():
            await engine.aclose()
    table = Table(title=f"ASR on {domain} vocabulary ({settings.asr.faster_whisper.model})")
    for col in ("line", "voice", "WER", "product words", "figures", "words", "top confusion"):
        table.add_column(col)
    for name, res in results.items():
        for voice, row in res["by_voice"].items():
            first = row["top_confusions"][0] if row["top_confusions"] else None
            table.add_row(name, voice, _pct(row["wer"]), _pct(row["product_word_error"]),
                          _pct(row["figure_error"]), str(row["words"]),
                          f"{first['said']} → {first['heard']} x{first['count']}"
                          if first else "")
    console.print(table)
    return {"domain": domain, "asr": settings.asr.faster_whisper.model,
            "agent_voice": settings.tts.piper.voice,
            "caller_voice": "espeak-ng", "line": LineSettings().model_dump(),
            "sentences": len(chosen), "results": results}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
