#!/usr/bin/env python3
"""hf_trace.py -- the PyTorch side of vlmtrace: run the Hugging Face / original PyTorch vision code on your
checkpoint and inputs, and write every intermediate under vlmtrace's trace names (docs/trace-spec.md), so that

    vlmtrace diff ours/ hf/

works with no renaming.

    ~/hf451/bin/python trace/hf_trace.py --model ID_OR_DIR --image FILE [--image FILE]...
        [--video F1,F2,...]... [--fps F]... [--min-pixels N] [--max-pixels N] [--use-fast]
        --trace DIR [--only GLOB]... [--load vision|full]

The interpreter: the one of a virtual environment that holds the requirement lines of your processor mode
and family (docs/diff-your-port.md, step 1):

    python3 -m venv ~/hf451 && ~/hf451/bin/pip install -r trace/requirements-hf-slow.txt

trace/requirements-hf-slow.txt    Qwen2-VL, Qwen2.5-VL, Qwen-VL, Kimi-VL with the slow (PIL) processor, as the
                                  goldens: transformers 4.51.3
trace/requirements-hf-fast.txt    the fast (torchvision) processor (transformers 5.0.0.dev0, torchvision)
trace/requirements-hf-qwen3vl.txt Qwen3-VL (transformers 5.0.0.dev0)

Without transformers at all, tests/py/fake_transformers.py runs this script's command line over stand-in
modules with Debian's /usr/bin/python3 (python3-numpy, python3-torch, python3-pil): docs/diff-your-port.md
opens with it. The imports are checked before anything else: a missing numpy, torch, Pillow or
transformers is one line naming what to install and which interpreter ran the script.

The family comes from config.json's model_type: qwen2_vl (Qwen2-VL), qwen2_5_vl (Qwen2.5-VL), qwen
(Qwen-VL, remote code), kimi_vl (Kimi-VL, remote code; both loaded with trust_remote_code=True) and
qwen3_vl (Qwen3-VL: transformers >= 4.57, whose module names it follows; pixels from the slow PIL
processor with Qwen3-VL's settings, as the goldens). Written against transformers 4.51.3 (the version the
Qwen2 / Kimi / Qwen-VL golden traces come from), and with --use-fast against the fast processors of
transformers 5.0 (README.preprocess-fast.md); see docs/diff-your-port.md.

What it does, in order:
  1. loads the vision modules in float32 on the CPU (by default only the vision tower and, for Kimi-VL, the
     projector: their weights are read from the checkpoint's safetensors, the language model is never
     built; --load full builds the whole model with from_pretrained instead);
  2. picks the attention the goldens follow: eager for Qwen2-VL / Qwen2.5-VL, the block-diagonal sdpa
     path for Kimi-VL (its eager path leaks across packed images), Qwen-VL has only one;
  3. registers forward hooks by module path and wraps the few non-module functions the trace names
     (rot_pos_emb, get_window_index, the vision rotary application, get_abs_pos, apply_rope, ...);
  4. runs the slow (PIL) image processor of 4.51.3 (the goldens'), or with --use-fast the fast torchvision
     processors of transformers >= 4.52 (Qwen2VLImageProcessorFast, and Qwen2VLVideoProcessor for videos),
     writing the same names either way and recording which in the manifest (processor_mode);
  5. runs the vision forward once on all inputs concatenated, as `vlmtrace run` does;
  6. writes <name>.npy files with numpy's np.save and, last and atomically, manifest.json (with the
     transformers, torch, Pillow and numpy versions).

The pieces are importable (TraceWriter, Tracer, register_*, preprocess_*, trace_*), so tests can drive them
with stand-in modules and no transformers (tests/py/test_hf_trace.py).

Exit status: 0 written; 2 bad usage or input (a missing file, an unknown model_type, a module path or
function the script does not find); 3 a write that failed.
"""

import argparse
import fnmatch
import hashlib
import inspect
import json
import os
import re
import sys
import tempfile

try:  # numpy is needed to trace; --help and the one-line message for a missing numpy work without it
    import numpy as np
except ImportError:  # pragma: no cover - reported by main()
    np = None

try:  # torch likewise
    import torch
except ImportError:  # pragma: no cover - reported by main()
    torch = None

PROG = "hf_trace.py"
TRANSFORMERS_KNOWN = "4.51.3"


# =====================================================================================================
# errors
# =====================================================================================================

class TraceInputError(Exception):
    """Bad usage or input (exit status 2)."""


class TraceWriteError(Exception):
    """A write that failed (exit status 3)."""


# =====================================================================================================
# the writer: <name>.npy files and manifest.json (TRACE_SPEC rules 6 and 8)
# =====================================================================================================

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_DTYPES = ("float32", "int32", "int64", "uint8")


def to_numpy(value):
    """A traced value as a C-ordered numpy array: torch tensors, numpy arrays, PIL images, lists."""
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16 or t.dtype == torch.float16:
            raise TraceInputError("tensor is %s: the trace is float32 (load the model in float32)" % t.dtype)
        if t.is_complex():
            raise TraceInputError("tensor is complex: trace it as torch.view_as_real")
        return np.ascontiguousarray(t.contiguous().numpy())
    return np.ascontiguousarray(np.asarray(value))


class TraceWriter:
    """Writes a trace directory: one .npy per name (np.save), then manifest.json last (temp file + rename).

    Opening deletes an old manifest.json first, so a run that fails halfway never leaves a directory that
    looks complete. Identical tensors (same dtype, shape and bytes) share one file, as the goldens do."""

    def __init__(self, directory, only=(), model=""):
        self.dir = directory
        self.only = list(only or [])
        self.model = model
        self.entries = []
        self._names = set()
        self._files = {}
        try:
            os.makedirs(directory, exist_ok=True)
            old = os.path.join(directory, "manifest.json")
            if os.path.lexists(old):
                os.remove(old)
        except OSError as e:
            raise TraceInputError("%s: cannot create the trace directory: %s" % (directory, e.strerror or e))

    def wants(self, name):
        """TRACE_SPEC rule 8: shell-style globs over the whole name ('*' also matches dots)."""
        return not self.only or any(fnmatch.fnmatchcase(name, g) for g in self.only)

    def add(self, name, value, note=""):
        """Write `value` as <name>.npy (unless --only excludes it). Returns True when written."""
        if not _NAME_RE.match(name):
            raise TraceInputError("%s: a trace name may contain only letters, digits, '.', '_' and '-'" % name)
        if not self.wants(name):
            return False
        if name in self._names:
            raise TraceInputError("%s: traced twice (the forward ran a module more often than the trace "
                                  "expects)" % name)
        try:
            arr = to_numpy(value)
        except TraceInputError as e:
            raise TraceInputError("%s: %s" % (name, e))
        if arr.dtype.name not in _DTYPES:
            raise TraceInputError("%s: dtype %s, but a trace holds only %s" % (name, arr.dtype.name,
                                                                               ", ".join(_DTYPES)))
        key = (arr.dtype.str, arr.shape, hashlib.sha1(arr.tobytes()).hexdigest())
        shared = self._files.get(key)
        if shared is None:
            fname = name + ".npy"
            try:
                np.save(os.path.join(self.dir, fname), arr, allow_pickle=False)
            except OSError as e:
                raise TraceWriteError("%s: %s" % (os.path.join(self.dir, fname), e.strerror or e))
            self._files[key] = (fname, name)
        else:
            fname = shared[0]
            note = (note + "; " if note else "") + "identical to %s (file shared)" % shared[1]
        self._names.add(name)
        self.entries.append({"name": name, "file": fname, "dtype": arr.dtype.name,
                             "shape": [int(d) for d in arr.shape], "note": note})
        return True

    def names(self):
        return [e["name"] for e in self.entries]

    def finish(self, extra=None):
        """Write manifest.json: a temporary file in the directory, flushed, then renamed over the name."""
        doc = {"model": self.model}
        if self.only:
            doc["only"] = list(self.only)
        doc["pictures"] = []
        for k, v in (extra or {}).items():
            doc[k] = v
        doc["tensors"] = self.entries
        path = os.path.join(self.dir, "manifest.json")
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=self.dir)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
            raise TraceWriteError("%s: %s" % (path, e.strerror or e))
        return path


# =====================================================================================================
# the tracer: hooks by module path, wrapped functions, the running block
# =====================================================================================================

def get_path(root, path):
    """root.a.b.0.c by attribute / index; a TraceInputError naming the path when it does not exist."""
    obj = root
    for part in path.split("."):
        if part.isdigit():
            try:
                obj = obj[int(part)]
            except (IndexError, TypeError, KeyError):
                raise TraceInputError("module %s: no such module in %s" % (path, type(root).__name__))
        else:
            if not hasattr(obj, part):
                raise TraceInputError("module %s: no such module in %s" % (path, type(root).__name__))
            obj = getattr(obj, part)
    return obj


