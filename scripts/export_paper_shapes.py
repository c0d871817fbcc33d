#!/usr/bin/env python3
"""Exports random-weight models with the papers' real cache geometry (Llama-3.2-1B based).

    /usr/bin/python3 scripts/export_paper_shapes.py --out DIR [--models a,b] [--tiny-hidden N]
                                                    [--dtype float16|float32] [--grouped-heads] [--no-fold]
                                                    [--graph traced|fused|static]

The weights are random, so these models say nothing about accuracy; they exist to check the
engine's memory and speed accounting at the shapes that matter. Every geometry is 16 layers of
Llama-3.2-1B (hidden 2048, 32 heads, 8 KV heads, head dim 64, vocab 128256):

    llama3.2-1b-gqa    GQA, n_kv 8 · d_h 64           2·16·8·64·2 = 32,768 B/token in fp16
    transmla-1b        MLA r_kv 512 + d_r 64           16·576·2   = 18,432
    xecomla-1b-r128    MLA r_kv 128 + d_r 32 (6.4×)    16·160·2   =  5,120
    xecomla-1b-r64     MLA r_kv 64 + d_r 32 (10.6×)    16·96·2    =  3,072
    dma-1b             GQA's cache + the dynamic mask  2·16·8·64·2 = 32,768
    deepseek-v2-lite   DeepSeek-V2-Lite's own shape    27·576·2   = 31,104 (trained with MLA; MoE)
    plm-1.8b           PLM-1.8B's own shape            32·576·2   = 36,864 (trained with MLA; ReLU² MLP)

``--tiny-hidden N`` keeps the layer count and everything the cache holds (n_kv, head_dim for GQA;
r_kv, d_r for MLA) and shrinks the rest so the file is small: hidden N, intermediate 2N, vocab 512;
MLA layers also get 2 heads, d_nope = d_v = 8 and a plain q_proj (none of which is cached). The
committed fixtures under tests/fixtures/geometry/ are made with ``--tiny-hidden 8 --dtype float16``
(the default dtype); tests/evals/model/geometry_test.ts checks the engine measures the numbers
above. Full size (no --tiny-hidden) needs ~15 GB of RAM and writes external data beside the graph.
Llama-3.2's RoPE scaling is left out (it changes no shape). ``--grouped-heads`` exports the
attention with query heads that share a KV cache as rows of one product
(``families.common.set_grouped_heads``), into OUT/<name>-grouped; ``--no-fold`` keeps the
exporter's shape arithmetic as it was (``families/fold_shapes.py``), into OUT/<name>-unfolded;
``--graph fused`` builds the graph from ONNX Runtime's fused operators (``families/fused.py``;
GQA and MLA layers, so not Zebra or DMA), into OUT/<name>-fused; ``--graph static`` the same with a
cache written in place (GroupQueryAttention: GQA and X-EcoMLA), into OUT/<name>-static.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import fused, llama, mla  # noqa: E402
from families.common import CausalLM, init_weights  # noqa: E402
from families import export as export_module  # noqa: E402
from families.export import DTYPES, cache_bytes, write_model_dir  # noqa: E402

SEED = 20261124


@dataclass
class Base:
    """Llama-3.2-1B's shape, or its tiny stand-in."""

    layers: int = 16
    hidden: int = 2048
    intermediate: int = 8192
    vocab: int = 128256
    heads: int = 32
    n_kv: int = 8
    head_dim: int = 64
    rope_theta: float = 500000.0
    max_positions: int = 131072
    tiny: bool = False

    @staticmethod
    def make(tiny_hidden: Optional[int]) -> "Base":
        if tiny_hidden is None:
            return Base()
        return Base(hidden=tiny_hidden, intermediate=2 * tiny_hidden, vocab=512, tiny=True)

    def llama(self) -> llama.LlamaConfig:
        return llama.LlamaConfig(
            vocab_size=self.vocab, hidden_size=self.hidden, intermediate_size=self.intermediate,
            num_hidden_layers=self.layers, num_attention_heads=self.heads, num_key_value_heads=self.n_kv,
            head_dim=self.head_dim, rope_theta=self.rope_theta, max_position_embeddings=self.max_positions,
        )


@dataclass
class Geometry:
    family: str
    paper: str
    bytes_per_token_fp16: int
    build: Callable[[Base], tuple]  # -> (model, config dict, sidecar layers, formula)
    notes: Dict[str, object] = field(default_factory=dict)


