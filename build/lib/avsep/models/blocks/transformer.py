"""Cross-modal transformer encoder (Tsai et al., "Multimodal Transformer", used by VocaLiST).

A stack of pre-LayerNorm layers whose queries come from one modality and whose keys/values
come from another (or the same, for self-attention). As in the Multimodal Transformer code
that VocaLiST builds on: inputs are scaled by sqrt(d), sinusoidal positions are added to
queries, keys and values, the keys/values share the query's pre-attention LayerNorm, the
feed-forward width is 4·d, a final LayerNorm closes the stack, and an optional "future" mask
hides key positions more than |T_k - T_q| steps ahead of each query.

Attention itself is ``torch.nn.MultiheadAttention`` (same parameters as the reference: a
3·d×d input projection and a d×d output projection, with biases).

Shapes: queries (B, Tq, D), keys/values (B, Tk, D) -> (B, Tq, D).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sinusoidal position table (length, dim): sines in the first half, cosines in the second.

    Positions start at 1 (fairseq convention with padding index 0); an odd ``dim`` gets a
    zero last column.
    """
    half = dim // 2
    scale = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -scale)
    pos = torch.arange(1, length + 1, device=device, dtype=torch.float32)[:, None] * freqs[None]
    table = torch.cat([pos.sin(), pos.cos()], dim=1)
    if dim % 2:
        table = F.pad(table, (0, 1))
    return table.to(dtype)


def future_mask(t_query: int, t_key: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean mask (Tq, Tk), True where attention is blocked: key j > i + |Tk - Tq|."""
    i = torch.arange(t_query, device=device)[:, None]
    j = torch.arange(t_key, device=device)[None, :]
    return j > i + abs(t_key - t_query)


class CrossModalLayer(nn.Module):
    """One pre-LN layer: x + MHA(LN(x), LN(kv), LN(kv)), then x + FFN(LN(x)).

    Shapes: x (B, Tq, D), kv (B, Tk, D) or None for self-attention -> (B, Tq, D).
    """

    def __init__(self, dim: int, heads: int, *, attn_dropout: float = 0.0,
                 relu_dropout: float = 0.1, res_dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"transformer width {dim} must be divisible by heads {heads}")
        self.attn = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        self.relu_dropout = relu_dropout
        self.res_dropout = res_dropout

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm_attn(x)
        k = q if kv is None else self.norm_attn(kv)
        h, _ = self.attn(q, k, k, attn_mask=mask, need_weights=False)
        x = x + F.dropout(h, self.res_dropout, self.training)
        h = F.dropout(F.relu(self.fc1(self.norm_ffn(x))), self.relu_dropout, self.training)
        return x + F.dropout(self.fc2(h), self.res_dropout, self.training)


class CrossModalTransformer(nn.Module):
    """``layers`` cross-modal layers with scaled, position-embedded inputs and a final LN.

    ``forward(query (B, Tq, D), context (B, Tk, D) | None) -> (B, Tq, D)``; with
    ``context=None`` it is a self-attention encoder.
    """

    def __init__(self, dim: int, heads: int, layers: int, *, attn_dropout: float = 0.0,
                 relu_dropout: float = 0.1, res_dropout: float = 0.1,
                 embed_dropout: float = 0.25, causal_mask: bool = True) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"transformer needs at least one layer, got {layers}")
        self.dim = dim
        self.embed_dropout = embed_dropout
        self.causal_mask = causal_mask
        self.layers = nn.ModuleList(
            CrossModalLayer(dim, heads, attn_dropout=attn_dropout, relu_dropout=relu_dropout,
                            res_dropout=res_dropout)
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = math.sqrt(self.dim) * x + sinusoidal_positions(x.shape[1], self.dim, x.device, x.dtype)
        return F.dropout(x, self.embed_dropout, self.training)

    def forward(self, query: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if query.ndim != 3 or query.shape[-1] != self.dim:
            raise ValueError(f"query must be (B, T, {self.dim}), got {tuple(query.shape)}")
        x = self._embed(query)
        kv = None if context is None else self._embed(context)
        t_key = x.shape[1] if kv is None else kv.shape[1]
        mask = future_mask(x.shape[1], t_key, x.device) if self.causal_mask else None
        for layer in self.layers:
            x = layer(x, kv, mask)
        return self.norm(x)
