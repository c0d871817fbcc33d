#!/usr/bin/env python3
"""Checks kvbench's lm-eval tasks against lm-eval itself: the same documents must give the same
requests (context and continuation strings, in order), zero-shot and few-shot, and the same made-up
model responses must give the same per-document metric values. Exits non-zero on any difference.

    python3 scripts/check_against_lm_eval.py [--work DIR] [--shots 0,3]

Needs lm-eval (``pip install lm-eval``) and ``datasets``; not part of the test suite, which runs
without them. The documents are made up here in each dataset's Hugging Face schema, written as the
files kvbench's dataset layer reads (``--data-dir``) and handed to lm-eval in place of its download,
so nothing is fetched. kvbench's side comes from ``scripts/dump_requests.ts`` (Deno on PATH or
``npx -y deno@2.9.6``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent


def arc_doc(i: int, split: str) -> dict:
    labels = ["A", "B", "C", "D"] if i % 3 else ["1", "2", "3", "4"]
    return {"id": f"{split}-{i}", "question": f"Which of these is item {i} of the {split} set? ",
            "choices": {"text": [f"first {i}", f"second {i}", f" third {i}", f"fourth {i}"], "label": labels},
            "answerKey": labels[i % 4]}


def docs(task: str, split: str, n: int) -> List[dict]:
    """``n`` made-up documents of ``task``'s dataset for ``split``, with the odd spaces and
    brackets real rows have."""
    out = []
    for i in range(n):
        if task in ("arc_easy", "arc_challenge"):
            out.append(arc_doc(i, split))
        elif task == "openbookqa":
            d = arc_doc(i, split)
            out.append({"id": d["id"], "question_stem": d["question"].strip(), "choices": d["choices"],
                        "answerKey": d["answerKey"]})
        elif task == "piqa":
            out.append({"goal": f"How do you fold shirt {i}?", "sol1": f"Fold it in half {i} times.",
                        "sol2": f"Roll it up {i} times ", "label": i % 2})
        elif task == "boolq":
            out.append({"question": f"is the river {i} longer than the road", "passage":
                        f"River {i} -- a long river. It runs for {i * 10} km.", "idx": i, "label": i % 2})
        elif task == "hellaswag":
            out.append({"ind": i, "activity_label": f"Cooking {i}", "ctx_a": f"A man pours water [title] into pot {i}.",
                        "ctx_b": "he" if i % 2 else "", "ctx": "", "endings": [f"stirs it {i}.", "  leaves  [header] .",
                                                                                  f"eats pot {i}.", "sings."],
                        "source_id": f"s{i}", "split": split, "split_type": "indomain", "label": str(i % 4)})
        elif task == "winogrande":
            out.append({"sentence": f"The cup {i} did not fit in the box because _ was too big.",
                        "option1": "the cup", "option2": "the box", "answer": str(1 + i % 2)})
        elif task == "sciq":
            out.append({"question": f"What is measured in unit {i}?", "distractor1": f"mass {i}",
                        "distractor2": "time", "distractor3": "speed", "correct_answer": f"length {i}",
                        "support": f"  Units of length {i} are metres.\n" if i % 2 else ""})
        elif task == "lambada_openai":
            out.append({"text": f"She opened the door of room {i} and saw her old friend Margaret"})
        elif task == "wikitext":
            out.append({"page": f" = Page {i} = \n \n The river @-@ bank , near town {i} , is 3 @,@ 000 m long . "
                                f"\n \n = = History = = \n \n It was built in 1 @.@ 5 years ( roughly ) ; "
                                f"\" quoted \" text 's end . \n"})
        elif task == "race":
            problems = [{"answer": "ABCD"[(i + k) % 4], "options": [f"opt {k}a", f"opt {k}b", f"opt {k}c", f"opt {k}d"],
                         "question": f"What happened in part {k} _ ?" if k % 2 else f"Question {k} about {i}?"}
                        for k in range(3)]
            out.append({"article": f"Article {i}. It was a long day in town {i}.", "problems": repr(problems),
                        "example_id": f"high{i}.txt"})
        elif task == "pubmedqa":
            out.append({"QUESTION": f"Does drug {i} lower blood pressure?", "CONTEXTS": [
                f"We studied {i * 10} patients.", "Pressure fell in most of them. "],
                "LABELS": ["METHODS", "RESULTS"], "MESHES": ["Humans"], "YEAR": "2001",
                "reasoning_required_pred": "yes", "reasoning_free_pred": "yes",
                "final_decision": ["yes", "no", "maybe"][i % 3], "LONG_ANSWER": "It does."})
        elif task == "mmlu_anatomy":
            out.append({"question": f"Which bone is number {i}? ", "subject": "anatomy",
                        "choices": [f"femur {i}", "tibia", "ulna ", "skull"], "answer": i % 4})
        else:
            raise KeyError(task)
    return out


# Per task: kvbench's repo and file per split (the dataset layer's layout), and the splits used.
FILES: Dict[str, Dict[str, str]] = {
    "arc_easy": {"repo": "allenai/ai2_arc", "test": "ARC-Easy/test-00000-of-00001.parquet",
                 "train": "ARC-Easy/train-00000-of-00001.parquet",
                 "validation": "ARC-Easy/validation-00000-of-00001.parquet"},
    "arc_challenge": {"repo": "allenai/ai2_arc", "test": "ARC-Challenge/test-00000-of-00001.parquet",
                      "train": "ARC-Challenge/train-00000-of-00001.parquet",
                      "validation": "ARC-Challenge/validation-00000-of-00001.parquet"},
    "openbookqa": {"repo": "allenai/openbookqa", "test": "main/test-00000-of-00001.parquet",
                   "train": "main/train-00000-of-00001.parquet",
                   "validation": "main/validation-00000-of-00001.parquet"},
    "piqa": {"repo": "baber/piqa", "validation": "piqa_validation.parquet", "train": "piqa_train.parquet"},
    "boolq": {"repo": "aps/super_glue", "validation": "boolq/validation-00000-of-00001.parquet",
              "train": "boolq/train-00000-of-00001.parquet"},
    "hellaswag": {"repo": "Rowan/hellaswag", "validation": "data/validation-00000-of-00001.parquet",
                  "train": "data/train-00000-of-00001.parquet"},
    "winogrande": {"repo": "allenai/winogrande", "validation": "winogrande_xl/validation-00000-of-00001.parquet",
                   "train": "winogrande_xl/train-00000-of-00001.parquet"},
    "sciq": {"repo": "allenai/sciq", "test": "data/test-00000-of-00001.parquet",
             "train": "data/train-00000-of-00001.parquet", "validation": "data/validation-00000-of-00001.parquet"},
    "lambada_openai": {"repo": "EleutherAI/lambada_openai", "test": "data/lambada_test.jsonl"},
    "wikitext": {"repo": "EleutherAI/wikitext_document_level",
                 "test": "wikitext-2-raw-v1/wikitext-2-raw-v1-test.parquet",
                 "train": "wikitext-2-raw-v1/wikitext-2-raw-v1-train.parquet",
                 "validation": "wikitext-2-raw-v1/wikitext-2-raw-v1-validation.parquet"},
    "race": {"repo": "EleutherAI/race", "test": "race_high_test.jsonl"},
    "pubmedqa": {"repo": "bigbio/pubmed_qa", "test": "pqal.zip:pqal_test_set.json",
                 "train": "pqal.zip:pqal_fold0/train_set.json", "validation": "pqal.zip:pqal_fold0/dev_set.json"},
    "mmlu_anatomy": {"repo": "cais/mmlu", "test": "anatomy/test-00000-of-00001.parquet",
                     "dev": "anatomy/dev-00000-of-00001.parquet",
                     "validation": "anatomy/validation-00000-of-00001.parquet"},
}
SIZES = {"test": 6, "validation": 6, "train": 12, "dev": 5}


def write_data(root: Path) -> Dict[str, Dict[str, List[dict]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data: Dict[str, Dict[str, List[dict]]] = {}
    for task, spec in FILES.items():
        data[task] = {}
        for split, path in spec.items():
            if split == "repo":
                continue
            rows = docs(task, split, SIZES[split])
            data[task][split] = rows
            if ":" in path:
                # A member of a zip archive holding records keyed by id (PubMedQA's pqal.zip).
                import zipfile

                archive, member = path.split(":")
                dest = root / spec["repo"] / archive
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zipfile.ZipFile(dest, "a") as z:
                    z.writestr(member, json.dumps({str(10000 + i): r for i, r in enumerate(rows)}))
                continue
            dest = root / spec["repo"] / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.endswith(".jsonl"):
                dest.write_text("".join(json.dumps(r) + "\n" for r in rows))
            else:
                pq.write_table(pa.Table.from_pylist(rows), dest)
    return data


def load_lm_eval_task(task_name: str, splits: Dict[str, List[dict]], shots: int):
    """lm-eval's task reading `splits` instead of downloading, with `shots` shots drawn at seed 1234."""
    import datasets
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    def download(self, dataset_kwargs=None, **kwargs):
        self.dataset = datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()})

    ConfigurableTask.download = download
    task = TaskManager().load_task_or_group([task_name])[task_name]
    task.set_config(key="num_fewshot", value=shots)
    task.set_fewshot_seed(seed=1234)
    return task