def gqa(base: Base):
    cfg = base.llama()
    return llama.build(cfg), vars(cfg).copy(), llama.layer_layout(cfg), "2 * L * n_kv * d_h * s"


def dma_1b(base: Base):
    """DMA (Doge) at Llama-3.2-1B's shape: GQA's cache, plus the dynamic mask keeping 2048 keys
    per query (Doge's keep_window)."""
    from families import dma

    cfg = dma.DMAConfig(**vars(base.llama()), keep_window=2048)
    return dma.build(cfg), vars(cfg).copy(), dma.layer_layout(cfg), "2 * L * n_kv * d_h * s"


def mla_model(r_kv: int, d_r: int, d_nope: int, d_v: int, q_lora_rank: Optional[int]):
    def build(base: Base):
        heads, nope, v, q_rank = base.heads, d_nope, d_v, q_lora_rank
        if base.tiny:
            heads, nope, v, q_rank = 2, 8, 8, None
        cfgs = [
            mla.MLAConfig(
                hidden_size=base.hidden, num_attention_heads=heads, kv_lora_rank=r_kv, qk_rope_head_dim=d_r,
                qk_nope_head_dim=nope, v_head_dim=v, q_lora_rank=q_rank, rope_theta=base.rope_theta,
            )
            for _ in range(base.layers)
        ]
        model = CausalLM(base.vocab, base.hidden, base.intermediate, [mla.MLAttention(c) for c in cfgs], 1e-5)
        config = dict(vars(base.llama()), mla=[mla.config_entry(c) for c in cfgs])
        return model, config, [mla.layer_entry(i, c) for i, c in enumerate(cfgs)], mla.FORMULA

    return build


GEOMETRIES: Dict[str, Geometry] = {
    "llama3.2-1b-gqa": Geometry("llama", "Llama-3.2-1B", 32768, gqa),
    "transmla-1b": Geometry("transmla", "TransMLA Llama-3.2-1B, 512+64 (README model zoo)", 18432,
                            mla_model(512, 64, 64, 64, None)),
    "xecomla-1b-r128": Geometry("xecomla", "X-EcoMLA 1B 6.4x: r_kv 128, r_q 1344, d_r 32", 5120,
                                mla_model(128, 32, 32, 64, 1344)),
    "dma-1b": Geometry("dma", "DMA (Doge) on Llama-3.2-1B, keep_window 2048", 32768, dma_1b),
    "xecomla-1b-r64": Geometry("xecomla", "X-EcoMLA 1B 10.6x: r_kv 64, r_q 1424, d_r 32", 3072,
                               mla_model(64, 32, 32, 64, 1424)),
}



def zebra_model(mla_layers: List[int], r_kv: int = 128, d_r: int = 32, d_nope: int = 32, d_v: int = 64,
                q_lora_rank: Optional[int] = 1344, tiny_hidden_max: Optional[int] = None):
    """Zebra-Llama: MLA at ``mla_layers``, Mamba2 elsewhere with the dims Zebra derives from the
    teacher's attention (d_inner = H·d_h 2048, d_xb = n_kv·d_h 512, d_state = headdim = d_h 64,
    nheads 32, d_conv 4). The Mamba2 dims set its fixed state, so --tiny-hidden keeps them; MLA
    layers shrink as above.

    A Mamba2 layer keeps ~75k weights even at hidden 8 (in_proj 8 x 5152, out_proj 2048 x 8, the
    3072-channel conv), so with many Mamba2 layers ``tiny_hidden_max`` lowers the tiny hidden size
    further to keep the file under 2 MB; nothing the cache holds depends on it."""

    def build(base: Base):
        import dataclasses

        from families import mamba2, zebra

        capped = base.tiny and tiny_hidden_max is not None and base.hidden > tiny_hidden_max
        if capped:
            base = dataclasses.replace(base, hidden=tiny_hidden_max, intermediate=2 * tiny_hidden_max)
        heads, nope, v, q_rank = base.heads, d_nope, d_v, q_lora_rank
        if base.tiny:
            heads, nope, v, q_rank = 2, 8, 8, None
        mcfg = mamba2.Mamba2Config.from_attention(base.hidden, base.heads, base.n_kv, base.head_dim)
        mixers, layers, entries = [], [], []
        for i in range(base.layers):
            if i in mla_layers:
                c = mla.MLAConfig(
                    hidden_size=base.hidden, num_attention_heads=heads, kv_lora_rank=r_kv, qk_rope_head_dim=d_r,
                    qk_nope_head_dim=nope, v_head_dim=v, q_lora_rank=q_rank, rope_theta=base.rope_theta,
                )
                mixers.append(mla.MLAttention(c))
                layers.append(mla.layer_entry(i, c))
                entries.append(dict(kind="mla", **mla.config_entry(c)))
            else:
                mixers.append(mamba2.Mamba2Mixer(mcfg))
                layers.append(mamba2.layer_entry(i, mcfg))
                entries.append(dict(kind="mamba2", **vars(mcfg)))
        model = CausalLM(base.vocab, base.hidden, base.intermediate, mixers, 1e-5)
        config = dict(vars(base.llama()), mla_layers=list(mla_layers), layers=entries)
        if capped:
            config["tiny_hidden_capped_at"] = tiny_hidden_max
        return model, config, layers, zebra.FORMULA

    return build


