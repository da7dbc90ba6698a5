"""test_hf_trace.py -- trace/hf_trace.py driven through stand-in modules (no transformers here).

For each golden vision case the stand-ins (tests/py/standin_*.py: the reference's module paths, call
structure and float32 math, weights from the case's model.safetensors) run through hf_trace.py's own
hooking, preprocessing capture and writer. Each case checks that
  1. the written names, in order, equal the golden manifest's (for the cases whose golden omits some
     internals: the golden names are an ordered subsequence of ours, and --only with exactly the golden's
     names gives them exactly);
  2. every written value (read back with np.load) equals, dtype, shape and bytes, what the stand-in
     produced under that name -- recorded by the stand-in's own code, not by the hooks;
  3. `vlmtrace diff` of the written trace against the golden case passes (the stand-ins reproduce the
     reference closely: this is also what validates them);
  4. every hook is removed and every patched function restored afterwards.
Plus the writer (np.save files, atomic manifest, --only, refusals), the failure path (no manifest after a
failed forward), the Kimi-VL attention choice, and the command line's refusals.

Run: /usr/bin/python3 -m unittest discover -s tests/py   (tests/run_py.sh does this; $VLMTRACE_BIN is
the vlmtrace binary, bin/vlmtrace by default).
"""

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "trace"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import hf_trace  # noqa: E402
import standin_image_processing_qwen2_vl as qwen2_processing  # noqa: E402
import standin_kimi_vl  # noqa: E402
import standin_qwen2_5_vl  # noqa: E402
import standin_qwen2_vl  # noqa: E402
import fake_transformers  # noqa: E402
import standin_qwenvl_visual  # noqa: E402
import standins  # noqa: E402

REF = os.path.join(ROOT, "notebooks-data", "reference")
VLMTRACE = os.environ.get("VLMTRACE_BIN") or os.path.join(ROOT, "bin", "vlmtrace")
if not os.path.isabs(VLMTRACE):
    VLMTRACE = os.path.join(ROOT, VLMTRACE)
HF_TRACE = os.path.join(ROOT, "trace", "hf_trace.py")
FAKE = os.path.join(HERE, "fake_transformers.py")

torch.set_num_threads(1)  # results must not depend on it; one thread keeps the shared machine free


class Golden:
    def __init__(self, case):
        self.case = case
        self.dir = os.path.join(REF, case)
        with open(os.path.join(self.dir, "manifest.json")) as f:
            self.manifest = json.load(f)
        with open(os.path.join(self.dir, "inputs.json")) as f:
            self.inputs = json.load(f)
        with open(os.path.join(self.dir, "config.json")) as f:
            self.config = json.load(f)
        self.weights = standins.read_safetensors(os.path.join(self.dir, "model.safetensors"))
        self.names = [t["name"] for t in self.manifest["tensors"]]

    def path(self, name):
        return os.path.join(self.dir, name)

    def images(self):
        return [self.path(i["file"]) for i in self.inputs.get("images", [])]

    def videos(self):
        return [[self.path(f) for f in v["frames"]] for v in self.inputs.get("videos", [])]


def family_of(g):
    return g.config["model_type"]


def run_trace(g, out, only=(), kimi_attn="eager", hook_check=None):
    """Build the stand-ins for golden case g, run hf_trace.py's trace_* on them into `out`, finish the
    manifest. Returns (writer, recorded values, the stand-in modules)."""
    family = family_of(g)
    writer = hf_trace.TraceWriter(out, only, family)
    standins.RECORD.start()
    try:
        if family in (hf_trace.QWEN2, hf_trace.QWEN25):
            mod = standin_qwen2_vl if family == hf_trace.QWEN2 else standin_qwen2_5_vl
            visual = mod.build(g.config, g.weights)
            proc = qwen2_processing.Qwen2VLImageProcessor(min_pixels=g.inputs["min_pixels"],
                                                          max_pixels=g.inputs["max_pixels"])
            modules = (visual, proc)
            hf_trace.trace_qwen2(writer, visual, proc, g.images(), g.videos(), family, standins.hf_load_image)
        elif family == hf_trace.QWENVL:
            visual = standin_qwenvl_visual.build(g.config, g.weights)
            modules = (visual,)
            hf_trace.trace_qwenvl(writer, visual, g.images())
        else:
            tower, projector = standin_kimi_vl.build(g.config, g.weights, attn_implementation=kimi_attn)
            with open(g.path("preprocessor_config.json")) as f:
                proc = standin_kimi_vl.KimiVLImageProcessor(**json.load(f))
            modules = (tower, projector, proc)
            hf_trace.trace_kimi(writer, tower, projector, proc, g.images(), lambda p: Image.open(p).convert("RGB"))
    finally:
        values, _ = standins.RECORD.stop()
    writer.finish({"producer": "tests/py/test_hf_trace.py (stand-ins)", "versions": hf_trace.versions()})
    return writer, values, modules