def function_globals(fn):
    """The globals dict a function looks its free names up in (where a module-level helper is patched)."""
    fn = getattr(fn, "__func__", fn)
    fn = inspect.unwrap(fn)
    g = getattr(fn, "__globals__", None)
    if g is None:
        raise TraceInputError("%r: not a Python function, cannot find its module" % (fn,))
    return g


def _squeeze_lead(t):
    """[1, N, H, D] -> [N, H, D] (older transformers rotate q and k with a leading batch axis)."""
    if t.dim() == 4 and t.shape[0] == 1:
        return t[0]
    return t


class Tracer:
    """Connects a model to a TraceWriter. Names with '{i}' are formatted with the index of the block whose
    forward is running (set by wrap_blocks), so a module shared by every block (Kimi-VL's activation) is
    hooked once and still named per block. close() removes every hook and restores every patch."""

    def __init__(self, writer):
        self.writer = writer
        self.block = None
        self._handles = []
        self._restore = []
        self._done = set()

    # -- emitting ------------------------------------------------------------------------------------
    def wants(self, name):
        return self.writer.wants(self.name(name))

    def name(self, template):
        if "{i}" not in template:
            return template
        if self.block is None:
            raise TraceInputError("%s: reached outside any block's forward" % template)
        return template.replace("{i}", str(self.block))

    def emit(self, template, value, note=""):
        return self.writer.add(self.name(template), value, note)

    def emit_once(self, template, value, note=""):
        name = self.name(template)
        if name in self._done:
            return False
        self._done.add(name)
        return self.writer.add(name, value, note)

    # -- hooks ---------------------------------------------------------------------------------------
    def on_output(self, module, template, pick=None, note=""):
        """Forward hook: emit the module's output (or pick(output))."""
        def hook(mod, inputs, output):
            self.emit(template, pick(output) if pick else output, note)
        self._handles.append(module.register_forward_hook(hook))

    def on_input(self, module, template, index=0, note=""):
        """Forward pre-hook: emit the module's positional input `index`."""
        def hook(mod, inputs):
            if len(inputs) <= index:
                raise TraceInputError("%s: %s was called without positional input %d"
                                      % (self.name(template), type(mod).__name__, index))
            self.emit(template, inputs[index], note)
        self._handles.append(module.register_forward_pre_hook(hook))

    def call_hook(self, module, fn, pre=False):
        """A raw hook: fn(module, inputs) before or fn(module, inputs, output) after the forward."""
        if pre:
            self._handles.append(module.register_forward_pre_hook(fn))
        else:
            self._handles.append(module.register_forward_hook(fn))

    # -- patches -------------------------------------------------------------------------------------
    def patch_attr(self, obj, attr, make_wrapper):
        """Replace obj.attr (a bound method, or a module's forward) by make_wrapper(original) on the
        instance; close() puts the original back."""
        had = attr in vars(obj)
        old = vars(obj)[attr] if had else None
        orig = getattr(obj, attr)
        setattr(obj, attr, make_wrapper(orig))

        def undo():
            if had:
                setattr(obj, attr, old)
            else:
                delattr(obj, attr)
        self._restore.append(undo)

    def patch_global(self, namespace, key, make_wrapper, where=""):
        """Replace a module-level function in the globals dict its callers use."""
        if key not in namespace:
            raise TraceInputError("%s: %s not found%s (hf_trace.py knows transformers %s)"
                                  % (namespace.get("__name__", "?"), key, where, TRANSFORMERS_KNOWN))
        orig = namespace[key]
        namespace[key] = make_wrapper(orig)

        def undo():
            namespace[key] = orig
        self._restore.append(undo)

    def wrap_blocks(self, blocks, on_start=None):
        """Wrap each block's forward: set self.block = i while it runs, and call on_start(i, arguments)
        with the forward's arguments bound by name (cu_seqlens, rope_freqs_cis, ... are keyword or
        positional depending on the version)."""
        for i, blk in enumerate(blocks):
            def make(orig, i=i):
                sig = inspect.signature(orig)

                def forward(*args, **kwargs):
                    self.block = i
                    try:
                        if on_start is not None:
                            bound = sig.bind(*args, **kwargs)
                            on_start(i, bound.arguments)
                        return orig(*args, **kwargs)
                    finally:
                        self.block = None
                return forward
            self.patch_attr(blk, "forward", make)

    def block_hooks(self, blocks, prefix, spec):
        """spec: (relative module path, 'out'|'in', trace suffix). Emits prefix.{i}.suffix, hooking each
        distinct module object once (a module shared by all blocks is named by the running block)."""
        seen = set()
        for blk in blocks:
            for rel, kind, suffix in spec:
                mod = get_path(blk, rel)
                key = (id(mod), kind, suffix)
                if key in seen:
                    continue
                seen.add(key)
                template = "%s.{i}.%s" % (prefix, suffix)
                if kind == "out":
                    self.on_output(mod, template)
                else:
                    self.on_input(mod, template)

    def close(self):
        for h in reversed(self._handles):
            h.remove()
        self._handles = []
        for undo in reversed(self._restore):
            undo()
        self._restore = []
        self.block = None


# =====================================================================================================
# Qwen2-VL and Qwen2.5-VL (transformers modeling_qwen2_vl.py / modeling_qwen2_5_vl.py)
# =====================================================================================================

QWEN2 = "qwen2_vl"
QWEN25 = "qwen2_5_vl"
QWENVL = "qwen"
KIMI = "kimi_vl"
QWEN3 = "qwen3_vl"
FAMILIES = (QWEN2, QWEN25, QWENVL, KIMI, QWEN3)
TRANSFORMERS_QWEN3 = "4.57"  # the first release with modeling_qwen3_vl.py (the goldens: 5.0.0.dev0)

_QWEN2_MLP = [("mlp.fc1", "out", "mlp.fc1"), ("mlp.fc2", "in", "mlp.act"), ("mlp.fc2", "out", "mlp.fc2")]
_QWEN25_MLP = [("mlp.gate_proj", "out", "mlp.gate_proj"), ("mlp.act_fn", "out", "mlp.act_fn"),
               ("mlp.up_proj", "out", "mlp.up_proj"), ("mlp.down_proj", "out", "mlp.down_proj")]


def recover_rot_pos_ids(rot, table, name):
    """visual.rot_pos_ids from what rot_pos_emb returned: its rows are [table[h], table[w]] and the
    theta table's column 0 is the position itself (inv_freq[0] = 1), so (h, w) = rot[:, 0], rot[:, hd/4].
    Checked: gathering the table that rotary_pos_emb returned with these ids gives rot back exactly."""
    quarter = rot.shape[1] // 2
    ids_f = torch.stack([rot[:, 0], rot[:, quarter]], dim=1)
    ids = ids_f.round().to(torch.int64)
    ok = torch.equal(ids.to(ids_f.dtype), ids_f)
    if ok and table is not None:
        ok = bool(ids.max() < table.shape[0]) and torch.equal(table[ids].flatten(1), rot)
    if not ok:
        raise TraceInputError("%s: cannot recover the (h, w) ids from rot_pos_emb's output (this version "
                              "of rot_pos_emb differs from transformers %s)" % (name, TRANSFORMERS_KNOWN))
    return ids


def _rotary_wrapper(tracer, q_name, k_name):
    """Wrap the vision rotary application. transformers >= 4.50: f(q, k, cos, sin) -> (q, k), each
    [N, heads, head_dim]; older: f(t, freqs) -> t called for q then k with a leading batch axis."""
    calls = {}

    def make(orig):
        def wrapper(*args, **kwargs):
            out = orig(*args, **kwargs)
            if isinstance(out, tuple):
                tracer.emit(q_name, _squeeze_lead(out[0]))
                tracer.emit(k_name, _squeeze_lead(out[1]))
            else:
                n = calls.get(tracer.block, 0)
                calls[tracer.block] = n + 1
                tracer.emit(q_name if n % 2 == 0 else k_name, _squeeze_lead(out))
            return out
        return wrapper
    return make


def hook_rot_pos_emb(tracer, visual, P, note):
    """P.rot_pos_ids and P.rotary_pos_emb from visual.rot_pos_emb (Qwen2-VL, Qwen2.5-VL, Qwen3-VL): the theta
    table (rotary_pos_emb's output) is kept to check the ids recovered from it."""
    table = {}

    def keep_table(mod, inputs, output):
        table["t"] = output
    tracer.call_hook(get_path(visual, "rotary_pos_emb"), keep_table)

    def wrap_rot(orig):
        def rot_pos_emb(*args, **kwargs):
            rot = orig(*args, **kwargs)
            if tracer.wants(P + ".rot_pos_ids"):
                tracer.emit(P + ".rot_pos_ids", recover_rot_pos_ids(rot, table.get("t"), P + ".rot_pos_ids"),
                            "(h, w) patch coordinates in 2x2-merge-block order")
            tracer.emit(P + ".rotary_pos_emb", rot, note)
            return rot
        return rot_pos_emb
    tracer.patch_attr(visual, "rot_pos_emb", wrap_rot)