# Fixed Mamba2 state per sequence, fp16: layers · (conv_dim 3072 · d_conv 4 + 32 · 64 · 64) · 2.
GEOMETRIES["zebra-1b-8mla8m2"] = Geometry(
    "zebra", "Zebra-Llama 1B 8MLA8M2: MLA r_kv 128 + d_r 32 at [0,2,..,14], Mamba2 elsewhere", 2560,
    zebra_model([0, 2, 4, 6, 8, 10, 12, 14]), notes={"fixed_state_bytes_fp16": 8 * 143360 * 2},
)
GEOMETRIES["zebra-1b-4mla12m2"] = Geometry(
    "zebra", "Zebra-Llama 1B 4MLA12M2: MLA r_kv 128 + d_r 32 at [0,5,10,14], Mamba2 elsewhere", 1280,
    zebra_model([0, 5, 10, 14], tiny_hidden_max=4), notes={"fixed_state_bytes_fp16": 12 * 143360 * 2},
)

def deepseek_v2_lite(base: Base):
    """DeepSeek-V2-Lite as published (its own shape, not Llama's): 27 MLA layers of r_kv 512 + d_r 64,
    16 heads of d_nope 128 / d_v 128, a plain q_proj, YaRN ×40 over 4K; dense first layer, then
    DeepSeekMoE with 64 routed experts (top 6) and 2 shared. --tiny-hidden keeps the layer count and
    the cached widths and shrinks the rest (2 heads, d_nope = d_v = 8, 4 experts of width 4)."""
    from families import deepseek, moe

    tiny = base.tiny
    hidden = base.hidden if tiny else 2048
    experts = moe.MoEConfig(hidden_size=hidden, moe_intermediate_size=4 if tiny else 1408,
                            n_routed_experts=4 if tiny else 64, n_shared_experts=2,
                            num_experts_per_tok=2 if tiny else 6, routed_scaling_factor=1.0)
    cfg = deepseek.DeepSeekConfig(
        vocab_size=base.vocab if tiny else 102400, hidden_size=hidden, intermediate_size=2 * hidden if tiny else 10944,
        num_hidden_layers=27, num_attention_heads=2 if tiny else 16, q_lora_rank=None, kv_lora_rank=512,
        qk_nope_head_dim=8 if tiny else 128, qk_rope_head_dim=64, v_head_dim=8 if tiny else 128,
        rope_scaling={"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                      "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
        max_position_embeddings=163840, first_k_dense_replace=1, moe=experts,
    )
    return deepseek.build(cfg), deepseek.config_entry(cfg), deepseek.layer_layout(cfg), deepseek.FORMULA


GEOMETRIES["deepseek-v2-lite"] = Geometry("deepseek_v2", "DeepSeek-V2-Lite (27 layers, r_kv 512 + d_r 64, MoE)",
                                          31104, deepseek_v2_lite)


def plm_1_8b(base: Base):
    """PLM-1.8B's shape: 32 MLA layers of r_kv 512 + d_r 64, 16 heads of d_nope 128 / d_v 128, a plain
    q_proj, ungated ReLU² MLPs (8192), hidden 2048, vocab 151936, rope_theta 1e5. From the PLM team's
    transformers port (configuration_plm.py: "defaults will yield a similar configuration to that of
    PLM-1.8B-Base") and their MindSpeed pre-training script (the same sizes); the checkpoint's own
    config.json could not be read here. --tiny-hidden keeps the layer count and the cached widths."""
    from families import deepseek

    tiny = base.tiny
    hidden = base.hidden if tiny else 2048
    cfg = deepseek.DeepSeekConfig(
        vocab_size=base.vocab if tiny else 151936, hidden_size=hidden, intermediate_size=2 * hidden if tiny else 8192,
        num_hidden_layers=32, num_attention_heads=2 if tiny else 16, q_lora_rank=None, kv_lora_rank=512,
        qk_nope_head_dim=8 if tiny else 128, qk_rope_head_dim=64, v_head_dim=8 if tiny else 128,
        rope_theta=100000.0, max_position_embeddings=4096, moe=None, first_k_dense_replace=32,
        hidden_act="relu2", rms_norm_eps=1e-6, latent_norm_eps=1e-6,
    )
    return deepseek.build(cfg), deepseek.config_entry(cfg), deepseek.layer_layout(cfg), deepseek.FORMULA


GEOMETRIES["plm-1.8b"] = Geometry("plm", "PLM-1.8B (32 layers, r_kv 512 + d_r 64, ReLU² MLP)", 36864, plm_1_8b)


def export(name: str, out: Path, base: Base, dtype: str, seed: int, suffix: str = "", graph: str = "traced") -> int:
    geo = GEOMETRIES[name]
    model, config, layers, formula = geo.build(base)
    init_weights(model, torch.Generator().manual_seed(seed))
    model.eval()
    tiny = base.hidden if base.tiny else None
    config = dict(config, paper=geo.paper, tiny_hidden=tiny, random_weights=True)
    write_model_dir(out, model, geo.family, name + suffix, config, layers, formula, seed, dtype=dtype, graph=graph)
    per_token, _ = cache_bytes(model.state_decls(), DTYPES[dtype][1])
    expected = geo.bytes_per_token_fp16 * DTYPES[dtype][1] // 2
    assert per_token == expected, f"{name}: {per_token} B/token, paper says {expected}"
    return per_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory; each model goes to OUT/<name>")
    parser.add_argument("--models", default=",".join(GEOMETRIES), help="comma-separated names")
    parser.add_argument("--tiny-hidden", type=int, default=None, help="shrink hidden/intermediate/vocab")
    parser.add_argument("--dtype", default="float16", choices=sorted(DTYPES))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--grouped-heads", action="store_true",
                        help="query heads sharing a KV cache as rows of one product (writes OUT/<name>-grouped)")
    parser.add_argument("--no-fold", action="store_true",
                        help="leave the exporter's shape arithmetic unfolded (writes OUT/<name>-unfolded)")
    parser.add_argument("--graph", default="traced", choices=export_module.GRAPHS,
                        help="fused: built from ONNX Runtime's fused operators (families/fused.py; GQA and "
                             "MLA layers), into OUT/<name>-fused; static: the same with a cache written in "
                             "place (GroupQueryAttention; GQA and X-EcoMLA), with its scoring graph, into "
                             "OUT/<name>-static")
    args = parser.parse_args()
    export_module.GROUPED_HEADS = args.grouped_heads
    export_module.FOLD_SHAPES = not args.no_fold
    suffix = ("-grouped" if args.grouped_heads else "") + ("-unfolded" if args.no_fold else "")
    suffix += "" if args.graph == "traced" else "-" + args.graph
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    base = Base.make(args.tiny_hidden)
    names: List[str] = args.models.split(",")
    for name in names:
        if name not in GEOMETRIES:
            parser.error(f"unknown model {name!r}; known: {', '.join(GEOMETRIES)}")
        if args.graph == "fused" and GEOMETRIES[name].family not in fused.FAMILIES:
            parser.error(f"--graph fused builds GQA and MLA layers, not {name}'s ({GEOMETRIES[name].family}): "
                         f"drop it from --models or export it traced")
        if args.graph == "static" and GEOMETRIES[name].family not in fused.STATIC_FAMILIES:
            parser.error(f"--graph static builds GQA and narrow MLA layers, not {name}'s "
                         f"({GEOMETRIES[name].family}): drop it from --models or export it fused")
    for name in names:
        per_token = export(name, Path(args.out) / (name + suffix), base, args.dtype, args.seed, suffix, args.graph)
        print(f"wrote {Path(args.out) / (name + suffix)}: {per_token} B/token ({args.dtype})")


if __name__ == "__main__":
    main()