def vlmtrace(*args):
    return subprocess.run([VLMTRACE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


class TmpDirCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hf_trace_test.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


# =====================================================================================================
# the golden cases
# =====================================================================================================

class TestGoldenCases(TmpDirCase):
    def check_values(self, out, writer, values):
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual([e["name"] for e in manifest["tensors"]], writer.names())
        for e in manifest["tensors"]:
            arr = np.load(os.path.join(out, e["file"]), allow_pickle=False)
            self.assertEqual(list(arr.shape), e["shape"], e["name"])
            self.assertEqual(arr.dtype.name, e["dtype"], e["name"])
            self.assertIn(e["name"], values, "%s: written, but the stand-in never produced it" % e["name"])
            ref = values[e["name"]]
            self.assertEqual(arr.dtype, ref.dtype, e["name"])
            self.assertEqual(arr.shape, ref.shape, e["name"])
            self.assertTrue(np.array_equal(arr, ref), "%s: written value differs from the stand-in's" % e["name"])
        return manifest

    def check_diff(self, out, g, *extra):
        r = vlmtrace("diff", out, g.dir, *extra)
        self.assertEqual(r.returncode, 0, "vlmtrace diff %s %s failed:\n%s%s" % (out, g.dir, r.stdout, r.stderr))
        return r.stdout

    def check_unhooked(self, modules):
        for m in modules:
            if isinstance(m, torch.nn.Module):
                for sub in m.modules():
                    self.assertFalse(sub._forward_hooks or sub._forward_pre_hooks, type(sub).__name__)
                    self.assertNotIn("forward", vars(sub), type(sub).__name__)
            for attr in ("rot_pos_emb", "get_window_index", "image_transform", "_preprocess", "normalize",
                         "rescale", "patchify"):
                if attr in vars(m):
                    self.assertNotIn("hf_trace", getattr(vars(m)[attr], "__module__", "") or "", attr)
        for mod in (standin_qwen2_vl, standin_qwen2_5_vl, standin_kimi_vl, standin_qwenvl_visual, qwen2_processing):
            for key in ("apply_rotary_pos_emb_vision", "apply_rope", "get_abs_pos", "resize"):
                fn = getattr(mod, key, None)
                if fn is not None:
                    self.assertEqual(fn.__module__, mod.__name__, "%s.%s not restored" % (mod.__name__, key))

    def full_case(self, case):
        g = Golden(case)
        out = os.path.join(self.tmp, case)
        writer, values, modules = run_trace(g, out)
        self.assertEqual(writer.names(), g.names)
        self.check_values(out, writer, values)
        self.check_diff(out, g)
        self.check_unhooked(modules)

    def partial_case(self, case):
        """The golden leaves some internals out to stay small: ours must contain its names in its order,
        and --only with exactly its names must give exactly them."""
        g = Golden(case)
        out = os.path.join(self.tmp, case)
        writer, values, _ = run_trace(g, out)
        self.assertTrue(len(writer.names()) > len(g.names))
        self.assertTrue(is_subsequence(g.names, writer.names()), "golden order is not a subsequence of ours")
        self.check_values(out, writer, values)
        self.check_diff(out, g)
        out2 = os.path.join(self.tmp, case + "-only")
        writer2, values2, _ = run_trace(g, out2, only=g.names)
        self.assertEqual(writer2.names(), g.names)
        manifest = self.check_values(out2, writer2, values2)
        self.assertEqual(manifest["only"], g.names)
        self.check_diff(out2, g)

    def test_qwen2vl_image(self):
        self.full_case("qwen2vl-image")

    def test_qwen2vl_image_bf16(self):
        self.full_case("qwen2vl-image-bf16")

    def test_qwen2vl_multi(self):
        self.full_case("qwen2vl-multi")

    def test_qwen25vl_image(self):
        self.full_case("qwen25vl-image")

    def test_qwen25vl_multi(self):
        self.partial_case("qwen25vl-multi")

    def test_qwenvl_image(self):
        self.full_case("qwenvl-image")

    def test_qwenvl_abspos(self):
        self.partial_case("qwenvl-abspos")

    def test_kimivl_image(self):
        self.full_case("kimivl-image")

    def test_kimivl_multi(self):
        self.partial_case("kimivl-multi")

    def test_kimivl_eager_would_leak(self):
        """hf_trace.py switches MoonViT to the block-diagonal 'sdpa' function the goldens follow; the
        stand-in is built 'eager' (the reference's leaky +1.0 mask), so run without hf_trace.py it
        misses the golden on the packed two-image case -- the switch is what makes the diff pass."""
        g = Golden("kimivl-multi")
        tower, projector = standin_kimi_vl.build(g.config, g.weights, attn_implementation="eager")
        ref = np.load(g.path(g.manifest["tensors"][-1]["file"]))
        pv = torch.from_numpy(np.load(g.path("pixel_values.npy")))
        grid = torch.from_numpy(np.load(g.path("image_grid_hws.npy")))
        with torch.no_grad():
            eager = projector(tower(pv, grid)).numpy()
        self.assertGreater(np.abs(eager - ref).max(), 1e-2)
        hf_trace.kimi_block_diagonal(tower.encoder.blocks)
        with torch.no_grad():
            sdpa = projector(tower(pv, grid)).numpy()
        self.assertLess(np.abs(sdpa - ref).max(), 1e-4)

    def test_only_globs(self):
        """--only: fnmatch over the whole name ('*' crosses dots); recorded; diff reports the rest as not
        traced and passes."""
        g = Golden("qwen2vl-image")
        out = os.path.join(self.tmp, "only")
        globs = ["visual.blocks.1.*", "visual", "image.?.rgb"]
        writer, values, _ = run_trace(g, out, only=globs)
        expect = [n for n in g.names if any(fnmatch.fnmatchcase(n, p) for p in globs)]
        self.assertEqual(writer.names(), expect)
        self.assertIn("visual.blocks.1.attn.q_rope", expect)
        self.assertNotIn("visual.blocks.1", expect)  # '*' needs at least the dot after 1
        manifest = self.check_values(out, writer, values)
        self.assertEqual(manifest["only"], globs)
        report = self.check_diff(out, g)
        self.assertIn("not traced", report)
        self.assertIn("PASS: %d tensor(s) match" % len(expect), report)

    def test_divergence_is_reported(self):
        """The same trace with one element changed: vlmtrace diff exits 1 and names that tensor first."""
        g = Golden("qwen25vl-image")
        out = os.path.join(self.tmp, "bad")
        run_trace(g, out)
        path = os.path.join(out, "visual.blocks.2.attn.q_rope.npy")
        arr = np.load(path)
        arr[7, 1, 3] += 0.5
        np.save(path, arr)
        r = vlmtrace("diff", out, g.dir)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("first divergence: visual.blocks.2.attn.q_rope", r.stdout)
        self.assertIn("last passing before it: visual.blocks.2.attn.qkv", r.stdout)


# =====================================================================================================
# the writer and the failure path
# =====================================================================================================

class TestWriter(TmpDirCase):
    def test_np_save_bytes(self):
        """Files are np.save's: re-writing a golden tensor gives the golden file byte for byte."""
        g = os.path.join(REF, "qwen2vl-image")
        w = hf_trace.TraceWriter(self.tmp, (), "x")
        for name in ("visual.cu_seqlens", "visual.rot_pos_ids", "image.0.rgb", "visual.blocks.0.attn.q_rope"):
            w.add(name, torch.from_numpy(np.load(os.path.join(g, name + ".npy"))))
            with open(os.path.join(g, name + ".npy"), "rb") as a:
                with open(os.path.join(self.tmp, name + ".npy"), "rb") as b:
                    self.assertEqual(a.read(), b.read(), name)

    def test_manifest_written_last_and_shared_files(self):
        w = hf_trace.TraceWriter(self.tmp, (), "qwen2_vl")
        w.add("a", np.arange(6, dtype=np.int64).reshape(2, 3))
        w.add("b", np.arange(6, dtype=np.int64).reshape(2, 3), "same bytes")
        w.add("c", np.zeros(3, np.float32))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "manifest.json")))
        w.finish({"versions": {"torch": "x"}})
        with open(os.path.join(self.tmp, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual(m["model"], "qwen2_vl")
        self.assertNotIn("only", m)
        self.assertEqual(m["versions"], {"torch": "x"})
        self.assertEqual([t["file"] for t in m["tensors"]], ["a.npy", "a.npy", "c.npy"])
        self.assertIn("identical to a", m["tensors"][1]["note"])
        self.assertEqual(m["tensors"][0]["shape"], [2, 3])
        self.assertEqual(m["tensors"][2]["dtype"], "float32")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["a.npy", "c.npy", "manifest.json"])
        self.assertEqual(vlmtrace("show", self.tmp).returncode, 0)

    def test_refusals(self):
        w = hf_trace.TraceWriter(self.tmp, (), "x")
        with self.assertRaisesRegex(hf_trace.TraceInputError, "^x: dtype float64"):
            w.add("x", np.zeros(2))
        with self.assertRaisesRegex(hf_trace.TraceInputError, "^y: tensor is torch.bfloat16"):
            w.add("y", torch.zeros(2, dtype=torch.bfloat16))
        with self.assertRaisesRegex(hf_trace.TraceInputError, "^a/b: a trace name may contain only"):
            w.add("a/b", np.zeros(2, np.float32))
        w.add("z", np.zeros(2, np.float32))
        with self.assertRaisesRegex(hf_trace.TraceInputError, "^z: traced twice"):
            w.add("z", np.ones(2, np.float32))

    def test_write_failure(self):
        """A failed np.save (disk full) is a TraceWriteError naming the file (exit status 3 in main)."""
        w = hf_trace.TraceWriter(self.tmp, (), "x")
        orig = hf_trace.np.save

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")
        hf_trace.np.save = full
        try:
            with self.assertRaisesRegex(hf_trace.TraceWriteError, "a.npy: No space left on device"):
                w.add("a", np.zeros(2, np.float32))
        finally:
            hf_trace.np.save = orig

    def test_uncreatable_directory(self):
        blocker = os.path.join(self.tmp, "file")
        open(blocker, "w").close()
        with self.assertRaisesRegex(hf_trace.TraceInputError, "cannot create the trace directory"):
            hf_trace.TraceWriter(os.path.join(blocker, "sub"), (), "x")

    def test_failed_forward_leaves_no_manifest(self):
        """A run that fails halfway leaves .npy files but no manifest.json -- and an old manifest in the
        directory is deleted when the writer opens it, so the directory never looks complete."""
        g = Golden("qwen2vl-image")
        out = os.path.join(self.tmp, "t")
        run_trace(g, out)
        self.assertTrue(os.path.exists(os.path.join(out, "manifest.json")))
        visual = standin_qwen2_vl.build(g.config, g.weights)

        def broken(*args, **kwargs):
            raise RuntimeError("block 1 exploded")
        visual.blocks[1].mlp.fc1.forward = broken
        proc = qwen2_processing.Qwen2VLImageProcessor(min_pixels=g.inputs["min_pixels"],
                                                      max_pixels=g.inputs["max_pixels"])
        writer = hf_trace.TraceWriter(out, (), "qwen2_vl")
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.json")))
        with self.assertRaisesRegex(RuntimeError, "block 1 exploded"):
            hf_trace.trace_qwen2(writer, visual, proc, g.images(), [], "qwen2_vl", standins.hf_load_image)
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.json")))
        self.assertIn("visual.blocks.1.norm2", writer.names())
        self.assertNotIn("visual.blocks.1.mlp.fc1", writer.names())
        r = vlmtrace("diff", out, g.dir)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("manifest.json", r.stderr)
        self.assertFalse(visual._forward_hooks or visual.blocks[0]._forward_hooks)


# =====================================================================================================
# pieces of the mapping
# =====================================================================================================

class TestPieces(unittest.TestCase):
    def test_rot_pos_ids_recovery(self):
        table = torch.outer(torch.arange(6, dtype=torch.float32), 1.0 / (10000 ** (torch.arange(0, 4, 2) / 4.0)))
        ids = torch.tensor([[0, 0], [0, 1], [1, 0], [5, 3]])
        rot = table[ids].flatten(1)
        self.assertTrue(torch.equal(hf_trace.recover_rot_pos_ids(rot, table, "r"), ids))
        bad = rot.clone()
        bad[3, 1] += 1e-3
        with self.assertRaisesRegex(hf_trace.TraceInputError, "^r: cannot recover"):
            hf_trace.recover_rot_pos_ids(bad, table, "r")

    def test_rotary_wrapper_old_signature(self):
        """transformers < 4.50 rotates q and k in two calls of f(t [1, N, H, D], freqs): named q then k."""
        tmp = tempfile.mkdtemp(prefix="hf_trace_test.")
        try:
            tracer = hf_trace.Tracer(hf_trace.TraceWriter(tmp, (), "x"))
            wrapped = hf_trace._rotary_wrapper(tracer, "b.{i}.q_rope", "b.{i}.k_rope")(lambda t, f: t * 2)
            q, k = torch.ones(1, 3, 2, 4), torch.full((1, 3, 2, 4), 3.0)
            for i in (0, 1):
                tracer.block = i
                wrapped(q, None)
                wrapped(k, None)
            self.assertEqual(tracer.writer.names(), ["b.0.q_rope", "b.0.k_rope", "b.1.q_rope", "b.1.k_rope"])
            self.assertEqual(tracer.writer.entries[1]["shape"], [3, 2, 4])
            self.assertEqual(tracer.writer.entries[3]["file"], "b.0.k_rope.npy")  # same bytes: shared
            self.assertEqual(np.load(os.path.join(tmp, "b.0.k_rope.npy"))[0, 0, 0], 6.0)
            tracer.block = None
            with self.assertRaisesRegex(hf_trace.TraceInputError, "outside any block"):
                wrapped(q, None)
        finally:
            shutil.rmtree(tmp)

    def test_missing_module_path(self):
        with self.assertRaisesRegex(hf_trace.TraceInputError, "module blocks.0.attn.qkv: no such module"):
            hf_trace.get_path(torch.nn.Module(), "blocks.0.attn.qkv")

    def test_fast_processor_refused(self):
        class Qwen2VLImageProcessorFast:
            pass
        tracer = hf_trace.Tracer(hf_trace.TraceWriter(tempfile.mkdtemp(prefix="hf_trace_test."), (), "x"))
        try:
            with self.assertRaisesRegex(hf_trace.TraceInputError, "fast .torchvision. image processor"):
                hf_trace.preprocess_qwen2(tracer, Qwen2VLImageProcessorFast(), [], [])
        finally:
            shutil.rmtree(tracer.writer.dir)


# =====================================================================================================
# the command line (no transformers here: what it refuses, and how)
# =====================================================================================================

class TestCommandLine(TmpDirCase):
    def test_missing_numpy_is_one_line(self):
        """An interpreter without numpy (the first python3 on PATH often is one) gets one line naming what to
        install and which interpreter ran the script -- not a traceback from the import at the top."""
        code = ("import sys, runpy; sys.modules['numpy'] = None; "
                "sys.argv = ['hf_trace.py', '--model', 'x', '--image', 'y', '--trace', 'z']; "
                "runpy.run_path(%r, run_name='__main__')" % os.path.join(ROOT, "trace", "hf_trace.py"))
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        self.assertEqual(len(p.stderr.strip().split("\n")), 1, p.stderr)
        self.assertIn("needs numpy", p.stderr)
        self.assertIn(sys.executable, p.stderr)
        self.assertIn("requirements-hf-slow.txt", p.stderr)
        self.assertIn("fake_transformers.py", p.stderr)

    def test_requirement_lines_pin_every_package(self):
        """Each processor mode / family has requirement lines pinning transformers, torch, Pillow and numpy."""
        for name, tf in (("slow", "4.51.3"), ("fast", "5.0.0.dev0"), ("qwen3vl", "5.0.0.dev0")):
            path = os.path.join(ROOT, "trace", "requirements-hf-%s.txt" % name)
            pins = dict(line.split("==") for line in open(path).read().split("\n")
                        if line and not line.startswith("#"))
            for pkg in ("transformers", "torch", "Pillow", "numpy"):
                self.assertIn(pkg, pins, path)
            self.assertEqual(pins["transformers"], tf, path)
        self.assertEqual(hf_trace.TRANSFORMERS_KNOWN, "4.51.3")

    def run_cli(self, *args):
        return subprocess.run([sys.executable, HF_TRACE] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)

    def assert_one_line_error(self, r, code, text):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("hf_trace.py: note: ")]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("hf_trace.py: "), lines[0])
        self.assertIn(text, lines[0])

    def run_main(self, *args, fake=True):
        """hf_trace.main(args) in this process (fast: torch is already imported), with the fake transformers
        installed for the call; returns what a subprocess would (returncode, stdout, stderr)."""
        import contextlib
        import io
        import types
        out, err = io.StringIO(), io.StringIO()
        if fake:
            fake_transformers.install()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = hf_trace.main(list(args))
        finally:
            fake_transformers.uninstall()
        return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())

    def test_help(self):
        r = self.run_main("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--model", r.stdout)
        self.assertIn("--only", r.stdout)

    def test_use_fast_refused(self):
        img = os.path.join(REF, "qwen2vl-image", "image.0.png")
        r = self.run_main("--model", self.tmp, "--image", img, "--trace", self.tmp, "--use-fast")
        self.assert_one_line_error(r, 2, "gives other pixels")

    def test_usage_error(self):
        r = self.run_main("--image", "x.png")
        self.assertEqual(r.returncode, 2)

    # -- end to end through the command line, with tests/py/fake_transformers.py standing in for the package --
    def run_fake(self, *args):
        return subprocess.run([sys.executable, FAKE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)

    def test_cli_end_to_end(self):
        """The documented command on a bundled checkpoint, per family: exit 0, one summary line, a trace
        that passes vlmtrace diff, the versions and inputs in the manifest."""
        runs = {
            "qwen2vl-image": ["--min-pixels", "3136", "--max-pixels", "64000"],
            "qwen25vl-multi": ["--video", None, "--fps", "2", "--min-pixels", "3136", "--max-pixels", "8000"],
            "qwenvl-image": [],
            "kimivl-multi": [],
        }
        for case, flags in runs.items():
            g = Golden(case)
            args = ["--model", g.dir]
            for image in g.images():
                args += ["--image", image]
            flags = [",".join(g.videos()[0]) if f is None else f for f in flags]
            out = os.path.join(self.tmp, case)
            r = self.run_fake(*(args + flags + ["--trace", out]))
            self.assertEqual(r.returncode, 0, case + ": " + r.stderr)
            self.assertRegex(r.stdout, r"^hf_trace.py: \d+ tensors, .*manifest.json\n$")
            d = vlmtrace("diff", out, g.dir)
            self.assertEqual(d.returncode, 0, case + ":\n" + d.stdout + d.stderr)
            with open(os.path.join(out, "manifest.json")) as f:
                m = json.load(f)
            self.assertEqual(m["model"], g.config["model_type"])
            for key in ("transformers", "torch", "Pillow", "numpy"):
                self.assertTrue(m["versions"][key], key)
            self.assertEqual(m["inputs"]["images"], g.images())
            if case == "qwen25vl-multi":
                self.assertEqual(m["inputs"]["second_per_grid_ts"], [1.0])
                self.assertEqual(m["processor"]["max_pixels"], 8000)

    def test_cli_bad_input(self):
        g = Golden("qwen2vl-image")
        img = g.images()[0]
        r = self.run_main("--model", g.dir, "--image", os.path.join(self.tmp, "nope.png"), "--trace", self.tmp)
        self.assert_one_line_error(r, 2, "nope.png: no such file")
        other = os.path.join(self.tmp, "llava")
        os.makedirs(other)
        with open(os.path.join(other, "config.json"), "w") as f:
            json.dump({"model_type": "llava"}, f)
        r = self.run_main("--model", other, "--image", img, "--trace", os.path.join(self.tmp, "t"))
        self.assert_one_line_error(r, 2, "model_type 'llava' is not one of")
        r = self.run_main("--model", self.tmp, "--image", img, "--trace", os.path.join(self.tmp, "t"))
        self.assert_one_line_error(r, 2, "config.json")
        k = Golden("kimivl-image")
        r = self.run_main("--model", k.dir, "--image", img, "--max-pixels", "9000",
                          "--trace", os.path.join(self.tmp, "t"))
        self.assert_one_line_error(r, 2, "apply to qwen2_vl and qwen2_5_vl only")
        r = self.run_main("--model", g.dir, "--image", img, "--video", img + "," + img, "--fps", "1", "--fps", "2",
                          "--trace", os.path.join(self.tmp, "t"))
        self.assert_one_line_error(r, 2, "--fps: give it once, or once per --video")
        blocker = os.path.join(self.tmp, "file")
        open(blocker, "w").close()
        r = self.run_main("--model", g.dir, "--image", img, "--trace", os.path.join(blocker, "t"))
        self.assert_one_line_error(r, 2, "cannot create the trace directory")

    def test_ours_against_hf_trace(self):
        """The two commands of docs/diff-your-port.md on the same checkpoint and inputs -- `vlmtrace run` on
        our side, hf_trace.py (over the stand-ins) on the other -- then `vlmtrace diff ours hf`: every
        tensor hf_trace.py writes, including the internals the goldens leave out, must match."""
        cases = {"qwen2vl-image": ["--min-pixels", "3136", "--max-pixels", "64000"],
                 "qwen25vl-multi": ["--video", None, "--fps", "2", "--min-pixels", "3136", "--max-pixels", "8000"],
                 "kimivl-multi": [], "qwenvl-image": []}
        for case, flags in cases.items():
            g = Golden(case)
            args = ["--model", g.dir]
            for image in g.images():
                args += ["--image", image]
            args += [",".join(g.videos()[0]) if f is None else f for f in flags]
            ours, hf = os.path.join(self.tmp, case + ".ours"), os.path.join(self.tmp, case + ".hf")
            r = vlmtrace("run", *(args + ["--trace", ours]))
            self.assertEqual(r.returncode, 0, case + ": " + r.stderr)
            r = self.run_main(*(args + ["--trace", hf]))
            self.assertEqual(r.returncode, 0, case + ": " + r.stderr)
            d = vlmtrace("diff", ours, hf)
            self.assertEqual(d.returncode, 0, case + ":\n" + d.stdout + d.stderr)
            with open(os.path.join(hf, "manifest.json")) as f:
                n = len(json.load(f)["tensors"])
            self.assertIn("PASS: %d tensor(s) match" % n, d.stdout)

    def test_without_transformers(self):
        import importlib.util
        if importlib.util.find_spec("transformers") is not None:
            self.skipTest("transformers is installed here")
        img = os.path.join(REF, "qwen2vl-image", "image.0.png")
        r = self.run_cli("--model", os.path.join(REF, "qwen2vl-image"), "--image", img, "--trace",
                         os.path.join(self.tmp, "t"))
        self.assert_one_line_error(r, 2, "needs transformers, which ")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "t")))


if __name__ == "__main__":
    unittest.main()
