"""standin_qwen2_vl.py -- stand-in for the vision part of transformers 4.51.3 modeling_qwen2_vl.py.

Same module paths, attribute names, call structure and float32 math as the reference (eager attention),
so hf_trace.py's hooks and wrappers meet what they meet in transformers. Every value is also reported to
standins.RECORD under its trace name, independently of those hooks."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import LayerNorm

from standins import RecSequential, rec


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary_pos_emb_vision(q, k, cos, sin):
    """q, k [N, heads, hd]; cos, sin [N, hd] -> rotated q, k (rotate_half layout, in float32)."""
    q_dtype, k_dtype = q.dtype, k.dtype
    q, k = q.float(), k.float()
    cos, sin = cos.unsqueeze(-2).float(), sin.unsqueeze(-2).float()
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed.to(q_dtype), k_embed.to(k_dtype)


class VisionRotaryEmbedding(nn.Module):
    def __init__(self, dim, theta=10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, seqlen):
        seq = torch.arange(seqlen, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        return torch.outer(seq, self.inv_freq)


class PatchEmbed(nn.Module):
    def __init__(self, patch_size=14, temporal_patch_size=2, in_channels=3, embed_dim=1152):
        super().__init__()
        self.patch_size, self.temporal_patch_size = patch_size, temporal_patch_size
        self.in_channels, self.embed_dim = in_channels, embed_dim
        kernel = [temporal_patch_size, patch_size, patch_size]
        self.proj = nn.Conv3d(in_channels, embed_dim, kernel_size=kernel, stride=kernel, bias=False)

    def forward(self, hidden_states):
        hidden_states = hidden_states.view(-1, self.in_channels, self.temporal_patch_size, self.patch_size,
                                           self.patch_size)
        out = self.proj(hidden_states.to(self.proj.weight.dtype)).view(-1, self.embed_dim)
        return rec(self, "", out)


class PatchMerger(nn.Module):
    def __init__(self, dim, context_dim, spatial_merge_size=2):
        super().__init__()
        self.hidden_size = context_dim * spatial_merge_size ** 2
        self.ln_q = LayerNorm(context_dim, eps=1e-6)
        self.mlp = RecSequential(nn.Linear(self.hidden_size, self.hidden_size), nn.GELU(),
                                 nn.Linear(self.hidden_size, dim))

    def forward(self, x):
        x = self.mlp(rec(self.ln_q, "", self.ln_q(x)).view(-1, self.hidden_size))
        return rec(self, "", x)


class QuickGELUActivation(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class VisionMlp(nn.Module):
    def __init__(self, dim, hidden_dim, hidden_act):
        super().__init__()
        assert hidden_act == "quick_gelu"
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = QuickGELUActivation()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        h = rec(self.fc1, "", self.fc1(x))
        h = rec(self.act, "", self.act(h))
        return rec(self, "", rec(self.fc2, "", self.fc2(h)))


class VisionAttention(nn.Module):
    """The eager attention: an N x N additive mask, 0 inside each cu_seqlens segment, finfo.min outside."""

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
        if position_embeddings is None:
            emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
            cos, sin = emb.cos(), emb.sin()
        else:
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


class Qwen2VLVisionBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.norm1 = LayerNorm(config["embed_dim"], eps=1e-6)
        self.norm2 = LayerNorm(config["embed_dim"], eps=1e-6)
        self.attn = VisionAttention(config["embed_dim"], num_heads=config["num_heads"])
        self.mlp = VisionMlp(config["embed_dim"], int(config["embed_dim"] * config["mlp_ratio"]),
                             config["hidden_act"])

    def forward(self, hidden_states, cu_seqlens, rotary_pos_emb=None, position_embeddings=None):
        h = rec(self.norm1, "", self.norm1(hidden_states))
        hidden_states = hidden_states + self.attn(h, cu_seqlens=cu_seqlens, rotary_pos_emb=rotary_pos_emb,
                                                  position_embeddings=position_embeddings)
        h = rec(self.norm2, "", self.norm2(hidden_states))
        hidden_states = hidden_states + self.mlp(h)
        return rec(self, "", hidden_states)


class Qwen2VisionTransformerPretrainedModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.spatial_merge_size = config["spatial_merge_size"]
        self.patch_embed = PatchEmbed(config["patch_size"], config["temporal_patch_size"], config["in_channels"],
                                      config["embed_dim"])
        head_dim = config["embed_dim"] // config["num_heads"]
        self.rotary_pos_emb = VisionRotaryEmbedding(head_dim // 2)
        self.blocks = nn.ModuleList([Qwen2VLVisionBlock(config) for _ in range(config["depth"])])
        self.merger = PatchMerger(config["hidden_size"], config["embed_dim"], config["spatial_merge_size"])

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

    def forward(self, hidden_states, grid_thw):
        hidden_states = self.patch_embed(hidden_states)
        rotary_pos_emb = self.rot_pos_emb(grid_thw)
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        position_embeddings = (emb.cos(), emb.sin())
        cu_seqlens = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(
            dim=0, dtype=torch.int32)
        cu_seqlens = F.pad(cu_seqlens, (1, 0), value=0)
        rec(self, "cu_seqlens", cu_seqlens)
        for blk in self.blocks:
            hidden_states = blk(hidden_states, cu_seqlens=cu_seqlens, position_embeddings=position_embeddings)
        return rec(self, "", self.merger(hidden_states))


def build(config_json, weights):
    """The vision tower of a golden case: config.json's vision_config, weights from model.safetensors."""
    from standins import load_weights, name_modules
    model = Qwen2VisionTransformerPretrainedModel(config_json["vision_config"])
    load_weights(model, weights, "visual.")
    return name_modules(model, "visual")