def register_qwen2(tracer, visual, family, prefix="visual"):
    """Hooks for Qwen2VisionTransformerPretrainedModel / Qwen2_5_VisionTransformerPretrainedModel.
    Trace names: TRACE_SPEC 'Qwen2-VL' / 'Qwen2.5-VL' lists (order = order of computation)."""
    if family not in (QWEN2, QWEN25):
        raise TraceInputError("register_qwen2: family %s" % family)
    P = prefix
    blocks = get_path(visual, "blocks")
    if len(blocks) == 0:
        raise TraceInputError("%s.blocks: empty" % P)
    tracer.on_output(get_path(visual, "patch_embed"), P + ".patch_embed")

    hook_rot_pos_emb(tracer, visual, P, "theta table [h*inv_freq, w*inv_freq], original order")

    fullatt = set()
    if family == QWEN25:
        fullatt = set(int(i) for i in (getattr(visual, "fullatt_block_indexes", None) or []))

        def wrap_window(orig):
            def get_window_index(*args, **kwargs):
                out = orig(*args, **kwargs)
                tracer.emit(P + ".window_index", out[0], "merged-token permutation into window order")
                return out
            return get_window_index
        tracer.patch_attr(visual, "get_window_index", wrap_window)

    def block_start(i, arguments):
        values = list(arguments.values())
        if family == QWEN25 and i == 0:
            tracer.emit(P + ".patch_embed.windowed", values[0], "hidden states after the window reorder")
        cu = arguments.get("cu_seqlens")
        if cu is None:
            raise TraceInputError("%s.blocks.%d: forward has no cu_seqlens argument" % (P, i))
        if family == QWEN2 or i in fullatt:
            tracer.emit_once(P + ".cu_seqlens", cu, "as passed to the blocks")
        else:
            tracer.emit_once(P + ".cu_window_seqlens", cu, "as passed to the blocks (deduplicated)")
    tracer.wrap_blocks(blocks, block_start)

    attn_cls = type(get_path(blocks[0], "attn"))
    g = function_globals(attn_cls.forward)
    tracer.patch_global(g, "apply_rotary_pos_emb_vision",
                        _rotary_wrapper(tracer, P + ".blocks.{i}.attn.q_rope", P + ".blocks.{i}.attn.k_rope"),
                        " (the vision rotary of %s)" % attn_cls.__name__)

    spec = [("norm1", "out", "norm1"), ("attn.qkv", "out", "attn.qkv"), ("attn.proj", "in", "attn.out"),
            ("attn.proj", "out", "attn.proj"), ("attn", "out", "attn"), ("norm2", "out", "norm2")]
    spec += _QWEN2_MLP if family == QWEN2 else _QWEN25_MLP
    spec += [("mlp", "out", "mlp")]
    tracer.block_hooks(blocks, P + ".blocks", spec)
    for i, blk in enumerate(blocks):
        tracer.on_output(blk, "%s.blocks.%d" % (P, i))

    merger = get_path(visual, "merger")
    tracer.on_output(get_path(merger, "ln_q"), P + ".merger.ln_q", note="before the 2x2 merge view")
    for j in range(3):
        tracer.on_output(get_path(merger, "mlp.%d" % j), "%s.merger.mlp.%d" % (P, j))
    tracer.on_output(get_path(merger, "mlp"), P + ".merger.mlp")
    tracer.on_output(merger, P + ".merger")

    def visual_out(mod, inputs, output):
        if family == QWEN25:
            tracer.emit(P + ".merger.unwindowed", output, "merger output after the reverse window index")
        tracer.emit(P, output, "final vision-tower output")
    tracer.call_hook(visual, visual_out)


# ---- preprocessing: Qwen2VLImageProcessor (slow, PIL) ------------------------------------------------

def _data_format(kwargs, key="input_data_format"):
    fmt = kwargs.get(key)
    return getattr(fmt, "value", fmt)


