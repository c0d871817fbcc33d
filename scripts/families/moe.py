"""DeepSeekMoE: a router picks ``top_k`` of ``n_routed`` SwiGLU experts per token, plus shared
experts every token goes through (DeepSeek-V2/V3, Moonlight, Kimi).

Routing, as transformers computes it:

- ``softmax`` scoring (V2): s = softmax(x·Wᵣᵀ); ``greedy`` takes the top_k scores;
  ``group_limited_greedy`` first keeps the ``topk_group`` groups (of ``n_routed / n_group``
  experts) with the highest single score and zeroes the others' scores.
- ``sigmoid`` scoring with ``noaux_tc`` (V3): s = sigmoid(x·Wᵣᵀ); experts are *chosen* on
  s + e_score_correction_bias, groups ranked by the sum of their two best biased scores; the
  weights are the unbiased s of the chosen experts.
- The chosen weights are divided by their sum when ``norm_topk_prob``, then multiplied by
  ``routed_scaling_factor``.

The graph computes every expert for every token and weighs the outputs by a dense [tokens, experts]
matrix that is zero outside each token's choice: exact and traceable with fixed shapes. It costs
n_routed / top_k times the routed experts' arithmetic; at DeepSeek-V2-Lite's 64 experts and batch-1
decode that means reading every expert's weights each step, which a TopK-and-gather form would avoid
(measured on CPU against that floor: 3.1-6.3x, docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .common import ReluSquaredMLP, SwiGLU


@dataclass
class MoEConfig:
    hidden_size: int = 64
    moe_intermediate_size: int = 32
    n_routed_experts: int = 4
    n_shared_experts: int = 1
    num_experts_per_tok: int = 2
    scoring_func: str = "softmax"  # or "sigmoid"
    topk_method: str = "greedy"  # "group_limited_greedy", "noaux_tc"
    n_group: int = 1
    topk_group: int = 1
    norm_topk_prob: bool = False
    routed_scaling_factor: float = 1.0


class DeepSeekMoE(nn.Module):
    """Router ``gate``, routed experts stacked as ``gate_up_proj`` [E, 2I, H] and ``down_proj``
    [E, H, I] (transformers' layout), and ``shared_experts``, one SwiGLU of n_shared·I."""

    def __init__(self, cfg: MoEConfig):
        super().__init__()
        if cfg.topk_method not in ("greedy", "group_limited_greedy", "noaux_tc"):
            raise ValueError(f"unknown topk_method {cfg.topk_method!r}")
        if cfg.scoring_func not in ("softmax", "sigmoid"):
            raise ValueError(f"unknown scoring_func {cfg.scoring_func!r}")
        if cfg.n_routed_experts % cfg.n_group:
            raise ValueError(f"n_group {cfg.n_group} must divide n_routed_experts {cfg.n_routed_experts}")
        self.cfg = cfg
        e, h, i = cfg.n_routed_experts, cfg.hidden_size, cfg.moe_intermediate_size
        self.gate = nn.Linear(h, e, bias=False)
        if cfg.topk_method == "noaux_tc":
            self.register_buffer("e_score_correction_bias", torch.zeros(e))
        self.gate_up_proj = nn.Parameter(torch.zeros(e, 2 * i, h))
        self.down_proj = nn.Parameter(torch.zeros(e, h, i))
        self.shared_experts = SwiGLU(h, i * cfg.n_shared_experts) if cfg.n_shared_experts else None

    def routing(self, x: torch.Tensor) -> torch.Tensor:
        """Dense routing weights [N, E] for tokens x [N, H]: zero outside each token's top_k."""
        cfg = self.cfg
        logits = self.gate(x)
        scores = logits.softmax(-1) if cfg.scoring_func == "softmax" else logits.sigmoid()
        choice = scores
        if cfg.topk_method == "noaux_tc":
            choice = scores + self.e_score_correction_bias
        if cfg.topk_method in ("group_limited_greedy", "noaux_tc") and cfg.n_group > 1:
            grouped = choice.reshape(-1, cfg.n_group, cfg.n_routed_experts // cfg.n_group)
            if cfg.topk_method == "noaux_tc":
                group_scores = grouped.topk(2, dim=-1).values.sum(-1)
            else:
                group_scores = grouped.max(dim=-1).values
            kept = group_scores.topk(cfg.topk_group, dim=-1).indices
            group_mask = torch.zeros_like(group_scores).scatter(1, kept, 1.0)
            expert_mask = group_mask.unsqueeze(-1).expand_as(grouped).reshape(-1, cfg.n_routed_experts)
            # V2's softmax scores are positive, so 0 is below every kept one; V3's biased sigmoid
            # scores may be negative, hence -inf there (as transformers does).
            dropped = 0.0 if cfg.topk_method == "group_limited_greedy" else float("-inf")
            choice = choice.masked_fill(expert_mask == 0, dropped)
        chosen = choice.topk(cfg.num_experts_per_tok, dim=-1).indices
        weights = scores.gather(-1, chosen)
        if cfg.norm_topk_prob:
            weights = weights / (weights.sum(-1, keepdim=True) + (1e-20 if cfg.topk_method == "noaux_tc" else 0.0))
        weights = weights * cfg.routed_scaling_factor
        return torch.zeros_like(scores).scatter(-1, chosen, weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        dense = self.routing(flat)  # [N, E]
        gate_up = torch.einsum("nh,eih->eni", flat, self.gate_up_proj)  # [E, N, 2I]
        gate, up = gate_up.chunk(2, dim=-1)
        out = torch.einsum("eni,ehi->enh", F.silu(gate) * up, self.down_proj)  # [E, N, H]
        routed = torch.einsum("enh,ne->nh", out, dense)
        if self.shared_experts is not None:
            routed = routed + self.shared_experts(flat)
        return routed.reshape(shape)


    def fused(self, g, x: str, name: str) -> str:
        """This MLP in ``fused.build``'s graph: the routing as ``routing`` computes it, then every
        expert over every token as batched products with the stacked weights, weighed by the dense
        routing matrix, plus the shared experts."""
        from onnx import TensorProto

        from .fused import matmul

        cfg = self.cfg
        e, k = cfg.n_routed_experts, cfg.num_experts_per_tok
        logits = matmul(g, x, [self.gate], f"{name}.gate")[0]  # [B, S, E]
        if cfg.scoring_func == "softmax":
            scores = g.op1("Softmax", [logits], axis=-1)
        else:
            scores = g.op1("Sigmoid", [logits])
        choice = scores
        if cfg.topk_method == "noaux_tc":
            choice = g.op1("Add", [scores, g.weight(f"{name}.e_score_correction_bias", self.e_score_correction_bias)])
        if cfg.topk_method in ("group_limited_greedy", "noaux_tc") and cfg.n_group > 1:
            grouped = g.op1("Reshape", [choice, g.const("shape", [0, 0, cfg.n_group, e // cfg.n_group])])
            if cfg.topk_method == "noaux_tc":
                best = g.op("TopK", [grouped, g.const("k", [2])], 2, axis=-1)[0]
                group_scores = g.op1("ReduceSum", [best, g.const("axes", [-1])], keepdims=0)
            else:
                group_scores = g.op1("ReduceMax", [grouped, g.const("axes", [-1])], keepdims=0)
            kept = g.op("TopK", [group_scores, g.const("k", [cfg.topk_group])], 2, axis=-1)[1]
            ones = g.op1("Cast", [g.op1("Greater", [kept, g.const("minus1", [-1])])], to=TensorProto.BOOL)
            no = g.op1("Cast", [g.op1("Less", [group_scores, group_scores])], to=TensorProto.BOOL)
            group_mask = g.op1("ScatterElements", [no, kept, ones], axis=-1)  # [B, S, G] true where kept
            expert_mask = g.op1("Reshape", [g.op1("Expand", [g.op1("Unsqueeze", [group_mask, g.const("axes", [-1])]),
                                                             g.op1("Shape", [grouped])]),
                                            g.const("shape", [0, 0, e])])
            low = np.array(0.0 if cfg.topk_method == "group_limited_greedy" else -np.inf, dtype=g.np_dtype)
            choice = g.op1("Where", [expert_mask, choice, g.weight(g.name("dropped"), low)])
        chosen = g.op("TopK", [choice, g.const("k", [k])], 2, axis=-1)[1]  # [B, S, k]
        weights = g.op1("GatherElements", [scores, chosen], axis=-1)
        if cfg.norm_topk_prob:
            total = g.op1("ReduceSum", [weights, g.const("axes", [-1])], keepdims=1)
            eps = 1e-20 if cfg.topk_method == "noaux_tc" and g.np_dtype == np.float32 else 0.0
            weights = g.op1("Div", [weights, g.op1("Add", [total, g.weight(g.name("eps"), np.array(eps, g.np_dtype))])])
        if cfg.routed_scaling_factor != 1.0:
            weights = g.op1("Mul", [weights, g.weight(g.name("scale"), np.array(cfg.routed_scaling_factor, g.np_dtype))])
        zeros = g.op1("Sub", [scores, scores])
        dense = g.op1("ScatterElements", [zeros, chosen, weights], axis=-1)  # [B, S, E]
        # Every expert over every token: [1, N, H] x [E, H, 2I] -> [E, N, 2I], then [E, N, I] x [E, I, H].
        tokens = g.op1("Unsqueeze", [g.op1("Reshape", [x, g.const("shape", [-1, cfg.hidden_size])]), g.const("axes", [0])])
        gate_up = g.op1("MatMul", [tokens, g.weight(f"{name}.gate_up_proj_t", self.gate_up_proj.transpose(1, 2))])
        gate, up = g.op("Split", [gate_up, g.const("split", [cfg.moe_intermediate_size] * 2)], 2, axis=-1)
        act = g.op1("Mul", [g.op1("Mul", [gate, g.op1("Sigmoid", [gate])]), up])
        out = g.op1("MatMul", [act, g.weight(f"{name}.down_proj_t", self.down_proj.transpose(1, 2))])  # [E, N, H]
        per_expert = g.op1("Unsqueeze", [g.op1("Transpose", [g.op1("Reshape", [dense, g.const("shape", [-1, e])])],
                                               perm=[1, 0]), g.const("axes", [-1])])  # [E, N, 1]
        routed = g.op1("ReduceSum", [g.op1("Mul", [out, per_expert]), g.const("axes", [0])], keepdims=0)  # [N, H]
        routed = g.op1("Reshape", [routed, g.op1("Shape", [x])])
        if self.shared_experts is not None:
            routed = g.op1("Add", [routed, self.shared_experts.fused(g, x, f"{name}.shared_experts")])
        return routed


def moe_or_dense(layer: int, first_dense: int, hidden: int, intermediate: int, cfg: Optional[MoEConfig],
                 activation: str = "silu") -> nn.Module:
    """Layer ``layer``'s MLP in a DeepSeek-layout decoder: dense before ``first_k_dense_replace`` (a
    SwiGLU, or PLM's ReLU² MLP with ``activation`` "relu2"), DeepSeekMoE from there."""
    if cfg is None or layer < first_dense:
        return ReluSquaredMLP(hidden, intermediate) if activation == "relu2" else SwiGLU(hidden, intermediate)
    return DeepSeekMoE(cfg)
