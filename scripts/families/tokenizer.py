"""kvbench's own byte-level BPE tokenizer, trained on text written for this project.

Every fixture shares it. It is written in the Hugging Face tokenizers JSON format so the harness
loads it exactly as it loads a real checkpoint's tokenizer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

SPECIALS = ["<unk>", "<s>", "</s>"]

# Written for kvbench; any English prose works, it only has to give the merges something to learn.
CORPUS = """
The harness reads each model from a directory and runs it one chunk at a time. A chunk may be a
whole prompt or a single token, and the state that the model returns is fed back on the next call.
Researchers compare the accuracy of every family against the memory its cache needs per token.
Question: Which layer keeps the latent vector? Answer: the attention layer keeps it in the cache.
Numbers such as 1024, 2048 and 4096 appear in lengths; so do 8, 16, 32 and 64 in head sizes.
When the sky is clear the river is calm, and the boats go out before the sun is high.
She said that the answer was in the second paragraph, but nobody had read that far yet.
A small model learns to recall the value that followed a key, even when many pairs came between.
The quick test runs on two cores in a few seconds; the slow one needs the graphics card.
"""


def bytes_to_unicode() -> Dict[int, str]:
    """The reversible byte -> printable character map used by byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


PIECE = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")


def train(corpus: str, vocab_size: int) -> Tuple[Dict[str, int], List[Tuple[str, str]]]:
    """Greedy BPE: repeatedly merge the most frequent adjacent pair (ties broken by the pair)."""
    byte_map = bytes_to_unicode()
    words = Counter(
        tuple(byte_map[b] for b in piece.encode("utf-8")) for piece in PIECE.findall(corpus)
    )
    vocab: Dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[byte_map[b]] = len(vocab)
    merges: List[Tuple[str, str]] = []
    while len(vocab) < vocab_size:
        pairs: Counter = Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        new_words: Counter = Counter()
        for word, count in words.items():
            out = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += count
        words = new_words
    return vocab, merges


def tokenizer_json(vocab: Dict[str, int], merges: List[Tuple[str, str]]) -> dict:
    added = [
        {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, s in enumerate(SPECIALS)
    ]
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "<s>", "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


TOKENIZER_CONFIG = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "add_bos_token": True,
    "add_eos_token": False,
    "model_max_length": 256,
    "tokenizer_class": "PreTrainedTokenizerFast",
    # tokenizers.js (like transformers) otherwise rewrites " 'x'" to "'x'" when decoding.
    "clean_up_tokenization_spaces": False,
}


def write(out: Path, vocab_size: int, max_length: int) -> None:
    vocab, merges = train(CORPUS, vocab_size)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json(vocab, merges), indent=1, ensure_ascii=False) + "\n")
    config = dict(TOKENIZER_CONFIG, model_max_length=max_length)
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
