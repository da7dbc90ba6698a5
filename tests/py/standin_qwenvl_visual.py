"""standin_qwenvl_visual.py -- stand-in for Qwen/Qwen-VL's visual.py: VisionTransformer (conv1, get_abs_pos,
ln_pre, sequence-first resblocks with the per-head interleaved in_proj), the Resampler (attn_pool: one
nn.MultiheadAttention over 2D sin-cos positions), ln_post, proj, and encode() with its image_transform
(torchvision's Resize(BICUBIC) / ToTensor / Normalize, written here with PIL and torch since torchvision is
not installed; on a PIL image torchvision's Resize is PIL's resize). Values go to standins.RECORD."""

import math
from collections import OrderedDict
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from standins import RECORD, RecSequential, rec

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def get_abs_pos(abs_pos, tgt_size):
    # abs_pos: L, C -> tgt_size, C (bicubic resize of the sqrt(L) x sqrt(L) grid when sizes differ)
    src_size = int(math.sqrt(abs_pos.size(0)))
    tgt_size = int(math.sqrt(tgt_size))
    dtype = abs_pos.dtype
    if src_size != tgt_size:
        return F.interpolate(abs_pos.float().reshape(1, src_size, src_size, -1).permute(0, 3, 1, 2),
                             size=(tgt_size, tgt_size), mode="bicubic",
                             align_corners=False).permute(0, 2, 3, 1).flatten(0, 2).to(dtype=dtype)
    return abs_pos


class Resampler(nn.Module):
    def __init__(self, grid_size, embed_dim, num_heads, kv_dim=None, norm_layer=nn.LayerNorm):
        super().__init__()
        self.num_queries = grid_size ** 2
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.pos_embed = nn.Parameter(torch.zeros(self.num_queries, embed_dim)).requires_grad_(False)
        self.query = nn.Parameter(torch.zeros(self.num_queries, embed_dim))
        if kv_dim is not None and kv_dim != embed_dim:
            self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False)
        else:
            self.kv_proj = nn.Identity()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads)
        self.ln_q = norm_layer(embed_dim)
        self.ln_kv = norm_layer(embed_dim)

    def forward(self, x, attn_mask=None):
        pos_embed = rec(self, "abs_pos", get_abs_pos(self.pos_embed, x.size(1)))
        x = rec(self.kv_proj, "", self.kv_proj(x))
        x = rec(self.ln_kv, "", self.ln_kv(x)).permute(1, 0, 2)
        N = x.shape[1]
        q = rec(self.ln_q, "", self.ln_q(self.query))
        rec(self, "pos_embed", self.pos_embed)
        query_in = rec(self.attn, "query_in", self._repeat(q, N) + self.pos_embed.unsqueeze(1))
        key_in = rec(self.attn, "key_in", x + pos_embed.unsqueeze(1))
        out, weights = self.attn(query_in, key_in, x, attn_mask=attn_mask)
        rec(self.attn, "", out)
        rec(self.attn, "weights", weights)
        return rec(self, "", out.permute(1, 0, 2))

    def _repeat(self, query, N):
        return query.unsqueeze(1).repeat(1, N, 1)


class VisualAttention(nn.Module):
    """Self-attention on [sq, b, h]; in_proj output is per head [q | k | v] (interleaved by head)."""

    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.hidden_size_per_attention_head = embed_dim // num_heads
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.norm_factor = math.sqrt(self.hidden_size_per_attention_head)

    def forward(self, query, key, value, attn_mask=None):
        sq, b, _ = query.size()
        sk = sq
        hn, nh = self.hidden_size_per_attention_head, self.num_heads
        mixed = rec(self.in_proj, "", self.in_proj(query))
        mixed = mixed.view(*(mixed.size()[:-1] + (nh, 3 * hn)))
        q, k, v = mixed.split(hn, dim=-1)
        q = q.view(sq, b * nh, hn).transpose(0, 1)
        k = k.view(sk, b * nh, hn).transpose(0, 1)
        probs = torch.bmm(q / self.norm_factor, k.transpose(-2, -1)).softmax(dim=-1)
        v = v.view(sk, b * nh, hn).transpose(0, 1)
        ctx = torch.bmm(probs, v).view(b, nh, sq, hn).permute(2, 0, 1, 3).contiguous()
        ctx = ctx.view(*(ctx.size()[:-2] + (self.embed_dim,)))
        rec(self, "out", ctx)
        return rec(self, "", self.out_proj(ctx))


class VisualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, mlp_ratio=4.0, act_layer=nn.GELU, norm_layer=nn.LayerNorm):
        super().__init__()
        self.ln_1 = norm_layer(d_model)
        self.ln_2 = norm_layer(d_model)
        mlp_width = int(d_model * mlp_ratio)
        self.attn = VisualAttention(d_model, n_head)
        self.mlp = RecSequential(OrderedDict([("c_fc", nn.Linear(d_model, mlp_width)), ("gelu", act_layer()),
                                              ("c_proj", nn.Linear(mlp_width, d_model))]))

    def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):
        h = rec(self.ln_1, "", self.ln_1(q_x))
        x = q_x + self.attn(h, h, h, attn_mask=attn_mask)
        x = x + self.mlp(rec(self.ln_2, "", self.ln_2(x)))
        return rec(self, "", x)


class TransformerBlock(nn.Module):
    def __init__(self, width, layers, heads, mlp_ratio=4.0, act_layer=nn.GELU, norm_layer=nn.LayerNorm):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.ModuleList([VisualAttentionBlock(width, heads, mlp_ratio, act_layer=act_layer,
                                                             norm_layer=norm_layer) for _ in range(layers)])

    def get_cast_dtype(self):
        return self.resblocks[0].mlp.c_fc.weight.dtype

    def forward(self, x, attn_mask=None):
        for r in self.resblocks:
            x = r(x, attn_mask=attn_mask)
        return rec(self, "", x)


class _Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class _Resize:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        h, w = self.size
        return img.resize((w, h), Image.BICUBIC)


def _to_tensor(img):
    arr = torch.from_numpy(np.array(img, dtype=np.uint8))
    return arr.permute(2, 0, 1).contiguous().to(torch.float32).div(255)


class _Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t):
        mean = torch.as_tensor(self.mean, dtype=t.dtype)[:, None, None]
        std = torch.as_tensor(self.std, dtype=t.dtype)[:, None, None]
        return t.sub(mean).div(std)


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch_size, width, layers, heads, mlp_ratio, n_queries=256, output_dim=512,
                 **kwargs):
        super().__init__()
        self.image_size = (image_size, image_size)
        self.output_dim = output_dim
        self.image_transform = _Compose([_Resize((image_size, image_size)), _to_tensor, _Normalize(MEAN, STD)])
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.positional_embedding = nn.Parameter(width ** -0.5 * torch.zeros(256, width))
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.ln_pre = norm_layer(width)
        self.transformer = TransformerBlock(width, layers, heads, mlp_ratio, act_layer=nn.GELU,
                                            norm_layer=norm_layer)
        self.attn_pool = Resampler(grid_size=int(math.sqrt(n_queries)), embed_dim=output_dim,
                                   num_heads=output_dim // 128, kv_dim=width, norm_layer=norm_layer)
        self.ln_post = norm_layer(output_dim)
        self.proj = nn.Parameter(output_dim ** -0.5 * torch.zeros(output_dim, output_dim))

    def forward(self, x):
        x = x.to(dtype=self.transformer.get_cast_dtype())
        x = rec(self.conv1, "", self.conv1(x))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        x = x + rec(self, "abs_pos", get_abs_pos(self.positional_embedding, x.size(1)))
        rec(self, "embeddings", x)
        x = rec(self.ln_pre, "", self.ln_pre(x))
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.attn_pool(x)
        x = rec(self.ln_post, "", self.ln_post(x))
        return rec(self, "", x @ self.proj)

    def encode(self, image_paths):
        images = []
        for k, path in enumerate(image_paths):
            image = Image.open(path).convert("RGB")
            RECORD.put("image.%d.rgb" % k, np.array(image))
            RECORD.put("image.%d.resized" % k, np.array(self.image_transform.transforms[0](image)))
            x = self.image_transform(image)
            RECORD.put("image.%d.normalized" % k, x)
            images.append(x)
        return self(torch.stack(images, dim=0))


def build(config_json, weights):
    from standins import load_weights, name_modules
    model = VisionTransformer(**config_json["visual"])
    load_weights(model, weights, "transformer.visual.")
    return name_modules(model, "transformer.visual")