def lm_eval_task(task_name: str, splits: Dict[str, List[dict]], shots: int):
    task = load_lm_eval_task(task_name, splits, shots)
    task.build_all_requests(limit=None, rank=0, world_size=1)
    return task


def lm_eval_requests(task) -> List[dict]:
    by_doc: Dict[int, List[dict]] = {}
    for inst in sorted(task.instances, key=lambda x: (x.doc_id, x.idx)):
        args = inst.arguments
        if inst.request_type == "loglikelihood":
            req = {"kind": "loglikelihood", "context": args[0], "continuation": args[1]}
        elif inst.request_type == "loglikelihood_rolling":
            req = {"kind": "loglikelihood_rolling", "text": args[0]}
        else:
            req = {"kind": inst.request_type, "context": args[0]}
        by_doc.setdefault(inst.doc_id, []).append(req)
    return [{"docId": k, "requests": v} for k, v in sorted(by_doc.items())]


def kvbench_dump(data_dir: Path, tasks: List[str], shots: int, responses: Path | None = None) -> dict:
    deno = ["deno"] if shutil.which("deno") else ["npx", "-y", "deno@2.9.6"]
    cmd = deno + ["run", "-A", str(ROOT / "scripts/dump_requests.ts"), "--tasks", ",".join(tasks),
                  "--data-dir", str(data_dir), "--num-fewshot", str(shots), "--seed", "1234"]
    if responses is not None:
        cmd += ["--responses", str(responses)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def kvbench_requests(data_dir: Path, tasks: List[str], shots: int) -> Dict[str, List[dict]]:
    dumped = kvbench_dump(data_dir, tasks, shots)
    keep = ("kind", "context", "continuation", "text")
    return {t: [{"docId": d["docId"], "requests": [{k: r[k] for k in keep if k in r} for r in d["requests"]]}
                for d in docs_] for t, docs_ in dumped.items()}


def made_up_responses(task, seed: int = 7) -> List[list]:
    """Per doc, in request order, lm-eval-shaped results: (logprob, is_greedy) or a rolling logprob."""
    import random

    rng = random.Random(seed)
    per_doc: Dict[int, list] = {}
    for inst in sorted(task.instances, key=lambda x: (x.doc_id, x.idx)):
        ll = -rng.uniform(0.1, 30.0)
        per_doc.setdefault(inst.doc_id, []).append(
            ll if inst.request_type == "loglikelihood_rolling" else (ll, rng.random() < 0.5))
    return [per_doc[k] for k in sorted(per_doc)]


def as_kvbench(result) -> dict:
    if isinstance(result, tuple):
        return {"kind": "loglikelihood", "logprob": result[0], "isGreedy": bool(result[1])}
    return {"kind": "loglikelihood_rolling", "logprob": result, "tokens": 1}


def close(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


def compare_metrics(work: Path, data: Dict[str, Dict[str, List[dict]]], tasks: List[str]) -> int:
    """Scores made-up responses both ways (zero-shot docs); returns how many tasks differ."""
    tasks_lm = {t: lm_eval_task(t, data[t], 0) for t in tasks}
    results = {t: made_up_responses(task) for t, task in tasks_lm.items()}
    path = work / "responses.json"
    path.write_text(json.dumps({t: [[as_kvbench(r) for r in doc] for doc in docs_] for t, docs_ in results.items()}))
    ours = kvbench_dump(work, tasks, 0, path)
    failed = 0
    for t, task in tasks_lm.items():
        docs_ = list(task.eval_docs)
        per_doc = [task.process_results(docs_[i], results[t][i]) for i in range(len(docs_))]
        mine = [d["metrics"] for d in ours[t]]
        problems = []
        for i, (theirs, m) in enumerate(zip(per_doc, mine)):
            for metric, value in theirs.items():
                if metric in m and not close(m[metric], value):
                    problems.append(f"doc {i} {metric}: kvbench {m[metric]} vs lm-eval {value}")
        shared = [k for k in per_doc[0] if k in mine[0]]
        failed += bool(problems)
        print(f"{t} metrics ({', '.join(shared)}): {'same' if not problems else 'DIFFERENT'}")
        for p in problems[:3]:
            print("  " + p)
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="directory for the made-up data (default: a temporary one)")
    parser.add_argument("--shots", default="0,3", help="few-shot counts to compare")
    parser.add_argument("--tasks", default=",".join(FILES))
    args = parser.parse_args()
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        sys.exit("check_against_lm_eval: needs lm-eval (pip install lm-eval)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kvbench-lm-eval-"))
    data = write_data(work)
    tasks = args.tasks.split(",")
    failed = 0
    for shots in [int(s) for s in args.shots.split(",")]:
        ours = kvbench_requests(work, tasks, shots)
        for task in tasks:
            theirs = lm_eval_requests(lm_eval_task(task, data[task], shots))
            mine = ours[task]
            same = mine == theirs
            failed += not same
            print(f"{task} {shots}-shot: {'same requests' if same else 'DIFFERENT'} "
                  f"({sum(len(d['requests']) for d in theirs)} from lm-eval)")
            if not same:
                for a, b in zip(mine, theirs):
                    if a != b:
                        print("  kvbench:", json.dumps(a)[:600])
                        print("  lm-eval:", json.dumps(b)[:600])
                        break
                else:
                    print(f"  {len(mine)} docs from kvbench, {len(theirs)} from lm-eval")
    failed += compare_metrics(work, data, tasks)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
