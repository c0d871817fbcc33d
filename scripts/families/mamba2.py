"""Mamba2 token mixer in Zebra-Llama's GQA-style variant (MambaInLlama lineage).

One layer, per chunk of S tokens:
  in_proj(h) -> [z (d_inner), x (d_xb), B (d_xb), C (d_inner), dt (nheads)]
  xBC = [x, B, C] goes through a causal depthwise conv1d (kernel d_conv, with bias) and SiLU;
  x [n_kv groups of headdim] and B [n_kv groups of d_state] are repeated to the nheads heads the
  way GQA repeats K/V (head h reads group h // (nheads / n_kv)); C has one d_state row per head;
  dt = softplus(dt + dt_bias), A = -exp(A_log), and per head h and token t
      S_h <- exp(dt_t A_h) S_h + dt_t x_t,h (outer) B_t,h        S_h: [headdim, d_state]
      y_t,h = S_h C_t,h + D_h x_t,h
  y = RMSNormGated(y, z): y * silu(z), then RMS-normalised in groups of d_inner / ngroups;
  out_proj(y).

State (fixed size, one pair per Mamba layer):
  past_conv.{i} [B, conv_dim, d_conv]  the last d_conv xBC inputs of the conv, oldest first,
                                       before the conv and its activation. This is mamba_ssm's
                                       layout (the oldest column is never read: the conv at the
                                       next token uses the newest d_conv - 1 plus the new input),
                                       kept so the fixed size matches Zebra's own cache:
                                       conv_dim * d_conv elements, conv_dim = d_inner + 2 d_xb.
  past_ssm.{i}  [B, nheads, headdim, d_state]  S above.
  fixed bytes per sequence = sum over Mamba layers of (conv_dim * d_conv + nheads * headdim * d_state) * s.

Two equivalent ways to run a chunk, chosen by ``mode``:
  "ssd"        the chunked state-space-duality algorithm, in plain tensor ops for any length:
               the chunk is cut into blocks of ``chunk`` tokens (zero-padded symbolically to a
               multiple), the within-block part is a masked, decayed C B^T product, the block
               states are combined by a decayed lower-triangular matrix over blocks. The ONNX
               export uses it for every call, single-token decode included. All per-token
               tensors are cut into blocks once, as one [B*blocks, chunk, features] tensor, so
               the graph reshapes with constant sizes except where rows are told apart (about
               230 nodes per layer).
  "recurrent"  the token-by-token recurrence above (and a token-by-token rolling conv). The
               PyTorch reference outputs use it, so the engine's parity test checks SSD == scan.

Padding: at token_mask == 0 the conv input is zeroed and dt is forced to 0 (no decay, no input),
so pads before a row's first token leave both states exactly at zero, as a fresh row's are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .common import StateDecl, StepContext


@dataclass
class Mamba2Config:
    hidden_size: int
    d_inner: int  # nheads * headdim
    d_xb: int  # n_kv * headdim (x and B before repetition)
    d_state: int
    nheads: int
    headdim: int
    ngroups: int  # groups of the gated norm (Zebra: == nheads)
    d_conv: int = 4
    chunk: int = 8
    eps: float = 1e-5

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.d_xb

    @property
    def n_xb_groups(self) -> int:
        return self.d_xb // self.headdim

    def fixed_state_elements(self) -> int:
        return self.conv_dim * self.d_conv + self.nheads * self.headdim * self.d_state

    @staticmethod
    def from_attention(hidden: int, heads: int, kv_heads: int, head_dim: int, chunk: int = 8) -> "Mamba2Config":
        """Zebra's dims from an attention layer: d_inner = H d_h, d_xb = n_kv d_h, d_state =
        headdim = d_h, nheads = ngroups = H (Zebra-Llama train_distill.py)."""
        return Mamba2Config(
            hidden_size=hidden,
            d_inner=heads * head_dim,
            d_xb=kv_heads * head_dim,
            d_state=head_dim,
            nheads=heads,
            headdim=head_dim,
            ngroups=heads,
            chunk=chunk,
        )


class GatedRMSNorm(nn.Module):
    """RMSNormGated with norm_before_gate=False: normalise y * silu(z) in groups."""

    def __init__(self, dim: int, group_size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.group_size = group_size
        self.eps = eps

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = y * F.silu(z)
        g = y.reshape(-1, self.group_size)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)
        return g.view_as(y) * self.weight


def _segsum(a: torch.Tensor, n: int) -> torch.Tensor:
    """a [..., n] -> [..., n, n] with out[i, j] = a[j+1] + ... + a[i] for j < i, 0 elsewhere.

    Summed from the masked terms themselves (no difference of two cumulative sums), so long
    runs keep their precision; entries above the diagonal come out 0, not -inf, and are zeroed
    after the exponential by the caller's mask.
    """
    idx = torch.arange(n, device=a.device)
    below = idx[:, None] > idx[None, :]  # [i, j]: i > j
    terms = torch.where(below, a[..., :, None], torch.zeros((), dtype=a.dtype))  # [..., i, j] = a[i]
    return torch.cumsum(terms, dim=-2)


def _decay(a: torch.Tensor, n) -> torch.Tensor:
    """exp(segsum(a)) on and below the diagonal, 0 above: [..., n, n]; n = a.shape[-1], passed
    in so a size known in advance stays a constant in the exported graph."""
    idx = torch.arange(n, device=a.device)
    causal = (idx[:, None] >= idx[None, :]).to(a.dtype)
    return torch.exp(_segsum(a, n)) * causal


def to_blocks(t: torch.Tensor, chunk: int, width: int) -> torch.Tensor:
    """[B, S, F] -> [B * c, chunk, F], c = ceil(S / chunk), zero-padded at the end.

    One block of zeros is appended and ceil(S / chunk) blocks are kept; both counts come from
    shapes (the length of a strided slice), so the trace keeps them symbolic.
    """
    blocks = t[:, ::chunk].shape[1]
    padded = F.pad(t, (0, 0, 0, chunk))[:, : blocks * chunk]
    return padded.reshape(-1, chunk, width)


def ssd_blocks(u, a, b, c, s0, dims, q=None):
    """Chunked SSD scan over blocks of Q tokens, head-major, blocks of all rows stacked.

    u [B*c, H, Q, P] (inputs already multiplied by dt), a [B*c, H, Q] (dt * A, <= 0),
    b/c [B*c, H, Q, N], s0 [B, H, P, N], dims = (H, P, N) and q = Q as ints. Returns
    y [B*c, H, Q, P] and the final state [B, H, P, N]. Padded slots must have a = 0 and u = 0 so they leave the state unchanged.
    """
    h, p, n = dims
    cum = torch.cumsum(a, dim=-1)  # [Bc, H, Q]
    # 1. within each block: y_i = sum_{j<=i} exp(a_{j+1..i}) (C_i . B_j) u_j
    y = torch.matmul(torch.matmul(c, b.transpose(-1, -2)) * _decay(a, a.shape[-1] if q is None else q), u)  # [Bc, H, Q, P]
    # 2. each block's own contribution to the state at its end
    to_end = torch.exp(cum[..., -1:] - cum)  # [Bc, H, Q], exponents <= 0
    own = torch.matmul((u * to_end[..., None]).transpose(-1, -2), b)  # [Bc, H, P, N]
    # 3. states entering each block, and the final one: decayed sums over earlier blocks and s0.
    #    Rows are separated here, once: [Bc, H, P*N + 1] -> [B, c, H, P*N + 1].
    per_row = torch.cat([own.reshape(-1, h, p * n), cum[..., -1:]], dim=-1)
    per_row = per_row.reshape(s0.shape[0], -1, h, p * n + 1).transpose(1, 2)  # [B, H, c, P*N + 1]
    totals = F.pad(per_row[..., -1], (1, 0))  # [B, H, c + 1]: block z's total decay at z + 1
    carried = torch.cat([s0.reshape(-1, h, 1, p * n), per_row[..., :-1]], dim=2)  # [B, H, c + 1, P*N]
    mixed = torch.matmul(_decay(totals, totals.shape[-1]), carried)  # [B, H, c + 1, P*N]: state before block z
    entering = mixed[:, :, :-1].transpose(1, 2).reshape(-1, h, p, n)  # [Bc, H, P, N]
    final = mixed[:, :, -1].reshape(-1, h, p, n)
    # 4. what the entering state gives each token of its block: exp(a_{1..i}) S C_i
    y = y + torch.matmul(c, entering.transpose(-1, -2)) * torch.exp(cum)[..., None]
    return y, final


def ssd_chunked(x, a, b, c, s0, chunk: int):
    """The chunked scan on per-token tensors (for checks; the mixer calls ``ssd_blocks`` itself): x [B, S, H, P] (already multiplied by dt),
    a [B, S, H], b/c [B, S, H, N], s0 [B, H, P, N] -> y [B, S, H, P], final state."""
    bsz, seq, h, p = x.shape
    n = b.shape[-1]
    flat = torch.cat([x.reshape(bsz, seq, h * p), b.reshape(bsz, seq, h * n), c.reshape(bsz, seq, h * n), a], -1)
    xb, bb, cb, ab = torch.split(to_blocks(flat, chunk, flat.shape[-1]), [h * p, h * n, h * n, h], dim=-1)
    y, final = ssd_blocks(
        xb.reshape(-1, chunk, h, p).transpose(1, 2), ab.transpose(1, 2),
        bb.reshape(-1, chunk, h, n).transpose(1, 2), cb.reshape(-1, chunk, h, n).transpose(1, 2), s0, (h, p, n), chunk,
    )
    return y.transpose(1, 2).reshape(bsz, -1, h, p)[:, :seq], final


def ssd_recurrent(x, a, b, c, s0):
    """The same scan one token at a time (the reference)."""
    state = s0
    ys = []
    for t in range(x.shape[1]):
        state = torch.exp(a[:, t])[:, :, None, None] * state + x[:, t, :, :, None] * b[:, t, :, None, :]
        ys.append(torch.matmul(state, c[:, t, :, :, None])[..., 0])  # [B, H, P]
    return torch.stack(ys, dim=1), state


class Mamba2Mixer(nn.Module):
    def __init__(self, cfg: Mamba2Config):
        super().__init__()
        self.cfg = cfg
        self.mode = "ssd"
        d_in_proj = 2 * cfg.d_inner + 2 * cfg.d_xb + cfg.nheads
        self.in_proj = nn.Linear(cfg.hidden_size, d_in_proj, bias=False)
        self.conv1d = nn.Conv1d(cfg.conv_dim, cfg.conv_dim, cfg.d_conv, groups=cfg.conv_dim, bias=True)
        self.dt_bias = nn.Parameter(torch.zeros(cfg.nheads))
        self.A_log = nn.Parameter(torch.zeros(cfg.nheads))
        self.D = nn.Parameter(torch.ones(cfg.nheads))
        self.norm = GatedRMSNorm(cfg.d_inner, cfg.d_inner // cfg.ngroups, cfg.eps)
        self.out_proj = nn.Linear(cfg.d_inner, cfg.hidden_size, bias=False)

    def states(self, layer: int):
        cfg = self.cfg
        return [
            StateDecl(f"past_conv.{layer}", f"present_conv.{layer}", ["batch_size", cfg.conv_dim, cfg.d_conv], False),
            StateDecl(
                f"past_ssm.{layer}", f"present_ssm.{layer}",
                ["batch_size", cfg.nheads, cfg.headdim, cfg.d_state], False,
            ),
        ]

    def conv(self, xbc: torch.Tensor, conv_state: torch.Tensor):
        """xbc [B, S, conv_dim] -> (SiLU(conv) [B, S, conv_dim], new conv state)."""
        k = self.cfg.d_conv
        seq = xbc.transpose(1, 2)  # [B, conv_dim, S]
        if self.mode == "recurrent":
            state = conv_state
            taps = self.conv1d.weight[:, 0, :]  # [conv_dim, d_conv]
            outs = []
            for t in range(seq.shape[2]):
                state = torch.cat([state[:, :, 1:], seq[:, :, t:t + 1]], dim=2)
                outs.append((state * taps).sum(-1) + self.conv1d.bias)
            out = torch.stack(outs, dim=2)
            new_state = state
        else:
            hist = torch.cat([conv_state, seq], dim=2)  # [B, conv_dim, d_conv + S]
            out = F.conv1d(hist[:, :, 1:], self.conv1d.weight, self.conv1d.bias, groups=self.cfg.conv_dim)
            new_state = hist[:, :, -k:]
        return F.silu(out).transpose(1, 2), new_state

    def forward(self, hidden: torch.Tensor, ctx: StepContext, past):
        cfg = self.cfg
        real = ctx.token_mask.to(hidden.dtype)[..., None]  # [B, S, 1]
        z, xbc, dt = torch.split(self.in_proj(hidden), [cfg.d_inner, cfg.conv_dim, cfg.nheads], dim=-1)
        xbc, conv_state = self.conv(xbc * real, past[0])
        if self.mode == "recurrent":
            y, ssm_state = self.scan_recurrent(z, xbc, dt, real, past[1])
        else:
            y, ssm_state = self.scan_ssd(z, xbc, dt, real, past[1])
        return self.out_proj(y), [conv_state, ssm_state]

    def heads(self, xbc: torch.Tensor, dt: torch.Tensor, real: torch.Tensor, tokens: int):
        """Per-token tensors [R, tokens, .] -> x [R, tokens, H, P] and B [R, tokens, H, N] repeated
        from their groups, C [R, tokens, H, N], dt [R, tokens, H] (0 at pads)."""

        # The repetition broadcasts against a ones tensor and every reshape leaves only the first
        # axis to -1, so the exported graph needs no shape arithmetic here.
        cfg = self.cfg
        g, rep = cfg.n_xb_groups, cfg.nheads // cfg.n_xb_groups
        x, b, c = torch.split(xbc, [cfg.d_xb, cfg.d_xb, cfg.d_inner], dim=-1)
        ones = torch.ones(rep, 1, dtype=xbc.dtype, device=xbc.device)
        x = (x.reshape(-1, g, 1, cfg.headdim) * ones).reshape(-1, tokens, cfg.nheads, cfg.headdim)
        b = (b.reshape(-1, g, 1, cfg.d_state) * ones).reshape(-1, tokens, cfg.nheads, cfg.d_state)
        c = c.reshape(-1, tokens, cfg.nheads, cfg.d_state)
        dt = F.softplus(dt + self.dt_bias) * real
        return x, b, c, dt

    def scan_ssd(self, z, xbc, dt, real, s0):
        """Export path: every per-token tensor is cut into blocks once ([B*c, Q, F]), so the
        graph reshapes with constant sizes except where rows are separated."""
        cfg = self.cfg
        q = cfg.chunk
        widths = [cfg.d_inner, cfg.conv_dim, cfg.nheads, 1]
        blocks = to_blocks(torch.cat([z, xbc, dt, real], dim=-1), q, sum(widths))  # pads: real = 0
        zb, xbcb, dtb, realb = torch.split(blocks, widths, dim=-1)
        x, b, c, dtb = self.heads(xbcb, dtb, realb, q)  # [Bc, Q, H, .]
        a = dtb * -torch.exp(self.A_log)
        y, final = ssd_blocks(
            (x * dtb[..., None]).transpose(1, 2), a.transpose(1, 2), b.transpose(1, 2), c.transpose(1, 2), s0,
            (cfg.nheads, cfg.headdim, cfg.d_state), q,
        )
        y = y.transpose(1, 2) + x * self.D[:, None]  # [Bc, Q, H, P]
        y = self.norm(y.reshape(-1, q, cfg.d_inner), zb)  # [Bc, Q, d_inner]
        y = y.reshape(s0.shape[0], -1, cfg.d_inner)[:, : z.shape[1]]
        return y, final

    def scan_recurrent(self, z, xbc, dt, real, s0):
        """Reference path: the recurrence, token by token."""
        cfg = self.cfg
        x, b, c, dt = self.heads(xbc, dt, real, xbc.shape[1])  # [B, S, H, .]
        a = dt * -torch.exp(self.A_log)
        y, final = ssd_recurrent(x * dt[..., None], a, b, c, s0)
        y = y + x * self.D[:, None]
        return self.norm(y.reshape(z.shape), z), final


def set_mode(model: nn.Module, mode: str) -> None:
    """Switches every Mamba2 layer of ``model`` to "ssd" (export) or "recurrent" (reference)."""
    assert mode in ("ssd", "recurrent")
    for m in model.modules():
        if isinstance(m, Mamba2Mixer):
            m.mode = mode


@torch.no_grad()
def init_from_attention(mixer: Mamba2Mixer, attn: nn.Module, generator: torch.Generator) -> None:
    """Zebra's init: in_proj's x rows <- v_proj, B rows <- k_proj, C rows <- q_proj,
    out_proj <- o_proj; z, dt, dt_bias, A_log, D and the conv are fresh.

    The fresh values (fixture choices, not Zebra's): z and dt rows ~ N(0, 1/fan_in);
    A_log = log U[1, 4]; dt_bias = softplus^-1 of dt ~ logU[0.05, 0.5]; D ~ 1 + 0.1 N;
    conv taps ~ 0.2 N with the newest tap 1 + 0.2 N, bias ~ 0.1 N. dt stays large enough that
    the state, and so the SSD/recurrence agreement, visibly drives the logits.
    """
    cfg = mixer.cfg
    w = mixer.in_proj.weight
    hidden = cfg.hidden_size
    o = 0
    w[o:o + cfg.d_inner] = torch.randn(cfg.d_inner, hidden, generator=generator) / hidden ** 0.5
    o += cfg.d_inner
    w[o:o + cfg.d_xb] = attn.v_proj.weight
    o += cfg.d_xb
    w[o:o + cfg.d_xb] = attn.k_proj.weight
    o += cfg.d_xb
    w[o:o + cfg.d_inner] = attn.q_proj.weight
    o += cfg.d_inner
    w[o:o + cfg.nheads] = torch.randn(cfg.nheads, hidden, generator=generator) / hidden ** 0.5
    mixer.out_proj.weight.copy_(attn.o_proj.weight)
    u = torch.rand(cfg.nheads, generator=generator)
    mixer.A_log.copy_(torch.log(1.0 + 3.0 * u))
    u = torch.rand(cfg.nheads, generator=generator)
    dt = torch.exp(u * (torch.log(torch.tensor(0.5)) - torch.log(torch.tensor(0.05))) + torch.log(torch.tensor(0.05)))
    mixer.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
    mixer.D.copy_(1.0 + 0.1 * torch.randn(cfg.nheads, generator=generator))
    taps = 0.2 * torch.randn(cfg.conv_dim, 1, cfg.d_conv, generator=generator)
    taps[:, 0, -1] += 1.0
    mixer.conv1d.weight.copy_(taps)
    mixer.conv1d.bias.copy_(0.1 * torch.randn(cfg.conv_dim, generator=generator))
    mixer.norm.weight.copy_(1.0 + 0.1 * torch.randn(cfg.d_inner, generator=generator))


def layer_entry(index: int, cfg: Mamba2Config) -> dict:
    return {
        "index": index,
        "kind": "mamba2",
        "conv_dim": cfg.conv_dim,
        "d_conv": cfg.d_conv,
        "nheads": cfg.nheads,
        "headdim": cfg.headdim,
        "d_state": cfg.d_state,
    }


FIXED_FORMULA = "sum_mamba_layers (conv_dim * d_conv + nheads * headdim * d_state) * s"
