"""The fine-tuning smoke's data and recipe (SmolLM2-135M, two target turns), shared by
``test_finetune_real.py`` and ``test_lora_serving_real.py``; its trained adapter is the
session fixture ``sft_run`` (tests/integration/conftest.py), trained once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optimizer.finetune import FinetuneConfig

BASE = "smollm2-135m-instruct-q4_1"
SYSTEM = "You are Alex, an insurance sales agent on a phone call. One short sentence."
TURNS = [
    ("What is this about?",
     "I'm calling about family life cover, do you have a minute?"),
    ("I'm a nurse, I work night shifts.",
     "Thank you, many nurses on night shifts pick income protection."),
]

def _prompt(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sft_rows() -> list[dict[str, Any]]:
    return [{"messages": [*_prompt(u), {"role": "assistant", "content": a}]} for u, a in TURNS]


def dpo_rows() -> list[dict[str, Any]]:
    return [{"prompt": _prompt(u), "chosen": [{"role": "assistant", "content": a}],
             "rejected": [{"role": "assistant", "content": f"{u} {u}"}]} for u, a in TURNS]


def _config(data: Path, method: str = "sft", **kw: Any) -> FinetuneConfig:
    settings: dict[str, Any] = {"method": method, "base": BASE, "data": data, "steps": 8,
                                "learning_rate": 2e-3, "save_every": 4, "max_length": 128,
                                "threads": 1, "lora_dropout": 0.0, **kw}
    return FinetuneConfig(**settings)
