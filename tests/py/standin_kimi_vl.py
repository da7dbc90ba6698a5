"""standin_kimi_vl.py -- stand-in for Kimi-VL-A3B's remote code: modeling_kimi_vl.py (MoonViT vision tower,
patch_merger, KimiVLMultiModalProjector) and image_processing_kimi_vl.py (KimiVLImageProcessor).

As in the reference: the attention function is looked up per call in VL_VISION_ATTENTION_FUNCTIONS by the
block's attn_implementation, whose 'eager' entry adds the boolean image mask as +1.0 (so packed images
leak into each other) and whose 'sdpa' entry is block-diagonal; the MLP activation is ONE module instance
shared by every block; the positional table is interpolated per image. Values go to standins.RECORD."""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from standins import RECORD, rec


# ---- attention functions ----------------------------------------------------------------------------

def _segment_mask(seq_length, cu_seqlens):
    mask = torch.zeros([1, seq_length, seq_length], dtype=torch.bool)
    for i in range(1, len(cu_seqlens)):
        mask[..., cu_seqlens[i - 1]:cu_seqlens[i], cu_seqlens[i - 1]:cu_seqlens[i]] = True
    return mask


def sdpa_attention(q, k, v, q_cu_seqlens=None, k_cu_seqlens=None):
    seq_length = q.shape[0]
    mask = _segment_mask(seq_length, q_cu_seqlens)
    q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
    if hasattr(F, "scaled_dot_product_attention"):
        out = F.scaled_dot_product_attention(q, k, v, mask, dropout_p=0.0)
    else:  # torch 1.x: the same math, a boolean mask as -inf outside the segments
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(0, 1).reshape(seq_length, -1)


def eager_attention(q, k, v, q_cu_seqlens=None, k_cu_seqlens=None):
    seq_length = q.shape[0]
    mask = _segment_mask(seq_length, q_cu_seqlens)
    q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
    weights = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights += mask  # the reference's: a boolean added as 1.0, not a mask
    weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(q.dtype)
    out = weights @ v
    return out.transpose(0, 1).reshape(seq_length, -1)


VL_VISION_ATTENTION_FUNCTIONS = {"sdpa": sdpa_attention, "eager": eager_attention}


