"""standin_qwen2_5_vl.py -- stand-in for the vision part of transformers 4.51.3 modeling_qwen2_5_vl.py:
RMSNorm, SiLU-gated MLP, window attention with get_window_index, the reverse index after the merger.
Same module paths and call structure as the reference; every value is also reported to standins.RECORD."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from standins import RecSequential, rec


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary_pos_emb_vision(q, k, cos, sin):
    q_dtype, k_dtype = q.dtype, k.dtype
    q, k = q.float(), k.float()
    cos, sin = cos.unsqueeze(-2).float(), sin.unsqueeze(-2).float()
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed.to(q_dtype), k_embed.to(k_dtype)


class Qwen2RMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(dtype)


class Qwen2_5_VLMLP(nn.Module):
    def __init__(self, hidden_size, intermediate_size, bias=True):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=bias)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        gate = rec(self.gate_proj, "", self.gate_proj(x))
        act = rec(self.act_fn, "", self.act_fn(gate))
        up = rec(self.up_proj, "", self.up_proj(x))
        return rec(self, "", rec(self.down_proj, "", self.down_proj(act * up)))


class Qwen2_5_VisionPatchEmbed(nn.Module):
    def __init__(self, patch_size=14, temporal_patch_size=2, in_channels=3, embed_dim=1152):
        super().__init__()
        self.patch_size, self.temporal_patch_size = patch_size, temporal_patch_size
        self.in_channels, self.embed_dim = in_channels, embed_dim
        kernel = [temporal_patch_size, patch_size, patch_size]
        self.proj = nn.Conv3d(in_channels, embed_dim, kernel_size=kernel, stride=kernel, bias=False)

    def forward(self, hidden_states):
        hidden_states = hidden_states.view(-1, self.in_channels, self.temporal_patch_size, self.patch_size,
                                           self.patch_size)
        return rec(self, "", self.proj(hidden_states.to(self.proj.weight.dtype)).view(-1, self.embed_dim))


class Qwen2_5_VisionRotaryEmbedding(nn.Module):
    def __init__(self, dim, theta=10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, seqlen):
        seq = torch.arange(seqlen, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        return torch.outer(seq, self.inv_freq)


class Qwen2_5_VLPatchMerger(nn.Module):
    def __init__(self, dim, context_dim, spatial_merge_size=2):
        super().__init__()
        self.hidden_size = context_dim * spatial_merge_size ** 2
        self.ln_q = Qwen2RMSNorm(context_dim, eps=1e-6)
        self.mlp = RecSequential(nn.Linear(self.hidden_size, self.hidden_size), nn.GELU(),
                                 nn.Linear(self.hidden_size, dim))

    def forward(self, x):
        x = self.mlp(rec(self.ln_q, "", self.ln_q(x)).view(-1, self.hidden_size))
        return rec(self, "", x)


class Qwen2_5_VLVisionAttention(nn.Module):
    def __init__(self, dim, num_heads=16):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, hidden_states, cu_seqlens, rotary_pos_emb=None, position_embeddings=None):
        seq_length = hidden_states.shape[0]
        qkv = rec(self.qkv, "", self.qkv(hidden_states))
        q, k, v = qkv.reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
        rec(self, "q_rope", q)
        rec(self, "k_rope", k)
        mask = torch.full([1, seq_length, seq_length], torch.finfo(q.dtype).min, dtype=q.dtype)
        for i in range(1, len(cu_seqlens)):
            mask[..., cu_seqlens[i - 1]:cu_seqlens[i], cu_seqlens[i - 1]:cu_seqlens[i]] = 0
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        weights = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(self.head_dim) + mask
        weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(weights, v).transpose(0, 1).reshape(seq_length, -1)
        rec(self, "out", out)
        return rec(self, "", rec(self.proj, "", self.proj(out)))


class Qwen2_5_VLVisionBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.norm1 = Qwen2RMSNorm(config["hidden_size"], eps=1e-6)
        self.norm2 = Qwen2RMSNorm(config["hidden_size"], eps=1e-6)
        self.attn = Qwen2_5_VLVisionAttention(config["hidden_size"], num_heads=config["num_heads"])
        self.mlp = Qwen2_5_VLMLP(config["hidden_size"], config["intermediate_size"], bias=True)

    def forward(self, hidden_states, cu_seqlens, rotary_pos_emb=None, position_embeddings=None):
        h = rec(self.norm1, "", self.norm1(hidden_states))
        hidden_states = hidden_states + self.attn(h, cu_seqlens=cu_seqlens, rotary_pos_emb=rotary_pos_emb,
                                                  position_embeddings=position_embeddings)
        h = rec(self.norm2, "", self.norm2(hidden_states))
        hidden_states = hidden_states + self.mlp(h)
        return rec(self, "", hidden_states)


class Qwen2_5_VisionTransformerPretrainedModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.spatial_merge_size = config["spatial_merge_size"]
        self.patch_size = config["patch_size"]
        self.fullatt_block_indexes = config["fullatt_block_indexes"]
        self.window_size = config["window_size"]
        self.spatial_merge_unit = self.spatial_merge_size * self.spatial_merge_size
        self.patch_embed = Qwen2_5_VisionPatchEmbed(config["patch_size"], config["temporal_patch_size"],
                                                    config["in_channels"], config["hidden_size"])
        head_dim = config["hidden_size"] // config["num_heads"]
        self.rotary_pos_emb = Qwen2_5_VisionRotaryEmbedding(head_dim // 2)
        self.blocks = nn.ModuleList([Qwen2_5_VLVisionBlock(config) for _ in range(config["depth"])])
        self.merger = Qwen2_5_VLPatchMerger(config["out_hidden_size"], config["hidden_size"],
                                           config["spatial_merge_size"])

    def rot_pos_emb(self, grid_thw):
        m = self.spatial_merge_size
        pos_ids = []
        for t, h, w in grid_thw:
            hpos = torch.arange(h).unsqueeze(1).expand(-1, w)
            hpos = hpos.reshape(h // m, m, w // m, m).permute(0, 2, 1, 3).flatten()
            wpos = torch.arange(w).unsqueeze(0).expand(h, -1)
            wpos = wpos.reshape(h // m, m, w // m, m).permute(0, 2, 1, 3).flatten()
            pos_ids.append(torch.stack([hpos, wpos], dim=-1).repeat(t, 1))
        pos_ids = torch.cat(pos_ids, dim=0)
        rec(self, "rot_pos_ids", pos_ids)
        table = self.rotary_pos_emb(grid_thw[:, 1:].max())
        return rec(self, "rotary_pos_emb", table[pos_ids].flatten(1))

    def get_window_index(self, grid_thw):
        window_index, cu_window_seqlens = [], [0]
        window_index_id = 0
        win = self.window_size // self.spatial_merge_size // self.patch_size
        for grid_t, grid_h, grid_w in grid_thw:
            lh, lw = grid_h // self.spatial_merge_size, grid_w // self.spatial_merge_size
            index = torch.arange(grid_t * lh * lw).reshape(grid_t, lh, lw)
            pad_h, pad_w = win - lh % win, win - lw % win
            nwh, nww = (lh + pad_h) // win, (lw + pad_w) // win
            padded = F.pad(index, (0, pad_w, 0, pad_h), "constant", -100)
            padded = padded.reshape(grid_t, nwh, win, nww, win).permute(0, 1, 3, 2, 4)
            padded = padded.reshape(grid_t, nwh * nww, win, win)
            seqlens = (padded != -100).sum([2, 3]).reshape(-1)
            padded = padded.reshape(-1)
            window_index.append(padded[padded != -100] + window_index_id)
            cu_tmp = seqlens.cumsum(0) * self.spatial_merge_unit + cu_window_seqlens[-1]
            cu_window_seqlens.extend(cu_tmp.tolist())
            window_index_id += (grid_t * lh * lw).item()
        return torch.cat(window_index, dim=0), cu_window_seqlens

    def forward(self, hidden_states, grid_thw):
        hidden_states = self.patch_embed(hidden_states)
        rotary_pos_emb = self.rot_pos_emb(grid_thw)
        window_index, cu_window_seqlens = self.get_window_index(grid_thw)
        rec(self, "window_index", window_index)
        cu_window_seqlens = torch.tensor(cu_window_seqlens, dtype=torch.int32)
        cu_window_seqlens = torch.unique_consecutive(cu_window_seqlens)

        seq_len, _ = hidden_states.size()
        unit = self.spatial_merge_unit
        hidden_states = hidden_states.reshape(seq_len // unit, unit, -1)[window_index, :, :].reshape(seq_len, -1)
        rec(self, "patch_embed.windowed", hidden_states)
        rec(self, "cu_window_seqlens", cu_window_seqlens)
        rotary_pos_emb = rotary_pos_emb.reshape(seq_len // unit, unit, -1)[window_index, :, :].reshape(seq_len, -1)
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        position_embeddings = (emb.cos(), emb.sin())

        cu_seqlens = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(
            dim=0, dtype=torch.int32)
        cu_seqlens = F.pad(cu_seqlens, (1, 0), value=0)
        for layer_num, blk in enumerate(self.blocks):
            if layer_num in self.fullatt_block_indexes:
                if layer_num == min(self.fullatt_block_indexes):
                    rec(self, "cu_seqlens", cu_seqlens)
                cu_now = cu_seqlens
            else:
                cu_now = cu_window_seqlens
            hidden_states = blk(hidden_states, cu_seqlens=cu_now, position_embeddings=position_embeddings)

        hidden_states = self.merger(hidden_states)
        hidden_states = hidden_states[torch.argsort(window_index), :]
        rec(self, "merger.unwindowed", hidden_states)
        return rec(self, "", hidden_states)


def build(config_json, weights):
    from standins import load_weights, name_modules
    model = Qwen2_5_VisionTransformerPretrainedModel(config_json["vision_config"])
    load_weights(model, weights, "visual.")
    return name_modules(model, "visual")