def _hwc(arr, fmt):
    """An image array as HWC: channels_first -> transpose; unknown -> guess from where the 3 is."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and (fmt == "channels_first" or (fmt is None and arr.shape[0] in (1, 3)
                                                        and arr.shape[-1] not in (1, 3))):
        return arr.transpose(1, 2, 0)
    return arr


def _chw(arr, fmt):
    arr = np.asarray(arr)
    if arr.ndim == 3 and (fmt == "channels_last" or (fmt is None and arr.shape[-1] in (1, 3)
                                                       and arr.shape[0] not in (1, 3))):
        return arr.transpose(2, 0, 1)
    return arr


def _rgb_array(image):
    """The decoded RGB image the processor received, uint8 HWC."""
    if hasattr(image, "convert") and hasattr(image, "mode"):
        return np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    return np.asarray(image)


def preprocess_qwen2(tracer, processor, images, videos):
    """Run the slow Qwen2VLImageProcessor on images (PIL RGB, in order) and videos (lists of PIL frames)
    and emit image.{k}.rgb|resized|normalized|patches, pixel_values, image_grid_thw, then the same for
    video.{k}, pixel_values_videos and video_grid_thw. Returns (pixel_values, grid_thw) concatenated
    images-then-videos, as the one vision forward takes them.

    Captured from the processor's own calls: _preprocess (one per image / video: input and patches),
    the module-level resize() it calls (the resized uint8 image) and self.normalize (the normalized
    float32 image)."""
    if "Fast" in type(processor).__name__:
        raise TraceInputError("%s: a fast (torchvision) image processor; trace it with preprocess_qwen2_fast "
                              "(--use-fast)" % type(processor).__name__)
    state = {"kind": None, "k": 0, "resized": None, "normalized": None}

    def wrap_resize(orig):
        def resize(*args, **kwargs):
            out = orig(*args, **kwargs)
            if state["resized"] is not None:
                fmt = _data_format(kwargs, "data_format") or _data_format(kwargs)
                state["resized"].append(_hwc(out, fmt))
            return out
        return resize

    def wrap_normalize(orig):
        def normalize(*args, **kwargs):
            out = orig(*args, **kwargs)
            if state["normalized"] is not None:
                state["normalized"].append(_chw(out, _data_format(kwargs)))
            return out
        return normalize

    def wrap_pre(orig):
        sig = inspect.signature(orig)

        def _preprocess(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            first = list(bound.arguments.values())[0]
            frames = first if isinstance(first, (list, tuple)) else [first]
            unit = "%s.%d" % (state["kind"], state["k"])
            state["k"] += 1
            state["resized"], state["normalized"] = [], []
            try:
                out = orig(*args, **kwargs)
                resized, normalized = state["resized"], state["normalized"]
            finally:
                state["resized"], state["normalized"] = None, None
            rgb = [_rgb_array(f) for f in frames]
            if len(resized) != len(frames) or len(normalized) != len(frames):
                raise TraceInputError("%s: the processor resized %d and normalized %d of %d frames (hf_trace.py "
                                      "follows Qwen2VLImageProcessor._preprocess of transformers %s)"
                                      % (unit, len(resized), len(normalized), len(frames), TRANSFORMERS_KNOWN))
            one = state["kind"] == "image"
            tracer.emit(unit + ".rgb", rgb[0] if one else np.stack(rgb), "decoded input (HF load_image), HWC")
            tracer.emit(unit + ".resized", resized[0] if one else np.stack(resized),
                        "after smart_resize + PIL bicubic resize, HWC")
            tracer.emit(unit + ".normalized", normalized[0] if one else np.stack(normalized),
                        "rescale + normalize, CHW")
            grid = [int(x) for x in out[1]]
            tracer.emit(unit + ".patches", out[0], "grid_thw %s" % grid)
            return out
        return _preprocess

    g = function_globals(type(processor)._preprocess)
    tracer.patch_global(g, "resize", wrap_resize, " (used by %s._preprocess)" % type(processor).__name__)
    tracer.patch_attr(processor, "normalize", wrap_normalize)
    tracer.patch_attr(processor, "_preprocess", wrap_pre)

    pv, grids = [], []
    if images:
        state["kind"], state["k"] = "image", 0
        batch = processor(images=list(images), return_tensors="pt")
        tracer.emit("pixel_values", batch["pixel_values"], "all images, concatenated")
        tracer.emit("image_grid_thw", batch["image_grid_thw"])
        pv.append(batch["pixel_values"])
        grids.append(batch["image_grid_thw"])
    if videos:
        state["kind"], state["k"] = "video", 0
        batch = processor(images=None, videos=[list(v) for v in videos], return_tensors="pt")
        tracer.emit("pixel_values_videos", batch["pixel_values_videos"], "all videos, concatenated")
        tracer.emit("video_grid_thw", batch["video_grid_thw"])
        pv.append(batch["pixel_values_videos"])
        grids.append(batch["video_grid_thw"])
    if not pv:
        raise TraceInputError("no --image and no --video: nothing to trace")
    return torch.cat([torch.as_tensor(p) for p in pv]), torch.cat([torch.as_tensor(g) for g in grids])


FAST_KNOWN = "5.0 (main of 2025-11-21)"
FAST_TRANSFORMERS_KNOWN = "5.0.0.dev0"  # trace/requirements-hf-fast.txt


def preprocess_qwen2_fast(tracer, processor, video_processor, images, videos):
    """The fast processors of transformers >= 4.52 (Qwen2VLImageProcessorFast for images,
    Qwen2VLVideoProcessor for videos): the same names and order as preprocess_qwen2.

    Each input goes through its own call (planes are independent, so a batched call gives the same rows),
    and the processor's own methods are captured for it: self.resize (the uint8 [.., 3, h, w] tensor it
    returns) and self.rescale_and_normalize (the float32 one, before the temporal padding)."""
    if videos and video_processor is None:
        raise TraceInputError("videos need the video processor (Qwen2VLVideoProcessor) with the fast image processor")
    state = {"resized": None, "normalized": None}

    def capture(key):
        def make(orig):
            def wrapper(*args, **kwargs):
                out = orig(*args, **kwargs)
                if state[key] is not None:
                    state[key].append(out)
                return out
            return wrapper
        return make

    procs = [processor] + ([video_processor] if video_processor is not None and video_processor is not processor else [])
    for proc in procs:
        tracer.patch_attr(proc, "resize", capture("resized"))
        tracer.patch_attr(proc, "rescale_and_normalize", capture("normalized"))

    def one(proc, unit, call):
        state["resized"], state["normalized"] = [], []
        try:
            out = call()
            resized, normalized = state["resized"], state["normalized"]
        finally:
            state["resized"], state["normalized"] = None, None
        if len(resized) != 1 or len(normalized) != 1:
            raise TraceInputError("%s: %s called resize %d and rescale_and_normalize %d times for one input "
                                  "(hf_trace.py follows the fast processors of transformers %s)"
                                  % (unit, type(proc).__name__, len(resized), len(normalized), FAST_KNOWN))
        return out, to_numpy(resized[0])[0], to_numpy(normalized[0])[0]

    pv, grids = [], []
    for kind, inputs, proc, key in (("image", images, processor, "pixel_values"),
                                    ("video", videos, video_processor, "pixel_values_videos")):
        if not inputs:
            continue
        rows, thw = [], []
        for k, item in enumerate(inputs):
            unit = "%s.%d" % (kind, k)
            if kind == "image":
                out, resized, normalized = one(proc, unit, lambda: proc(images=[item], return_tensors="pt"))
                rgb = _rgb_array(item)
                resized = resized.transpose(1, 2, 0)                 # [3, h, w] -> HWC
            else:
                out, resized, normalized = one(proc, unit, lambda: proc(videos=[list(item)], return_tensors="pt"))
                rgb = np.stack([_rgb_array(f) for f in item])
                resized = resized.transpose(0, 2, 3, 1)              # [T, 3, h, w] -> [T, h, w, 3]
            grid = out["image_grid_thw" if kind == "image" else "video_grid_thw"]
            tracer.emit(unit + ".rgb", rgb, "decoded input (HF load_image), HWC")
            tracer.emit(unit + ".resized", resized, "after smart_resize + torch antialiased bicubic (fast processor), HWC")
            tracer.emit(unit + ".normalized", normalized, "fused rescale + normalize, CHW")
            tracer.emit(unit + ".patches", out[key], "grid_thw %s" % [int(x) for x in to_numpy(grid)[0]])
            rows.append(torch.as_tensor(out[key]))
            thw.append(torch.as_tensor(grid))
        rows, thw = torch.cat(rows), torch.cat(thw)
        tracer.emit(key, rows, "all %ss, concatenated" % kind)
        tracer.emit("image_grid_thw" if kind == "image" else "video_grid_thw", thw)
        pv.append(rows)
        grids.append(thw)
    if not pv:
        raise TraceInputError("no --image and no --video: nothing to trace")
    return torch.cat(pv), torch.cat(grids)


def trace_qwen2(writer, visual, processor, image_paths, video_paths, family, load_image, video_processor=None):
    """Preprocess, hook and run one vision forward: visual(cat(pixel_values, pixel_values_videos),
    grid_thw=cat(image_grid_thw, video_grid_thw)). load_image: transformers.image_utils.load_image. A fast
    image processor (its class name ends in Fast) goes through preprocess_qwen2_fast with video_processor."""
    tracer = Tracer(writer)
    try:
        images = [load_image(p) for p in image_paths]
        videos = [[load_image(f) for f in frames] for frames in video_paths]
        if type(processor).__name__.endswith("Fast"):
            pixel_values, grid_thw = preprocess_qwen2_fast(tracer, processor, video_processor, images, videos)
        else:
            pixel_values, grid_thw = preprocess_qwen2(tracer, processor, images, videos)
        register_qwen2(tracer, visual, family)
        with torch.no_grad():
            return visual(pixel_values.to(torch.float32), grid_thw=grid_thw)
    finally:
        tracer.close()


# =====================================================================================================
# Qwen3-VL (transformers >= 4.57 modeling_qwen3_vl.py; the goldens: 5.0.0.dev0)
# =====================================================================================================

def qwen3_interp_weights(grid_thw, side):
    """visual.pos_embed.interp_weights [4, S] as fast_pos_embed_interpolate builds them (it keeps them in a
    local; the Embedding only sees the indices): float32 torch.linspace over the table, bilinear weights
    (1-dh)(1-dw), (1-dh)dw, dh(1-dw), dh*dw per grid point, row-major per item. Returns (indices, weights)."""
    idx, wgt = [[] for _ in range(4)], [[] for _ in range(4)]
    for _, h, w in [tuple(int(x) for x in row) for row in grid_thw]:
        hi, wi = torch.linspace(0, side - 1, h), torch.linspace(0, side - 1, w)
        fh, fw = hi.int(), wi.int()
        ch, cw = (fh + 1).clip(max=side - 1), (fw + 1).clip(max=side - 1)
        dh, dw = hi - fh, wi - fw
        for k, (r, c) in enumerate(((fh, fw), (fh, cw), (ch, fw), (ch, cw))):
            idx[k].extend((r[:, None] * side + c[None]).flatten().tolist())
        for k, (a, b) in enumerate(((1 - dh, 1 - dw), (1 - dh, dw), (dh, 1 - dw), (dh, dw))):
            wgt[k].extend((a[:, None] * b[None]).flatten().tolist())
    return torch.tensor(idx, dtype=torch.long), torch.tensor(wgt, dtype=torch.float32)


def _qwen3_check_weights(gathered, weights, grid_thw, merge, out, name):
    """The recomputed weights are the ones the forward used: sum_k E[idx_k] * w_k, repeated over t and
    permuted into merge-block order as fast_pos_embed_interpolate does, equals its output exactly."""
    pe = gathered * weights[:, :, None]
    pe = pe[0] + pe[1] + pe[2] + pe[3]
    grid = [tuple(int(x) for x in row) for row in grid_thw]
    parts = []
    for piece, (t, h, w) in zip(pe.split([h * w for _, h, w in grid]), grid):
        piece = piece.repeat(t, 1).view(t, h // merge, merge, w // merge, merge, -1)
        parts.append(piece.permute(0, 1, 3, 2, 4, 5).flatten(0, 4))
    if not torch.equal(torch.cat(parts), out):
        raise TraceInputError("%s: the recomputed bilinear weights do not reproduce fast_pos_embed_interpolate "
                              "(this version differs from transformers %s)" % (name, TRANSFORMERS_QWEN3))


def register_qwen3(tracer, visual, prefix="visual"):
    """Hooks for Qwen3VLVisionModel. Trace names: TRACE_SPEC 'Qwen3-VL' (order = order of computation)."""
    P = prefix
    blocks = get_path(visual, "blocks")
    if len(blocks) == 0:
        raise TraceInputError("%s.blocks: empty" % P)
    tracer.on_output(get_path(visual, "patch_embed"), P + ".patch_embed", note="Conv3d with bias, [N, D]")

    # fast_pos_embed_interpolate: the Embedding's input are the indices, its output E[idx] checks the weights
    pos = {}
    pos_embed = get_path(visual, "pos_embed")

    def keep_gathered(mod, inputs, output):
        pos["idx"], pos["gathered"] = inputs[0], output
    tracer.call_hook(pos_embed, keep_gathered)
    side = int(round(pos_embed.weight.shape[0] ** 0.5))
    merge = int(getattr(visual, "spatial_merge_size", 2))

    def wrap_interp(orig):
        def fast_pos_embed_interpolate(grid_thw, *args, **kwargs):
            out = orig(grid_thw, *args, **kwargs)
            idx, wgt = qwen3_interp_weights(grid_thw, side)
            if "idx" not in pos or not torch.equal(pos["idx"].cpu(), idx):
                raise TraceInputError("%s.pos_embed.interp_indices: the table indices differ from the reference "
                                      "formula of transformers %s" % (P, TRANSFORMERS_QWEN3))
            _qwen3_check_weights(pos["gathered"], wgt, grid_thw, merge, out, P + ".pos_embed.interp_weights")
            tracer.emit(P + ".pos_embed.interp_indices", idx, "[4, S] corner rows of pos_embed.weight")
            tracer.emit(P + ".pos_embed.interp_weights", wgt, "[4, S] bilinear weights (float32 linspace)")
            tracer.emit(P + ".pos_embed.interpolated", out, "[N, D] in merge-block order")
            return out
        return fast_pos_embed_interpolate
    tracer.patch_attr(visual, "fast_pos_embed_interpolate", wrap_interp)

    hook_rot_pos_emb(tracer, visual, P, "theta table [h*inv_freq, w*inv_freq]")

    def block_start(i, arguments):
        if i == 0:
            tracer.emit(P + ".embeddings", list(arguments.values())[0], "patch_embed + pos_embed.interpolated")
        cu = arguments.get("cu_seqlens")
        if cu is None:
            raise TraceInputError("%s.blocks.%d: forward has no cu_seqlens argument" % (P, i))
        tracer.emit_once(P + ".cu_seqlens", cu, "as passed to the blocks")
    tracer.wrap_blocks(blocks, block_start)

    attn_cls = type(get_path(blocks[0], "attn"))
    g = function_globals(attn_cls.forward)
    tracer.patch_global(g, "apply_rotary_pos_emb_vision",
                        _rotary_wrapper(tracer, P + ".blocks.{i}.attn.q_rope", P + ".blocks.{i}.attn.k_rope"),
                        " (the vision rotary of %s)" % attn_cls.__name__)
    spec = [("norm1", "out", "norm1"), ("attn.qkv", "out", "attn.qkv"), ("attn.proj", "in", "attn.out"),
            ("attn.proj", "out", "attn.proj"), ("attn", "out", "attn"), ("norm2", "out", "norm2"),
            ("mlp.linear_fc1", "out", "mlp.linear_fc1"), ("mlp.act_fn", "out", "mlp.act_fn"),
            ("mlp.linear_fc2", "out", "mlp.linear_fc2"), ("mlp", "out", "mlp")]
    tracer.block_hooks(blocks, P + ".blocks", spec)

    def merger_hooks(merger, name, norm_note):
        tracer.on_output(get_path(merger, "norm"), name + ".norm", note=norm_note)
        for sub in ("linear_fc1", "act_fn", "linear_fc2"):
            tracer.on_output(get_path(merger, sub), "%s.%s" % (name, sub))
        tracer.on_output(merger, name)

    # after block i: its output, then (when i is a DeepStack block) its merger's tensors
    for i, blk in enumerate(blocks):
        tracer.on_output(blk, "%s.blocks.%d" % (P, i))
    for k, merger in enumerate(get_path(visual, "deepstack_merger_list")):
        merger_hooks(merger, "%s.deepstack_merger_list.%d" % (P, k), "LayerNorm(4D) after the 2x2 view, [M, 4D]")
    merger_hooks(get_path(visual, "merger"), P + ".merger", "LayerNorm(D) before the 2x2 view, [N, D]")

    def visual_out(mod, inputs, output):
        embeds, feats = (output[0], output[1]) if isinstance(output, (tuple, list)) else \
            (output.pooler_output, output.deepstack_features)
        tracer.emit(P, embeds, "first return value (the final merger's output)")
        for j, f in enumerate(feats):
            tracer.emit("%s.deepstack_features.%d" % (P, j), f, "second return value, list item %d" % j)
    tracer.call_hook(visual, visual_out)


def trace_qwen3(writer, visual, processor, image_paths, video_paths, load_image):
    """Preprocess (the slow Qwen2VLImageProcessor with Qwen3-VL's settings, as the goldens), hook and run
    one vision forward on cat(pixel_values, pixel_values_videos)."""
    tracer = Tracer(writer)
    try:
        images = [load_image(p) for p in image_paths]
        videos = [[load_image(f) for f in frames] for frames in video_paths]
        for k, frames in enumerate(videos):
            if len({f.size for f in frames}) > 1:
                raise TraceInputError("video %d: its frames differ in size (Qwen3-VL stacks them)" % k)
        pixel_values, grid_thw = preprocess_qwen2(tracer, processor, images, videos)
        register_qwen3(tracer, visual)
        with torch.no_grad():
            return visual(pixel_values.to(torch.float32), grid_thw=grid_thw)
    finally:
        tracer.close()


# =====================================================================================================
# Qwen-VL (v1): visual.py of Qwen/Qwen-VL (remote code)
# =====================================================================================================

def register_qwenvl(tracer, visual, prefix="transformer.visual"):
    """Hooks for visual.py's VisionTransformer (trunk + Resampler). Trace names: TRACE_SPEC 'Qwen-VL'.
    Resblock tensors keep the reference's sequence-first [L, B, W] layout (rule 6)."""
    P = prefix
    pool = get_path(visual, "attn_pool")
    tracer.on_output(get_path(visual, "conv1"), P + ".conv1", note="[B, W, g, g]")

    in_pool = [False]

    def pool_enter(mod, inputs):
        in_pool[0] = True
    tracer.call_hook(pool, pool_enter, pre=True)

    def wrap_abs(orig):
        def get_abs_pos(*args, **kwargs):
            out = orig(*args, **kwargs)
            tracer.emit(P + ".attn_pool.abs_pos" if in_pool[0] else P + ".abs_pos", out,
                        "get_abs_pos(...) [L, C]")
            return out
        return get_abs_pos
    namespaces = []
    for fn in (type(visual).forward, type(pool).forward):
        g = function_globals(fn)
        if all(g is not n for n in namespaces):
            namespaces.append(g)
    for g in namespaces:
        tracer.patch_global(g, "get_abs_pos", wrap_abs, " (Qwen-VL visual.py)")

    ln_pre = get_path(visual, "ln_pre")
    tracer.on_input(ln_pre, P + ".embeddings", note="conv1 tokens + abs_pos, input of ln_pre")
    tracer.on_output(ln_pre, P + ".ln_pre")

    trunk = get_path(visual, "transformer")
    blocks = get_path(trunk, "resblocks")
    R = P + ".transformer.resblocks"
    tracer.wrap_blocks(blocks)
    tracer.block_hooks(blocks, R, [
        ("ln_1", "out", "ln_1"), ("attn.in_proj", "out", "attn.in_proj"), ("attn.out_proj", "in", "attn.out"),
        ("attn", "out", "attn"), ("ln_2", "out", "ln_2"), ("mlp.c_fc", "out", "mlp.c_fc"),
        ("mlp.c_proj", "in", "mlp.gelu"), ("mlp", "out", "mlp")])
    for i, blk in enumerate(blocks):
        tracer.on_output(blk, "%s.%d" % (R, i))
    tracer.on_output(trunk, P + ".transformer")

    A = P + ".attn_pool"
    tracer.on_output(get_path(pool, "kv_proj"), A + ".kv_proj")
    tracer.on_output(get_path(pool, "ln_kv"), A + ".ln_kv", note="the value")
    tracer.on_output(get_path(pool, "ln_q"), A + ".ln_q")
    mha = get_path(pool, "attn")
    pos_embed = get_path(pool, "pos_embed")

    def wrap_mha(orig):
        sig = inspect.signature(orig)

        def forward(*args, **kwargs):
            arguments = sig.bind(*args, **kwargs).arguments
            tracer.emit(A + ".pos_embed", pos_embed, "2D sincos table added to the queries")
            tracer.emit(A + ".attn.query_in", arguments["query"], "ln_q(query) + pos_embed, [Q, B, D]")
            tracer.emit(A + ".attn.key_in", arguments["key"], "ln_kv(kv_proj(x)) + abs_pos, [L, B, D]")
            return orig(*args, **kwargs)
        return forward
    tracer.patch_attr(mha, "forward", wrap_mha)

    def mha_out(mod, inputs, output):
        tracer.emit(A + ".attn", output[0], "nn.MultiheadAttention output [Q, B, D]")
        if output[1] is None:
            raise TraceInputError("%s.attn.weights: the resampler's attention returned no weights" % A)
        tracer.emit(A + ".attn.weights", output[1], "attention probabilities averaged over heads")
    tracer.call_hook(mha, mha_out)

    def pool_exit(mod, inputs, output):
        in_pool[0] = False
        tracer.emit(A, output)
    tracer.call_hook(pool, pool_exit)
    tracer.on_output(get_path(visual, "ln_post"), P + ".ln_post")
    tracer.on_output(visual, P, note="final output = ln_post @ proj")


class _CaptureTransform:
    """Stands in for visual.image_transform (a torchvision Compose): runs its steps one by one and emits
    image.{k}.rgb (its input), image.{k}.resized (the last PIL image along the way) and image.{k}.normalized
    (its output)."""

    def __init__(self, inner, tracer):
        self.inner = inner
        self.tracer = tracer
        self.k = 0
        steps = getattr(inner, "transforms", None)
        if steps is None:
            raise TraceInputError("image_transform: %s has no .transforms list (expected a torchvision "
                                  "Compose)" % type(inner).__name__)
        self.steps = list(steps)
        self.transforms = steps  # as the Compose it stands in for

    def __call__(self, image):
        unit = "image.%d" % self.k
        self.k += 1
        self.tracer.emit(unit + ".rgb", _rgb_array(image), "decoded input (PIL open + convert RGB), HWC")
        from PIL import Image
        x, resized = image, None
        for step in self.steps:
            x = step(x)
            if isinstance(x, Image.Image):
                resized = x
        if resized is None:
            raise TraceInputError("%s.resized: image_transform produced no PIL image" % unit)
        self.tracer.emit(unit + ".resized", np.asarray(resized), "PIL bicubic resize, HWC")
        self.tracer.emit(unit + ".normalized", x, "ToTensor then Normalize, CHW")
        return x


def trace_qwenvl(writer, visual, image_paths):
    """Qwen-VL's own entry point: visual.encode(paths) (PIL open, convert RGB, image_transform, stack,
    forward), with image_transform captured and the vision modules hooked."""
    tracer = Tracer(writer)
    try:
        capture = _CaptureTransform(get_path(visual, "image_transform"), tracer)
        tracer.patch_attr(visual, "image_transform", lambda orig: capture)
        register_qwenvl(tracer, visual)
        if not image_paths:
            raise TraceInputError("no --image: nothing to trace")
        with torch.no_grad():
            return visual.encode(list(image_paths))
    finally:
        tracer.close()


# =====================================================================================================
# Kimi-VL: modeling_kimi_vl.py / image_processing_kimi_vl.py (remote code)
# =====================================================================================================

def kimi_block_diagonal(blocks):
    """Make every MoonViT block use the 'sdpa' attention function: block-diagonal per image, the same as
    its flash path and what the goldens follow. (The reference's eager path adds the boolean image mask
    as +1.0 instead of masking, so packed images leak into each other.) Returns the name set."""
    names = set()
    for blk in blocks:
        if not hasattr(blk, "attn_implementation"):
            raise TraceInputError("vision_tower.encoder.blocks: %s has no attn_implementation (hf_trace.py "
                                  "knows the Kimi-VL-A3B remote code)" % type(blk).__name__)
        fn = getattr(type(blk), "attention_qkvpacked", None) or type(blk).forward
        table = function_globals(fn).get("VL_VISION_ATTENTION_FUNCTIONS", {})
        if "sdpa" not in table:
            raise TraceInputError("vision_tower: VL_VISION_ATTENTION_FUNCTIONS has no 'sdpa' entry (%s)"
                                  % ", ".join(sorted(table)))
        blk.attn_implementation = "sdpa"
        names.add(blk.attn_implementation)
    return names


def register_kimi(tracer, vision_tower, projector, prefix="vision_tower", proj_prefix="multi_modal_projector"):
    """Hooks for MoonVitPretrainedModel and KimiVLMultiModalProjector. Trace names: TRACE_SPEC 'Kimi-VL'."""
    V, M = prefix, proj_prefix
    pe = get_path(vision_tower, "patch_embed")
    tracer.on_output(get_path(pe, "proj"), V + ".patch_embed.proj", note="[N, D, 1, 1]")

    def pos_out(mod, inputs, output):
        # the interpolated table alone: the module's own forward on a zero input (0 + p == p exactly)
        name = V + ".patch_embed.pos_emb.interpolated"
        if tracer.wants(name):
            with torch.no_grad():
                table = mod.forward(torch.zeros_like(inputs[0]), *inputs[1:])
            tracer.emit(name, table, "pos_emb.weight interpolated to each image's grid, [N, D]")
    tracer.call_hook(get_path(pe, "pos_emb"), pos_out)
    tracer.on_output(pe, V + ".patch_embed")

    enc = get_path(vision_tower, "encoder")
    blocks = get_path(enc, "blocks")
    kimi_block_diagonal(blocks)
    E = V + ".encoder"

    def block_start(i, arguments):
        if i != 0:
            return
        for key in ("rope_freqs_cis", "cu_seqlens"):
            if key not in arguments:
                raise TraceInputError("%s.blocks.0: forward has no %s argument (has %s)"
                                      % (E, key, ", ".join(arguments)))
        tracer.emit(E + ".rope_freqs_cis", torch.view_as_real(arguments["rope_freqs_cis"]),
                    "complex64 [N, hd/2] stored as (real, imag)")
        tracer.emit(E + ".cu_seqlens", arguments["cu_seqlens"])
    tracer.wrap_blocks(blocks, block_start)

    fn = getattr(type(blocks[0]), "attention_qkvpacked", None) or type(blocks[0]).forward
    tracer.patch_global(function_globals(fn), "apply_rope",
                        _rotary_wrapper(tracer, E + ".blocks.{i}.q_rope", E + ".blocks.{i}.k_rope"),
                        " (MoonViT's rotary)")
    tracer.block_hooks(blocks, E + ".blocks", [
        ("norm0", "out", "norm0"), ("wqkv", "out", "wqkv"), ("wo", "in", "attn_out"), ("wo", "out", "wo"),
        ("norm1", "in", "attn_residual"), ("norm1", "out", "norm1"), ("mlp.fc0", "out", "mlp.fc0"),
        ("mlp.fc1", "in", "mlp.activation"), ("mlp.fc1", "out", "mlp.fc1")])
    for i, blk in enumerate(blocks):
        tracer.on_output(blk, "%s.blocks.%d" % (E, i))
    tracer.on_output(get_path(enc, "final_layernorm"), E + ".final_layernorm")

    pre_norm = get_path(projector, "pre_norm")
    tracer.on_input(pre_norm, V + ".patch_merger", note="patch_merger output, images concatenated, [M, 4, D]")
    tracer.on_output(pre_norm, M + ".pre_norm")
    tracer.on_output(get_path(projector, "linear_1"), M + ".linear_1")
    tracer.on_input(get_path(projector, "linear_2"), M + ".act")
    tracer.on_output(get_path(projector, "linear_2"), M + ".linear_2")
    tracer.on_output(projector, M, note="final image features")


def preprocess_kimi(tracer, processor, images):
    """Run KimiVLImageProcessor.preprocess on PIL images and emit image.{k}.rgb|resized|normalized|patches
    (rule 9: resized is resized AND zero-padded, patches [n, C*P*P]), pixel_values [N, C, P, P] and
    image_grid_hws. Captured from its own calls: _preprocess, rescale (resize + pad, a PIL image),
    normalize (a CHW tensor) and patchify."""
    state = {"k": 0, "unit": None}

    def wrap_pre(orig):
        def _preprocess(image, *args, **kwargs):
            state["unit"] = "image.%d" % state["k"]
            state["k"] += 1
            tracer.emit(state["unit"] + ".rgb", _rgb_array(image), "decoded input, HWC")
            try:
                return orig(image, *args, **kwargs)
            finally:
                state["unit"] = None
        return _preprocess

    def after(method, emit):
        def make(orig):
            def wrapper(*args, **kwargs):
                out = orig(*args, **kwargs)
                if state["unit"] is None:
                    raise TraceInputError("%s called outside _preprocess (hf_trace.py knows the Kimi-VL-A3B "
                                          "image processor)" % method)
                emit(state["unit"], out)
                return out
            return wrapper
        return make

    tracer.patch_attr(processor, "_preprocess", wrap_pre)
    tracer.patch_attr(processor, "rescale", after("rescale", lambda u, out: tracer.emit(
        u + ".resized", np.asarray(out), "resized (if over in_token_limit) and zero-padded, HWC")))
    tracer.patch_attr(processor, "normalize", after("normalize", lambda u, out: tracer.emit(
        u + ".normalized", out, "to_tensor then (x - mean) / std, CHW")))
    tracer.patch_attr(processor, "patchify", after("patchify", lambda u, out: tracer.emit(
        u + ".patches", out[0].reshape(out[0].shape[0], -1), "[n, C*P*P], grid %s" % list(out[1]))))
    if not images:
        raise TraceInputError("no --image: nothing to trace")
    batch = processor.preprocess(list(images), return_tensors="pt")
    tracer.emit("pixel_values", batch["pixel_values"], "all images' patches, [N, C, P, P]")
    tracer.emit("image_grid_hws", batch["image_grid_hws"])
    return torch.as_tensor(batch["pixel_values"]), torch.as_tensor(batch["image_grid_hws"])


def trace_kimi(writer, vision_tower, projector, processor, image_paths, open_image):
    """Preprocess, hook and run: features = vision_tower(pixel_values, image_grid_hws) (a list per image),
    then multi_modal_projector(features) -- what _extract_image_features and the projector do."""
    tracer = Tracer(writer)
    try:
        images = [open_image(p) for p in image_paths]
        pixel_values, grid_hws = preprocess_kimi(tracer, processor, images)
        register_kimi(tracer, vision_tower, projector)
        with torch.no_grad():
            features = vision_tower(pixel_values.to(torch.float32), grid_hws)
            return projector(features)
    finally:
        tracer.close()


# =====================================================================================================
# loading with transformers (not exercised by the tests: they build stand-in modules instead)
# =====================================================================================================

_WEIGHT_PREFIXES = {
    QWEN2: {"visual": ("visual.", "model.visual.")},
    QWEN25: {"visual": ("visual.", "model.visual.")},
    QWENVL: {"visual": ("transformer.visual.",)},
    KIMI: {"vision_tower": ("vision_tower.",), "multi_modal_projector": ("multi_modal_projector.",)},
    QWEN3: {"visual": ("model.visual.", "visual.")},
}


def resolve_model_dir(model):
    """A local directory as is; a hub id: the small files (configs, remote code) now, shards later."""
    if os.path.isdir(model):
        return model
    if os.path.exists(model):
        raise TraceInputError("%s: not a directory (give the checkpoint directory or a hub id)" % model)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise TraceInputError("%s: not a local directory, and huggingface_hub is not installed" % model)
    return snapshot_download(model, allow_patterns=["*.json", "*.py", "*.txt", "*.tiktoken", "*.model"])


def _weight_files(model_dir, model_id, prefixes):
    """The safetensors (or .bin) files holding keys that start with one of the prefixes."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        names = sorted({fn for key, fn in weight_map.items() if key.startswith(prefixes)})
    elif os.path.exists(single) or not os.path.isdir(model_id):
        names = ["model.safetensors"]
    else:
        names = sorted(n for n in os.listdir(model_dir) if n.endswith(".safetensors") or n.endswith(".bin"))
    files = []
    for n in names:
        path = os.path.join(model_dir, n)
        if not os.path.exists(path) and not os.path.isdir(model_id):
            from huggingface_hub import hf_hub_download
            path = hf_hub_download(model_id, n)
        files.append(path)
    if not files:
        raise TraceInputError("%s: no weight file holds keys starting with %s" % (model_dir, " or ".join(prefixes)))
    return files


def load_prefixed_state(model_dir, model_id, prefixes):
    """{key without prefix: float32 tensor} for the checkpoint keys starting with one of prefixes."""
    state = {}
    for path in _weight_files(model_dir, model_id, prefixes):
        if path.endswith(".safetensors"):
            from safetensors import safe_open
            with safe_open(path, framework="pt") as f:
                for key in f.keys():
                    for p in prefixes:
                        if key.startswith(p):
                            state[key[len(p):]] = f.get_tensor(key).to(torch.float32)
        else:
            sd = torch.load(path, map_location="cpu")
            for key, t in sd.items():
                for p in prefixes:
                    if key.startswith(p):
                        state[key[len(p):]] = t.to(torch.float32)
    if not state:
        raise TraceInputError("%s: no weights start with %s" % (model_dir, " or ".join(prefixes)))
    return state


def _load_into(module, state, label):
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TraceInputError("%s: checkpoint does not fit the module: missing %s, unexpected %s"
                              % (label, list(missing)[:5], list(unexpected)[:5]))
    return module.to(torch.float32).eval()


def _remote_class(model_dir, ref):
    from transformers.dynamic_module_utils import get_class_from_dynamic_module
    return get_class_from_dynamic_module(ref, model_dir)


def _from_config(cls, config):
    """cls._from_config in float32 with eager attention (transformers 4.51); older signatures fallback."""
    try:
        config._attn_implementation = "eager"
    except Exception:
        pass
    try:
        return cls._from_config(config, attn_implementation="eager", torch_dtype=torch.float32)
    except TypeError:
        return cls._from_config(config)


def load_vision(model_id, family, full=False):
    """The vision modules of a checkpoint, float32 eval on the CPU: {'visual': ...} for the Qwen families,
    {'vision_tower': ..., 'multi_modal_projector': ...} for Kimi-VL."""
    import transformers
    model_dir = resolve_model_dir(model_id)
    remote = family in (QWENVL, KIMI)
    if full:
        return _load_full(model_dir, family, remote)
    config = transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=remote)
    mods = {}
    if family == QWEN2:
        from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel as V
        mods["visual"] = _from_config(V, config.vision_config)
    elif family == QWEN25:
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import \
            Qwen2_5_VisionTransformerPretrainedModel as V
        mods["visual"] = _from_config(V, config.vision_config)
    elif family == QWEN3:
        from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionModel as V
        mods["visual"] = _from_config(V, config.vision_config)
    elif family == QWENVL:
        V = _remote_class(model_dir, "visual.VisionTransformer")
        mods["visual"] = V(**config.visual)
    else:
        V = _remote_class(model_dir, "modeling_kimi_vl.MoonVitPretrainedModel")
        Pj = _remote_class(model_dir, "modeling_kimi_vl.KimiVLMultiModalProjector")
        vcfg = config.vision_config
        mods["vision_tower"] = _from_config(V, vcfg)
        mods["multi_modal_projector"] = Pj(config)
    for key, prefixes in _WEIGHT_PREFIXES[family].items():
        _load_into(mods[key], load_prefixed_state(model_dir, model_id, prefixes), key)
    return model_dir, mods


def _load_full(model_dir, family, remote):
    import transformers
    kwargs = {"torch_dtype": torch.float32, "trust_remote_code": remote}
    if family == QWEN2:
        model = transformers.Qwen2VLForConditionalGeneration.from_pretrained(
            model_dir, attn_implementation="eager", **kwargs)
    elif family == QWEN25:
        model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(
            model_dir, attn_implementation="eager", **kwargs)
    elif family == QWEN3:
        model = transformers.Qwen3VLForConditionalGeneration.from_pretrained(
            model_dir, attn_implementation="eager", **kwargs)
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    model = model.to(torch.float32).eval()
    if family in (QWEN2, QWEN25, QWEN3):
        visual = getattr(model, "visual", None) or get_path(model, "model.visual")
        return model_dir, {"visual": visual}
    if family == QWENVL:
        return model_dir, {"visual": get_path(model, "transformer.visual")}
    return model_dir, {"vision_tower": get_path(model, "vision_tower"),
                       "multi_modal_projector": get_path(model, "multi_modal_projector")}


def _set_pixels(proc, min_pixels, max_pixels):
    """--min-pixels / --max-pixels on a processor: its min/max_pixels and, kept in step, size's
    shortest_edge / longest_edge (what the fast processors read)."""
    size = getattr(proc, "size", None)
    size = dict(size) if isinstance(size, dict) else {}
    if min_pixels is not None:
        proc.min_pixels = min_pixels
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        proc.max_pixels = max_pixels
        size["longest_edge"] = max_pixels
    if size and isinstance(getattr(proc, "size", None), dict):
        proc.size = dict(proc.size, **size)
    return proc


def _pixels_of(proc):
    """(min_pixels, max_pixels) a processor will use: size's edges when it has them."""
    size = getattr(proc, "size", None)
    if isinstance(size, dict) and "shortest_edge" in size and "longest_edge" in size:
        return size["shortest_edge"], size["longest_edge"]
    return getattr(proc, "min_pixels", None), getattr(proc, "max_pixels", None)


def load_qwen2_processor(model_dir, min_pixels, max_pixels, use_fast=False, family=QWEN2):
    """The slow Qwen2VLImageProcessor, or with use_fast the fast Qwen2VLImageProcessorFast
    (preprocessor_config.json when there is one, class defaults otherwise -- for Qwen3-VL its hub settings:
    patch 16, mean = std = 0.5, min/max 65536 / 16777216), with --min-pixels / --max-pixels applied on top."""
    import transformers
    qwen3 = {"patch_size": 16, "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "min_pixels": 65536,
             "max_pixels": 16777216} if family == QWEN3 else {}
    if os.path.exists(os.path.join(model_dir, "preprocessor_config.json")):
        proc = transformers.AutoImageProcessor.from_pretrained(model_dir, use_fast=use_fast)
    elif use_fast:
        proc = transformers.Qwen2VLImageProcessorFast(**qwen3)
    else:
        proc = transformers.Qwen2VLImageProcessor(**qwen3)
    fast = type(proc).__name__.endswith("Fast")
    if fast != bool(use_fast):
        raise TraceInputError("%s: AutoImageProcessor gave %s with use_fast=%s" % (model_dir, type(proc).__name__,
                                                                                    use_fast))
    return _set_pixels(proc, min_pixels, max_pixels)


def load_qwen2_video_processor(model_dir, min_pixels, max_pixels):
    """transformers >= 4.52's Qwen2VLVideoProcessor (the fast mode's video processor): from
    video_preprocessor_config.json, or preprocessor_config.json when that is all there is (as
    from_pretrained falls back), class defaults otherwise; --min-pixels / --max-pixels on top (set on size
    after loading: from_pretrained's own min/max_pixels arguments do not reach size in 5.0)."""
    import transformers
    names = ("video_preprocessor_config.json", "preprocessor_config.json")
    if any(os.path.exists(os.path.join(model_dir, n)) for n in names):
        proc = transformers.Qwen2VLVideoProcessor.from_pretrained(model_dir)
    else:
        proc = transformers.Qwen2VLVideoProcessor()
    return _set_pixels(proc, min_pixels, max_pixels)


def versions():
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    out["torch"] = getattr(torch, "__version__", None)
    for mod, key in (("transformers", "transformers"), ("PIL", "Pillow")):
        try:
            out[key] = __import__(mod).__version__
        except Exception:
            out[key] = None
    return out


# =====================================================================================================
# the command line
# =====================================================================================================

def parse_args(argv):
    ap = argparse.ArgumentParser(prog=PROG, description=(
        "Run the Hugging Face / original PyTorch vision code of Qwen2-VL, Qwen2.5-VL, Qwen-VL, Kimi-VL or Qwen3-VL "
        "and write a trace with vlmtrace's names (see docs/diff-your-port.md)."))
    ap.add_argument("--model", required=True, help="checkpoint directory or hub id")
    ap.add_argument("--image", action="append", default=[], help="an input image (repeatable, in order)")
    ap.add_argument("--video", action="append", default=[], help="a video as F1,F2,... frame files (repeatable)")
    ap.add_argument("--fps", action="append", type=float, default=[],
                    help="frame rate per --video in order, or once for all (recorded; default 2.0)")
    ap.add_argument("--min-pixels", type=int, help="Qwen2 families: smart_resize's min_pixels")
    ap.add_argument("--max-pixels", type=int, help="Qwen2 families: smart_resize's max_pixels")
    ap.add_argument("--trace", required=True, help="trace directory to write")
    ap.add_argument("--only", action="append", default=[], help="write only names matching this glob")
    ap.add_argument("--load", choices=("vision", "full"), default="vision",
                    help="build only the vision modules (default) or the whole model with from_pretrained")
    ap.add_argument("--use-fast", action="store_true",
                    help="Qwen2 families: the fast (torchvision) processors of transformers >= 4.52 instead of "
                         "the slow PIL one (vlmtrace --processor fast)")
    return ap.parse_args(argv)


def _fail(code, msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    return code


REQUIREMENTS = "trace/requirements-hf-slow.txt"


def missing_imports():
    """None when numpy, torch, Pillow and transformers all import; else the one line that says which are
    missing, how to install them and which interpreter ran the script (the first python3 on PATH is often
    not the one with the packages)."""
    import importlib.util

    def importable(mod):
        if mod in sys.modules:  # imported already (or a stand-in installed under that name)
            return sys.modules[mod] is not None
        try:
            return importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            return False
    need = [("numpy", np is not None), ("torch", torch is not None), ("Pillow", importable("PIL")),
            ("transformers", importable("transformers"))]
    gone = [name for name, ok in need if not ok]
    if not gone:
        return None
    gone = gone[0] if len(gone) == 1 else ", ".join(gone[:-1]) + " and " + gone[-1]
    return ("needs %s, which %s cannot import: run this script with the interpreter of a virtual environment "
            "made from the requirement lines (python3 -m venv ~/hf451 && ~/hf451/bin/pip install -r %s; "
            "docs/diff-your-port.md), or try it without transformers: /usr/bin/python3 "
            "tests/py/fake_transformers.py with Debian's python3-numpy python3-torch python3-pil"
            % (gone, sys.executable, REQUIREMENTS))


def main(argv=None):
    try:
        args = parse_args(argv)
    except SystemExit as e:
        return 2 if e.code not in (0, None) else 0
    missing = missing_imports()
    if missing:
        return _fail(2, missing)
    for path in args.image + [f for v in args.video for f in v.split(",")]:
        if not os.path.isfile(path):
            return _fail(2, "%s: no such file" % path)
    if args.fps and len(args.fps) not in (1, len(args.video)):
        return _fail(2, "--fps: give it once, or once per --video (%d videos, %d --fps)"
                        % (len(args.video), len(args.fps)))
    if any(not f > 0 for f in args.fps):
        return _fail(2, "--fps: must be > 0")
    try:
        return _run(args)
    except TraceInputError as e:
        return _fail(2, str(e))
    except TraceWriteError as e:
        return _fail(3, str(e))
    except Exception as e:  # transformers / remote code failing in a way the script does not know
        if os.environ.get("HF_TRACE_DEBUG"):
            raise
        return _fail(3, "%s: %s (HF_TRACE_DEBUG=1 shows the traceback)" % (type(e).__name__,
                                                                          str(e).splitlines()[0] if str(e) else ""))


def _run(args):
    import transformers
    known = FAST_TRANSFORMERS_KNOWN if args.use_fast else TRANSFORMERS_KNOWN
    if transformers.__version__ != known:
        sys.stderr.write("%s: note: transformers %s; the script and the goldens follow %s%s\n"
                         % (PROG, transformers.__version__, known, " (the fast processors)" if args.use_fast else ""))
    model_dir = resolve_model_dir(args.model)
    try:
        with open(os.path.join(model_dir, "config.json")) as f:
            model_type = json.load(f).get("model_type")
    except (OSError, ValueError) as e:
        raise TraceInputError("%s: %s" % (os.path.join(model_dir, "config.json"), getattr(e, "strerror", None) or e))
    if model_type not in FAMILIES:
        raise TraceInputError("%s/config.json: model_type %r is not one of %s" % (model_dir, model_type,
                                                                                 ", ".join(FAMILIES)))
    if model_type not in (QWEN2, QWEN25, QWEN3) and (args.video or args.min_pixels is not None
                                                     or args.max_pixels is not None or args.use_fast):
        raise TraceInputError("--video, --min-pixels, --max-pixels and --use-fast apply to qwen2_vl, qwen2_5_vl "
                              "and qwen3_vl only (model_type %s)" % model_type)
    if model_type == QWEN3 and args.use_fast:
        raise TraceInputError("--use-fast with qwen3_vl: this script traces Qwen3-VL's pixels through the slow "
                              "processor with Qwen3-VL's settings only (as the goldens)")
    if model_type in (QWENVL, KIMI) and not args.image:
        raise TraceInputError("no --image: nothing to trace")
    writer = TraceWriter(args.trace, args.only, model_type)  # before loading: a bad --trace fails fast
    model_dir, mods = load_vision(args.model, model_type, full=(args.load == "full"))
    videos = [v.split(",") for v in args.video]
    extra = {"producer": PROG, "versions": versions(), "model_path": args.model, "dtype": "float32",
             "inputs": {"images": args.image, "videos": videos}}
    if model_type in (QWEN2, QWEN25, QWEN3):
        from transformers.image_utils import load_image
        proc = load_qwen2_processor(model_dir, args.min_pixels, args.max_pixels, use_fast=args.use_fast,
                                    family=model_type)
        lo, hi = _pixels_of(proc)
        extra["processor"] = {"class": type(proc).__name__, "min_pixels": lo, "max_pixels": hi}
        extra["processor_mode"] = "fast" if args.use_fast else "slow"   # what vlmtrace diff reads
        vproc = None
        if args.use_fast and videos:
            vproc = load_qwen2_video_processor(model_dir, args.min_pixels, args.max_pixels)
            vlo, vhi = _pixels_of(vproc)
            extra["video_processor"] = {"class": type(vproc).__name__, "min_pixels": vlo, "max_pixels": vhi}
        fps = args.fps if len(args.fps) == len(videos) else (args.fps or [2.0]) * len(videos)
        tps = getattr(proc, "temporal_patch_size", 2)
        extra["inputs"]["fps"] = fps
        extra["inputs"]["second_per_grid_ts"] = [tps / f for f in fps]
        extra["attn_implementation"] = type(mods["visual"].blocks[0].attn).__name__
        if "Sdpa" in extra["attn_implementation"] or "Flash" in extra["attn_implementation"]:
            sys.stderr.write("%s: note: the vision attention is %s, not eager as in the goldens (differences "
                             "of ~1e-7 are expected)\n" % (PROG, extra["attn_implementation"]))
        if model_type == QWEN3:
            trace_qwen3(writer, mods["visual"], proc, args.image, videos, load_image)
        else:
            trace_qwen2(writer, mods["visual"], proc, args.image, videos, model_type, load_image,
                        video_processor=vproc)
    elif model_type == QWENVL:
        extra["attn_implementation"] = "VisualAttention (the only one)"
        trace_qwenvl(writer, mods["visual"], args.image)
    else:
        from PIL import Image
        proc = transformers.AutoImageProcessor.from_pretrained(model_dir, trust_remote_code=True)
        extra["processor"] = {"class": type(proc).__name__}
        extra["attn_implementation"] = "sdpa (block-diagonal per image, as the goldens)"
        trace_kimi(writer, mods["vision_tower"], mods["multi_modal_projector"], proc, args.image,
                   lambda p: Image.open(p).convert("RGB"))
    path = writer.finish(extra)
    print("%s: %d tensors, %s" % (PROG, len(writer.entries), path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