def apply_rope(xq, xk, freqs_cis):
    """xq, xk [..., heads, hd]; freqs_cis complex64 [..., hd/2]: channel pairs (2j, 2j+1) as complex."""
    freqs_cis = freqs_cis.unsqueeze(-2)
    xq_ = torch.view_as_complex(xq.float().view(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().view(*xq.shape[:-1], -1, 2))
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(-2)
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(-2)
    return xq_out.type_as(xq), xk_out.type_as(xk)


# ---- vision tower -------------------------------------------------------------------------------------

class Learnable2DInterpPosEmb(nn.Module):
    def __init__(self, height, width, dim, interpolation_mode="bicubic"):
        super().__init__()
        self.height, self.width, self.interpolation_mode = height, width, interpolation_mode
        self.weight = nn.Parameter(torch.empty(height, width, dim))

    def forward(self, x, grid_hws):
        pos_embs = []
        for shape in grid_hws.tolist():
            if shape == self.weight.shape[:-1]:
                pos_embs.append(self.weight.flatten(end_dim=1))
            else:
                pos_embs.append(F.interpolate(self.weight.permute((2, 0, 1)).unsqueeze(0), size=shape,
                                              mode=self.interpolation_mode).squeeze(0).permute((1, 2, 0))
                                .flatten(end_dim=1))
        table = torch.cat(pos_embs)
        rec(self, "interpolated", table)
        return x + table


class MoonVisionPatchEmbed(nn.Module):
    def __init__(self, out_dim, in_dim=3, patch_size=14, pos_emb_height=14, pos_emb_width=14):
        super().__init__()
        self.patch_size = (patch_size, patch_size)
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.pos_emb = Learnable2DInterpPosEmb(pos_emb_height, pos_emb_width, out_dim)

    def forward(self, x, grid_hw):
        x = rec(self.proj, "", self.proj(x)).view(x.size(0), -1)
        return rec(self, "", self.pos_emb(x, grid_hw))


class Rope2DPosEmb(nn.Module):
    def __init__(self, dim, max_height, max_width, theta_base=10000):
        super().__init__()
        self.dim, self.max_height, self.max_width, self.theta_base = dim, max_height, max_width, theta_base
        self._cis = None

    @property
    def precomputed_freqs_cis(self):
        if self._cis is None:
            N = self.max_height * self.max_width
            flat_pos = torch.arange(0, N).float()
            x_pos, y_pos = flat_pos % self.max_width, flat_pos // self.max_width
            dim_range = torch.arange(0, self.dim, 4)[: (self.dim // 4)].float()
            freqs = 1.0 / (self.theta_base ** (dim_range / self.dim))
            x_cis = torch.polar(torch.ones(N, len(freqs)), torch.outer(x_pos, freqs).float())
            y_cis = torch.polar(torch.ones(N, len(freqs)), torch.outer(y_pos, freqs).float())
            cis = torch.cat([x_cis.unsqueeze(dim=-1), y_cis.unsqueeze(dim=-1)], dim=-1)
            self._cis = cis.reshape(self.max_height, self.max_width, -1)
        return self._cis

    def get_freqs_cis_by_seqlens(self, grid_hws):
        return torch.cat([self.precomputed_freqs_cis[:h, :w].reshape(-1, self.dim // 2)
                          for h, w in grid_hws.tolist()], dim=0)


class PytorchGELUTanh(nn.Module):
    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class MLP2(nn.Module):
    def __init__(self, dims, activation, bias=True):
        super().__init__()
        self.fc0 = nn.Linear(dims[0], dims[1], bias=bias)
        self.fc1 = nn.Linear(dims[1], dims[2], bias=bias)
        self.activation = activation

    def forward(self, x):
        x = rec(self.fc0, "", self.fc0(x))
        x = rec(self, "activation", self.activation(x))
        return rec(self.fc1, "", self.fc1(x))


class MoonVitEncoderLayer(nn.Module):
    def __init__(self, num_heads, hidden_dim, mlp_dim, *, attn_implementation="eager", activation=None,
                 attn_bias=False):
        super().__init__()
        self.num_heads, self.hidden_dim = num_heads, hidden_dim
        self.hidden_size_per_attention_head = hidden_dim // num_heads
        self.attn_implementation = attn_implementation
        self.norm0 = nn.LayerNorm(hidden_dim)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.mlp = MLP2([hidden_dim, mlp_dim, hidden_dim], activation)
        self.wqkv = nn.Linear(hidden_dim, hidden_dim * 3, bias=attn_bias)
        self.wo = nn.Linear(hidden_dim, hidden_dim, bias=attn_bias)

    def attention_qkvpacked(self, x, cu_seqlens, rope_freqs_cis=None):
        xqkv = rec(self.wqkv, "", self.wqkv(x))
        xqkv = xqkv.view(*(xqkv.size()[:-1] + (3, self.num_heads, self.hidden_size_per_attention_head)))
        xq, xk, xv = torch.unbind(xqkv, dim=-3)
        xq, xk = apply_rope(xq, xk, rope_freqs_cis)
        rec(self, "q_rope", xq)
        rec(self, "k_rope", xk)
        attn_func = VL_VISION_ATTENTION_FUNCTIONS[self.attn_implementation]
        attn_out = rec(self, "attn_out", attn_func(xq, xk, xv, q_cu_seqlens=cu_seqlens, k_cu_seqlens=cu_seqlens))
        return rec(self.wo, "", self.wo(attn_out))

    def forward(self, hidden_states, cu_seqlens, rope_freqs_cis=None):
        residual = hidden_states
        h = rec(self.norm0, "", self.norm0(hidden_states))
        hidden_states = rec(self, "attn_residual", residual + self.attention_qkvpacked(h, cu_seqlens,
                                                                                       rope_freqs_cis=rope_freqs_cis))
        residual = hidden_states
        hidden_states = residual + self.mlp(rec(self.norm1, "", self.norm1(hidden_states)))
        return rec(self, "", hidden_states)


class MoonVitEncoder(nn.Module):
    def __init__(self, hidden_dim, num_layers, block_cfg):
        super().__init__()
        self.rope_2d = Rope2DPosEmb(block_cfg["hidden_dim"] // block_cfg["num_heads"], 512, 512)
        self.blocks = nn.ModuleList([MoonVitEncoderLayer(**block_cfg) for _ in range(num_layers)])
        self.final_layernorm = nn.LayerNorm(hidden_dim)

    def forward(self, hidden_states, grid_hw):
        rope_freqs_cis = rec(self, "rope_freqs_cis", self.rope_2d.get_freqs_cis_by_seqlens(grid_hws=grid_hw))
        lengths = torch.cat((torch.zeros(1, dtype=grid_hw.dtype), grid_hw[:, 0] * grid_hw[:, 1]))
        cu_seqlens = rec(self, "cu_seqlens", lengths.cumsum(dim=0, dtype=torch.int32))
        for block in self.blocks:
            hidden_states = block(hidden_states, cu_seqlens, rope_freqs_cis=rope_freqs_cis)
        return rec(self.final_layernorm, "", self.final_layernorm(hidden_states))


def patch_merger(x, grid_hw, merge_kernel_size=(2, 2)):
    d_model = x.size(-1)
    outputs, pre_sum = [], 0
    for height, width in grid_hw.tolist():
        seq = x[pre_sum:pre_sum + height * width]
        kh, kw = merge_kernel_size
        nh, nw = height // kh, width // kw
        seq = seq.view(nh, kh, nw, kw, d_model).permute(0, 2, 1, 3, 4).contiguous()
        outputs.append(seq.view(nh * nw, kh * kw, -1))
        pre_sum += height * width
    return outputs


class MoonVitPretrainedModel(nn.Module):
    def __init__(self, config, attn_implementation="eager"):
        super().__init__()
        self.merge_kernel_size = config["merge_kernel_size"]
        self.patch_embed = MoonVisionPatchEmbed(config["hidden_size"], patch_size=config["patch_size"],
                                                pos_emb_height=config["init_pos_emb_height"],
                                                pos_emb_width=config["init_pos_emb_width"])
        self.encoder = MoonVitEncoder(config["hidden_size"], config["num_hidden_layers"], {
            "num_heads": config["num_attention_heads"], "hidden_dim": config["hidden_size"],
            "mlp_dim": config["intermediate_size"], "activation": PytorchGELUTanh(), "attn_bias": True,
            "attn_implementation": attn_implementation})

    def forward(self, pixel_values, grid_hw):
        hidden_states = self.patch_embed(pixel_values, grid_hw)
        hidden_states = self.encoder(hidden_states, grid_hw)
        merged = patch_merger(hidden_states, grid_hw, merge_kernel_size=self.merge_kernel_size)
        rec(self, "patch_merger", torch.cat(merged))
        return merged


class KimiVLMultiModalProjector(nn.Module):
    def __init__(self, config):
        super().__init__()
        vc = config["vision_config"]
        self.hidden_size = vc["hidden_size"] * vc["merge_kernel_size"][0] * vc["merge_kernel_size"][1]
        self.pre_norm = nn.LayerNorm(vc["hidden_size"], eps=1e-5)
        self.linear_1 = nn.Linear(self.hidden_size, self.hidden_size, bias=True)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(self.hidden_size, config["text_config"]["hidden_size"], bias=True)

    def forward(self, image_features):
        image_features = torch.cat(image_features, dim=0)
        h = rec(self.pre_norm, "", self.pre_norm(image_features)).view(-1, self.hidden_size)
        h = rec(self.linear_1, "", self.linear_1(h))
        h = rec(self.act, "", self.act(h))
        h = rec(self.linear_2, "", self.linear_2(h))
        return rec(self, "", h)


# ---- image processor ----------------------------------------------------------------------------------

class KimiVLImageProcessor:
    def __init__(self, patch_size=14, pad_input=False, image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5),
                 in_token_limit=4096, merge_kernel_size=(2, 2), **kwargs):
        self.patch_size, self.pad_input, self.in_token_limit = patch_size, pad_input, in_token_limit
        self.image_mean, self.image_std = image_mean, image_std
        self.merge_kernel_size = list(merge_kernel_size)

    def rescale(self, image, merge_kernel_size=(2, 2)):
        w, h = image.size
        p = self.patch_size
        if (w // p) * (h // p) > self.in_token_limit:
            scale = math.sqrt(self.in_token_limit / ((w // p) * (h // p)))
            image = image.resize((int(w * scale), int(h * scale)), Image.BICUBIC)
        if self.pad_input:
            new_w, new_h = image.size
            ph, pw = merge_kernel_size[0] * p, merge_kernel_size[1] * p
            pad_h, pad_w = (ph - new_h % ph) % ph, (pw - new_w % pw) % pw
            padded = Image.new(image.mode, (new_w + pad_w, new_h + pad_h), 0)
            padded.paste(image, (0, 0))
            image = padded
        else:
            raise NotImplementedError("stand-in: pad_input=False (center crop) is not used by the goldens")
        return image

    def to_tensor(self, image):
        arr = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8))
        return arr.permute(2, 0, 1).contiguous().to(torch.float32).div(255)

    def normalize(self, image):
        mean = torch.as_tensor(self.image_mean, dtype=image.dtype)[:, None, None]
        std = torch.as_tensor(self.image_std, dtype=image.dtype)[:, None, None]
        return image.sub(mean).div(std)

    def patchify(self, image):
        p = self.patch_size
        C, H, W = image.shape
        patches = image.reshape(C, H // p, p, W // p, p).permute(1, 3, 0, 2, 4)
        return patches.contiguous().view(-1, C, p, p), (H // p, W // p)

    def _preprocess(self, image):
        unit = "image.%d" % self._k
        RECORD.put(unit + ".rgb", np.array(image))
        image = self.rescale(image, self.merge_kernel_size)
        RECORD.put(unit + ".resized", np.array(image))
        image = self.normalize(self.to_tensor(image))
        RECORD.put(unit + ".normalized", image)
        patches, grid_hw = self.patchify(image)
        RECORD.put(unit + ".patches", patches.reshape(patches.shape[0], -1))
        return patches, grid_hw

    def preprocess(self, images, return_tensors=None):
        pixel_values, grids = [], []
        for k, image in enumerate(images):
            self._k = k
            patches, grid = self._preprocess(image)
            pixel_values.append(patches)
            grids.append(grid)
        data = {"pixel_values": torch.cat(pixel_values, dim=0), "image_grid_hws": np.array(grids)}
        RECORD.put("pixel_values", data["pixel_values"])
        RECORD.put("image_grid_hws", data["image_grid_hws"])
        if return_tensors == "pt":
            data["image_grid_hws"] = torch.from_numpy(data["image_grid_hws"])
        return data


def build(config_json, weights, attn_implementation="eager"):
    from standins import load_weights, name_modules
    tower = MoonVitPretrainedModel(config_json["vision_config"], attn_implementation=attn_implementation)
    projector = KimiVLMultiModalProjector(config_json)
    load_weights(tower, weights, "vision_tower.")
    load_weights(projector, weights, "multi_modal_projector.")
    return name_modules(tower, "vision_tower"), name_modules(projector, "multi_modal_projector")
