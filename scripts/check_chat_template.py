"""Writes lm-eval 0.4.13's prompts under --system_instruction, --apply_chat_template and
--fewshot_as_multiturn, for kvbench's test tests/tasks/lm_harness/chat_template_test.ts.

    python scripts/check_chat_template.py [--out tests/data/chat_template]

Needs lm-eval 0.4.13, transformers, datasets and pyarrow (no torch); not part of the test suite.
Made-up documents of the real schemas (from check_against_lm_eval.py) are written to OUT/data as
kvbench's dataset layer reads them, handed to lm-eval in place of its download, and each task's
requests are built by lm-eval's own ``build_all_requests``, the chat template rendered by lm-eval's
``HFLM.apply_chat_template`` on the transformers tokenizer of OUT/model. The result, OUT/prompts.json,
holds per setting and task each doc's contexts and continuations; for gsm8k (a generate_until task
kvbench does not have) also the shots lm-eval drew, so the prompt builder itself can be compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_against_lm_eval as base  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# A multiple-choice task, one with several inputs, one with a description, and a loglikelihood task.
TASKS = ["arc_easy", "winogrande", "mmlu_anatomy", "lambada_openai"]
LIMIT = 2
SHOTS = [0, 2]
SYSTEM = "You are a careful assistant.\nAnswer briefly."
# (name, system instruction, apply chat template, fewshot as multiturn)
SETTINGS = [
    ("system", SYSTEM, False, False),
    ("chat", None, True, True),
    ("chat-singleturn", None, True, False),
    ("chat-system", SYSTEM, True, True),
    ("chat-singleturn-system", SYSTEM, True, False),
]


def build(task_name: str, splits, shots: int, system, chat, multiturn):
    task = base.load_lm_eval_task(task_name, splits, shots)
    drawn = []
    sample = task.sampler.sample

    def recording(*args, **kwargs):
        out = sample(*args, **kwargs)
        drawn.append(list(out))
        return out

    task.sampler.sample = recording
    task.build_all_requests(limit=LIMIT, rank=0, world_size=1, system_instruction=system,
                            apply_chat_template=chat is not None, fewshot_as_multiturn=multiturn,
                            chat_template=chat)
    return task, drawn


def requests(task) -> list:
    out = base.lm_eval_requests(task)
    for d in out:
        for r in d["requests"]:
            if r["kind"] == "generate_until":
                r.pop("kind")
    return out


def gsm8k(shots: int, system, chat, multiturn) -> list:
    """lm-eval's gsm8k prompts with the shots it drew, as question/answer text."""
    docs = [{"question": f"Tom has {i} apples and buys {i + 2}. How many now?",
             "answer": f"He has {i} + {i + 2} = {2 * i + 2}.\n#### {2 * i + 2}"} for i in range(8)]
    task, drawn = build("gsm8k", {"train": docs[:6], "test": docs[6:]}, shots, system, chat, multiturn)
    out = []
    for inst in sorted(task.instances, key=lambda x: x.doc_id):
        shots_ = drawn[inst.doc_id] if shots else []
        out.append({"q": task.doc_to_text(inst.doc),
                    "shots": [{"q": task.doc_to_text(d), "a": task.doc_to_target(d)} for d in shots_],
                    "context": inst.arguments[0]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests/data/chat_template"))
    args = parser.parse_args()
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    out = Path(args.out)
    base.FILES = {t: base.FILES[t] for t in TASKS}
    base.SIZES = {"test": 4, "validation": 4, "train": 6, "dev": 4}
    data = base.write_data(out / "data")
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    # lm-eval's own method on a stand-in for HFLM: it reads only these two attributes.
    lm = SimpleNamespace(tokenizer=tokenizer, chat_template_args={})
    chat = partial(HFLM.apply_chat_template, lm)
    results = []
    for name, system, apply, multiturn in SETTINGS:
        for shots in SHOTS:
            template = chat if apply else None
            tasks = {t: requests(build(t, data[t], shots, system, template, multiturn)[0]) for t in TASKS}
            results.append({"name": f"{name}-{shots}shot", "systemInstruction": system, "applyChatTemplate": apply,
                            "fewshotAsMultiturn": multiturn, "numFewshot": shots, "limit": LIMIT, "tasks": tasks,
                            "gsm8k": gsm8k(shots, system, template, multiturn)})
            print(f"{name} {shots}-shot: {sum(len(d['requests']) for v in tasks.values() for d in v)} requests")
    (out / "prompts.json").write_text(json.dumps({"lm_eval": "0.4.13", "settings": results}) + "\n")


if __name__ == "__main__":
    main()
