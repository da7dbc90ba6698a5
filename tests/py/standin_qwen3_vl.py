"""standin_qwen3_vl.py -- stand-in for the vision part of transformers 5.0.0.dev0 modeling_qwen3_vl.py.

Same module paths, attribute names, call structure and float32 math as the reference (eager attention,
which splits q, k, v by cu_seqlens and attends inside each piece), so hf_trace.py's hooks and wrappers
meet what they meet in transformers. Every value is also reported to standins.RECORD under its trace
name, independently of those hooks."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from standins import rec


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


class Qwen3VLVisionRotaryEmbedding(nn.Module):
    def __init__(self, dim, theta=10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, seqlen):
        seq = torch.arange(seqlen, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        return torch.outer(seq, self.inv_freq)


class Qwen3VLVisionPatchEmbed(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.patch_size, self.temporal_patch_size = config["patch_size"], config["temporal_patch_size"]
        self.in_channels, self.embed_dim = config["in_channels"], config["hidden_size"]
        kernel = [self.temporal_patch_size, self.patch_size, self.patch_size]
        self.proj = nn.Conv3d(self.in_channels, self.embed_dim, kernel_size=kernel, stride=kernel, bias=True)

    def forward(self, hidden_states):
        hidden_states = hidden_states.view(-1, self.in_channels, self.temporal_patch_size, self.patch_size,
                                           self.patch_size)
        out = self.proj(hidden_states.to(self.proj.weight.dtype)).view(-1, self.embed_dim)
        return rec(self, "", out)


class GELUTanh(nn.Module):
    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class Qwen3VLVisionMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config["hidden_act"] == "gelu_pytorch_tanh"
        self.linear_fc1 = nn.Linear(config["hidden_size"], config["intermediate_size"], bias=True)
        self.linear_fc2 = nn.Linear(config["intermediate_size"], config["hidden_size"], bias=True)
        self.act_fn = GELUTanh()

    def forward(self, x):
        h = rec(self.linear_fc1, "", self.linear_fc1(x))
        h = rec(self.act_fn, "", self.act_fn(h))
        return rec(self, "", rec(self.linear_fc2, "", self.linear_fc2(h)))


class Qwen3VLVisionPatchMerger(nn.Module):
    def __init__(self, config, use_postshuffle_norm=False):
        super().__init__()
        self.hidden_size = config["hidden_size"] * (config["spatial_merge_size"] ** 2)
        self.use_postshuffle_norm = use_postshuffle_norm
        self.norm = nn.LayerNorm(self.hidden_size if use_postshuffle_norm else config["hidden_size"], eps=1e-6)
        self.linear_fc1 = nn.Linear(self.hidden_size, self.hidden_size)
        self.act_fn = nn.GELU()
        self.linear_fc2 = nn.Linear(self.hidden_size, config["out_hidden_size"])

    def forward(self, x):
        x = rec(self.norm, "", self.norm(x.view(-1, self.hidden_size) if self.use_postshuffle_norm else x))
        x = x.view(-1, self.hidden_size)
        h = rec(self.linear_fc1, "", self.linear_fc1(x))
        h = rec(self.act_fn, "", self.act_fn(h))
        return rec(self, "", rec(self.linear_fc2, "", self.linear_fc2(h)))


class Qwen3VLVisionAttention(nn.Module):
    """The eager path of 5.0: q, k, v split by the cu_seqlens lengths, softmax(q k^T * scaling) v per piece."""

    def __init__(self, config):
        super().__init__()
        self.dim = config["hidden_size"]
        self.num_heads = config["num_heads"]
        self.head_dim = self.dim // self.num_heads
        self.scaling = self.head_dim ** -0.5
        self.qkv = nn.Linear(self.dim, self.dim * 3, bias=True)
        self.proj = nn.Linear(self.dim, self.dim)

    def forward(self, hidden_states, cu_seqlens, rotary_pos_emb=None, position_embeddings=None, **kwargs):
        seq_length = hidden_states.shape[0]
        qkv = rec(self.qkv, "", self.qkv(hidden_states))
        q, k, v = qkv.reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
        rec(self, "q_rope", q)
        rec(self, "k_rope", k)
        q, k, v = q.transpose(0, 1).unsqueeze(0), k.transpose(0, 1).unsqueeze(0), v.transpose(0, 1).unsqueeze(0)
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
        outs = []
        for qs, ks, vs in zip(*(torch.split(t, lengths, dim=2) for t in (q, k, v))):
            w = torch.matmul(qs, ks.transpose(2, 3)) * self.scaling
            w = nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(qs.dtype)
            outs.append(torch.matmul(w, vs).transpose(1, 2).contiguous())
        out = torch.cat(outs, dim=1).reshape(seq_length, -1).contiguous()
        rec(self, "out", out)
        return rec(self, "", rec(self.proj, "", self.proj(out)))


class Qwen3VLVisionBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.norm1 = nn.LayerNorm(config["hidden_size"], eps=1e-6)
        self.norm2 = nn.LayerNorm(config["hidden_size"], eps=1e-6)
        self.attn = Qwen3VLVisionAttention(config)
        self.mlp = Qwen3VLVisionMLP(config)

    def forward(self, hidden_states, cu_seqlens, rotary_pos_emb=None, position_embeddings=None, **kwargs):
        h = rec(self.norm1, "", self.norm1(hidden_states))
        hidden_states = hidden_states + self.attn(h, cu_seqlens=cu_seqlens, rotary_pos_emb=rotary_pos_emb,
                                                  position_embeddings=position_embeddings, **kwargs)
        h = rec(self.norm2, "", self.norm2(hidden_states))
        hidden_states = hidden_states + self.mlp(h)
        return rec(self, "", hidden_states)


class Qwen3VLVisionModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.spatial_merge_size = config["spatial_merge_size"]
        self.patch_size = config["patch_size"]
        self.patch_embed = Qwen3VLVisionPatchEmbed(config)
        self.pos_embed = nn.Embedding(config["num_position_embeddings"], config["hidden_size"])
        self.num_grid_per_side = int(config["num_position_embeddings"] ** 0.5)
        head_dim = config["hidden_size"] // config["num_heads"]
        self.rotary_pos_emb = Qwen3VLVisionRotaryEmbedding(head_dim // 2)
        self.blocks = nn.ModuleList([Qwen3VLVisionBlock(config) for _ in range(config["depth"])])
        self.merger = Qwen3VLVisionPatchMerger(config, use_postshuffle_norm=False)
        self.deepstack_visual_indexes = config["deepstack_visual_indexes"]
        self.deepstack_merger_list = nn.ModuleList(
            [Qwen3VLVisionPatchMerger(config, use_postshuffle_norm=True) for _ in self.deepstack_visual_indexes])

    def rot_pos_emb(self, grid_thw):
        m = self.spatial_merge_size
        pos_ids = []
        for t, h, w in grid_thw.tolist():
            hpos = torch.arange(h).unsqueeze(1).expand(-1, w)
            hpos = hpos.reshape(h // m, m, w // m, m).permute(0, 2, 1, 3).flatten()
            wpos = torch.arange(w).unsqueeze(0).expand(h, -1)
            wpos = wpos.reshape(h // m, m, w // m, m).permute(0, 2, 1, 3).flatten()
            pos_ids.append(torch.stack([hpos, wpos], dim=-1).repeat(t, 1))
        pos_ids = torch.cat(pos_ids, dim=0)
        rec(self, "rot_pos_ids", pos_ids)
        table = self.rotary_pos_emb(int(grid_thw[:, 1:].max()))
        return rec(self, "rotary_pos_emb", table[pos_ids].flatten(1))

    def fast_pos_embed_interpolate(self, grid_thw):
        side = self.num_grid_per_side
        idx_list = [[] for _ in range(4)]
        weight_list = [[] for _ in range(4)]
        grid = grid_thw.tolist()
        for t, h, w in grid:
            h_idxs = torch.linspace(0, side - 1, h)
            w_idxs = torch.linspace(0, side - 1, w)
            h_floor, w_floor = h_idxs.int(), w_idxs.int()
            h_ceil = (h_idxs.int() + 1).clip(max=side - 1)
            w_ceil = (w_idxs.int() + 1).clip(max=side - 1)
            dh, dw = h_idxs - h_floor, w_idxs - w_floor
            base_h, base_h_ceil = h_floor * side, h_ceil * side
            indices = [(base_h[None].T + w_floor[None]).flatten(), (base_h[None].T + w_ceil[None]).flatten(),
                       (base_h_ceil[None].T + w_floor[None]).flatten(), (base_h_ceil[None].T + w_ceil[None]).flatten()]
            weights = [((1 - dh)[None].T * (1 - dw)[None]).flatten(), ((1 - dh)[None].T * dw[None]).flatten(),
                       (dh[None].T * (1 - dw)[None]).flatten(), (dh[None].T * dw[None]).flatten()]
            for i in range(4):
                idx_list[i].extend(indices[i].tolist())
                weight_list[i].extend(weights[i].tolist())
        idx_tensor = torch.tensor(idx_list, dtype=torch.long)
        weight_tensor = torch.tensor(weight_list, dtype=self.pos_embed.weight.dtype)
        rec(self, "pos_embed.interp_indices", idx_tensor)
        rec(self, "pos_embed.interp_weights", weight_tensor)
        pos_embeds = self.pos_embed(idx_tensor) * weight_tensor[:, :, None]
        patch = pos_embeds[0] + pos_embeds[1] + pos_embeds[2] + pos_embeds[3]
        patch = patch.split([h * w for _, h, w in grid])
        m = self.spatial_merge_size
        out = []
        for pe, (t, h, w) in zip(patch, grid):
            pe = pe.repeat(t, 1)
            pe = pe.view(t, h // m, m, w // m, m, -1).permute(0, 1, 3, 2, 4, 5).flatten(0, 4)
            out.append(pe)
        return rec(self, "pos_embed.interpolated", torch.cat(out))

    def forward(self, hidden_states, grid_thw, **kwargs):
        hidden_states = self.patch_embed(hidden_states)
        pos_embeds = self.fast_pos_embed_interpolate(grid_thw)
        hidden_states = rec(self, "embeddings", hidden_states + pos_embeds)
        rotary_pos_emb = self.rot_pos_emb(grid_thw)
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        position_embeddings = (emb.cos(), emb.sin())
        cu_seqlens = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(
            dim=0, dtype=torch.int32)
        cu_seqlens = F.pad(cu_seqlens, (1, 0), value=0)
        rec(self, "cu_seqlens", cu_seqlens)
        feats = []
        for layer_num, blk in enumerate(self.blocks):
            hidden_states = blk(hidden_states, cu_seqlens=cu_seqlens, position_embeddings=position_embeddings)
            if layer_num in self.deepstack_visual_indexes:
                k = self.deepstack_visual_indexes.index(layer_num)
                feats.append(self.deepstack_merger_list[k](hidden_states))
        hidden_states = self.merger(hidden_states)
        rec(self, "", hidden_states)
        for j, f in enumerate(feats):
            rec(self, "deepstack_features.%d" % j, f)
        return hidden_states, feats


def build(config_json, weights):
    """The vision tower of a golden case: config.json's vision_config, weights from model.safetensors
    (published keys model.visual.*)."""
    from standins import load_weights, name_modules
    model = Qwen3VLVisionModel(config_json["vision_config"])
    load_weights(model, weights, "model.visual.")
    return name_modules(model, "visual")
