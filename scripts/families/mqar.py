"""MQAR in tokens mode: a line-for-line port of tasks/mqar.ts and core/random.ts.

Training and the PyTorch accuracy in each zoo model's TRAINING.md use these examples; the
harness regenerates the same ones in TypeScript, which tests/tasks/mqar_test.ts checks against
vectors this module writes.
"""

from __future__ import annotations

import hashlib
import json
from typing import List, Sequence, Tuple

M32 = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    return (a * b) & M32


class Rng:
    """mulberry32, as core/random.ts: every operation modulo 2^32, draws in [0, 1)."""

    def __init__(self, seed: int):
        self.state = seed & M32

    def uniform(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & M32
        t = self.state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296

    def int(self, lo: int, hi: int) -> int:
        return lo + int(self.uniform() * (hi - lo))

    def sample_range(self, lo: int, hi: int, k: int) -> List[int]:
        pool = list(range(lo, hi))
        if k > len(pool):
            raise ValueError(f"cannot draw {k} distinct values from {len(pool)}")
        for i in range(k):
            j = i + int(self.uniform() * (len(pool) - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def weighted_sample(self, weights: Sequence[float], k: int) -> List[int]:
        w = list(weights)
        total = 0.0
        for x in w:
            total += x
        out = []
        for _ in range(k):
            u = self.uniform() * total
            i = 0
            while i < len(w) - 1 and (w[i] == 0 or u >= w[i]):
                u -= w[i]
                i += 1
            while w[i] == 0 and i > 0:
                i -= 1
            out.append(i)
            total -= w[i]
            w[i] = 0
        return out


def seed_from(text: str) -> int:
    """FNV-1a over UTF-16 code units, as core/random.ts seedFrom (ASCII here)."""
    h = 0x811C9DC5
    for ch in text:
        h ^= ord(ch)
        h = _imul(h, 0x01000193)
    return h


def mqar(vocab_size: int, seq_len: int, num_kv_pairs: int, num_examples: int, seed: int,
         power_a: float = 0.01) -> List[Tuple[List[int], List[int], List[int]]]:
    """(tokens, query positions, values) per example."""
    n = num_kv_pairs
    context = 2 * n
    space = (seq_len - context) // 2
    if seq_len % 2 or space < n:
        raise ValueError(f"cannot fit {n} pairs in {seq_len} tokens")
    weights = [power_a * (g + 1) ** (power_a - 1) for g in range(space)]
    rng = Rng(seed)
    examples = []
    for _ in range(num_examples):
        keys = rng.sample_range(1, vocab_size // 2, n)
        values = rng.sample_range(vocab_size // 2, vocab_size, n)
        gaps = rng.weighted_sample(weights, n)
        tokens = [-1] * seq_len
        for i, (k, v) in enumerate(zip(keys, values)):
            tokens[2 * i] = k
            tokens[2 * i + 1] = v
        positions = [context + 2 * g for g in gaps]
        for p, k in zip(positions, keys):
            tokens[p] = k
        for i in range(seq_len):
            if tokens[i] == -1:
                tokens[i] = rng.int(0, vocab_size)
        examples.append((tokens, positions, values))
    return examples


def cell_seed(vocab_size: int, seq_len: int, num_kv_pairs: int, seed: int) -> int:
    """The per-cell seed tasks/mqar.ts derives from the run's seed."""
    return seed_from(f"mqar:{vocab_size}:{seq_len}:{num_kv_pairs}:{seed}")


def digest(examples) -> str:
    return hashlib.sha256(json.dumps([list(map(list, e)) for e in examples], separators=(",", ":")).encode()).hexdigest()


def write_vectors(path) -> None:
    """Digests of a few generated cells, for the TypeScript generator's parity test."""
    cells = []
    for vocab, seq, kv, seed in [(512, 64, 8, 1234), (8192, 128, 16, 7), (256, 256, 4, 0)]:
        s = cell_seed(vocab, seq, kv, seed)
        ex = mqar(vocab, seq, kv, 5, s)
        cells.append({"vocab_size": vocab, "seq_len": seq, "num_kv_pairs": kv, "seed": seed,
                      "cell_seed": s, "first_tokens": ex[0][0][:12], "sha256": digest(ex)})
    path.write_text(json.dumps(cells, indent=2) + "\n")
