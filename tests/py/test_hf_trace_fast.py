"""test_hf_trace_fast.py -- trace/hf_trace.py --use-fast, through stand-ins of transformers 5.0's fast
processors (tests/py/standin_image_processing_qwen2_vl_fast.py: the call structure hf_trace.py hooks, and
torch's own interpolate(bicubic, antialias=True) as the resize).

  1. preprocess_qwen2_fast writes image.* / video.* / pixel_values* under the slow path's names and in its
     order, each value byte-equal to what the stand-in computed for that input, and puts every patched
     method back;
  2. through the command line (the fake transformers package) with ATEN_CPU_CAPABILITY=default -- torch
     1.13's scalar float kernel, the one the goldens follow -- every image of preprocess-fast (each with its
     own min/max_pixels) and its video come out byte-identical to the golden image.{k}.* / video.0.*;
  3. `vlmtrace run --processor fast` and `hf_trace.py --use-fast` on the same checkpoint and inputs: `vlmtrace
     diff` passes on every tensor, and both manifests record processor_mode "fast";
  4. a slow `vlmtrace run` against that hf trace fails first at image.0.resized, and the report names
     --processor fast;
  5. the refusals: videos without a video processor, a processor that resizes twice for one input.
"""

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

import hf_trace  # noqa: E402
import standin_image_processing_qwen2_vl_fast as fast_processing  # noqa: E402
import standins  # noqa: E402

REF = os.path.join(ROOT, "notebooks-data", "reference")
FAST = os.path.join(REF, "preprocess-fast")
MODEL = os.path.join(REF, "qwen2vl-image")  # a tiny Qwen2-VL checkpoint (hf_trace.py needs a model)
VLMTRACE = os.environ.get("VLMTRACE_BIN") or os.path.join(ROOT, "bin", "vlmtrace")
if not os.path.isabs(VLMTRACE):
    VLMTRACE = os.path.join(ROOT, VLMTRACE)

torch.set_num_threads(1)

# hf_trace.main over the fake transformers for each argument list, in one process whose torch runs its
# scalar CPU kernels (the variable is read when torch first dispatches, so it is set before the import)
BATCH = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import fake_transformers
fake_transformers.install()
import hf_trace
codes = [hf_trace.main(args) for args in json.loads(sys.argv[2])]
sys.exit(max(codes))
"""


def hf_batch(runs):
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", BATCH, HERE, json.dumps(runs)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env)


def vlmtrace(*args):
    return subprocess.run([VLMTRACE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def load_trace(d):
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    return m, {e["name"]: np.load(os.path.join(d, e["file"]), allow_pickle=False) for e in m["tensors"]}


class FastCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hf_trace_fast.")
        with open(os.path.join(FAST, "inputs.json")) as f:
            self.inputs = json.load(f)
        self.golden_manifest, self.golden = load_trace(FAST)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def video_frames(self):
        return [os.path.join(FAST, f) for f in self.inputs["videos"][0]["frames"]]

    # -- 1 -----------------------------------------------------------------------------------------------
    def test_values_and_unhooking(self):
        images = [os.path.join(FAST, "image.%d.png" % k) for k in (0, 8, 9)]
        proc = fast_processing.Qwen2VLImageProcessorFast(min_pixels=3136, max_pixels=12845056)
        vproc = fast_processing.Qwen2VLVideoProcessor(min_pixels=3136, max_pixels=8000)
        out = os.path.join(self.tmp, "t")
        writer = hf_trace.TraceWriter(out, (), "qwen2_vl")
        tracer = hf_trace.Tracer(writer)
        standins.RECORD.start()
        try:
            pv, grid = hf_trace.preprocess_qwen2_fast(tracer, proc, vproc, [standins.hf_load_image(p) for p in images],
                                                      [[standins.hf_load_image(p) for p in self.video_frames()]])
        finally:
            values, _ = standins.RECORD.stop()
            tracer.close()
        writer.finish({"processor_mode": "fast"})
        m, written = load_trace(out)
        want = []
        for kind, n in (("image", 3), ("video", 1)):
            for k in range(n):
                want += ["%s.%d.%s" % (kind, k, s) for s in ("rgb", "resized", "normalized", "patches")]
            want += ["pixel_values", "image_grid_thw"] if kind == "image" else ["pixel_values_videos", "video_grid_thw"]
        self.assertEqual([e["name"] for e in m["tensors"]], want)
        for name, arr in written.items():
            if name in values:
                self.assertEqual(arr.dtype, values[name].dtype, name)
                self.assertTrue(np.array_equal(arr, values[name]), name + ": differs from the stand-in's value")
        cat = np.concatenate([values["image.%d.patches" % k] for k in range(3)])
        self.assertTrue(np.array_equal(written["pixel_values"], cat))
        self.assertTrue(np.array_equal(written["pixel_values_videos"], values["video.0.patches"]))
        self.assertEqual(written["image_grid_thw"].tolist(), [[1, 4, 6]] * 3)
        self.assertEqual(written["video_grid_thw"].tolist(), [[2, 4, 6]])
        self.assertEqual(tuple(pv.shape), (3 * 24 + 48, 1176))
        self.assertEqual(grid.tolist(), [[1, 4, 6]] * 3 + [[2, 4, 6]])
        for p in (proc, vproc):  # patched methods restored
            self.assertNotIn("resize", vars(p))
            self.assertNotIn("rescale_and_normalize", vars(p))

    # -- 2 -----------------------------------------------------------------------------------------------
    def test_golden_preprocess_fast(self):
        """hf_trace.py --use-fast over the stand-ins reproduces every golden image and the video exactly."""
        groups = {}
        for k, img in enumerate(self.inputs["images"]):
            groups.setdefault((img["min_pixels"], img["max_pixels"]), []).append(k)
        runs, plan = [], []
        for i, ((lo, hi), ks) in enumerate(sorted(groups.items())):
            out = os.path.join(self.tmp, "g%d" % i)
            args = ["--model", MODEL, "--min-pixels", str(lo), "--max-pixels", str(hi), "--use-fast",
                    "--trace", out, "--only", "image.*"]
            for k in ks:
                args += ["--image", os.path.join(FAST, self.inputs["images"][k]["file"])]
            runs.append(args)
            plan.append((out, "image", ks))
        v = self.inputs["videos"][0]
        out = os.path.join(self.tmp, "video")
        runs.append(["--model", MODEL, "--video", ",".join(self.video_frames()), "--min-pixels", str(v["min_pixels"]),
                     "--max-pixels", str(v["max_pixels"]), "--use-fast", "--trace", out, "--only", "video.*",
                     "--only", "pixel_values_videos", "--only", "video_grid_thw"])
        plan.append((out, "video", [0]))
        r = hf_batch(runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        compared = 0
        for out, kind, ks in plan:
            m, ours = load_trace(out)
            self.assertEqual(m["processor_mode"], "fast")
            for j, k in enumerate(ks):
                for s in ("rgb", "resized", "normalized", "patches"):
                    a, b = ours["%s.%d.%s" % (kind, j, s)], self.golden["%s.%d.%s" % (kind, k, s)]
                    self.assertEqual((a.dtype, a.shape), (b.dtype, b.shape), "%s.%d.%s" % (kind, k, s))
                    diff = np.argwhere(a != b)
                    self.assertEqual(len(diff), 0, "%s.%d.%s: %d elements differ, first at %s: %s vs golden %s"
                                     % (kind, k, s, len(diff), diff[:1].tolist(), a[tuple(diff[0])] if len(diff) else "",
                                        b[tuple(diff[0])] if len(diff) else ""))
                    compared += 1
            if kind == "video":
                self.assertTrue(np.array_equal(ours["pixel_values_videos"], self.golden["pixel_values_videos"]))
                self.assertEqual(ours["video_grid_thw"].tolist(), self.golden["video.0.grid_thw"].tolist())
        self.assertEqual(compared, 4 * 15)

    # -- 3 and 4 -------------------------------------------------------------------------------------------
    def test_ours_against_hf_fast(self):
        images = [os.path.join(FAST, f) for f in ("image.0.png", "image.12.jpg", "image.7.png")]
        args = ["--model", MODEL, "--min-pixels", "3136", "--max-pixels", "15680"]
        for p in images:
            args += ["--image", p]
        args += ["--video", ",".join(self.video_frames())]
        hf = os.path.join(self.tmp, "hf")
        r = hf_batch([args + ["--use-fast", "--trace", hf]])
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = os.path.join(self.tmp, "ours")
        r = vlmtrace("run", *(args + ["--processor", "fast", "--trace", ours]))
        self.assertEqual(r.returncode, 0, r.stderr)
        d = vlmtrace("diff", ours, hf)
        self.assertEqual(d.returncode, 0, d.stdout + d.stderr)
        m_hf, _ = load_trace(hf)
        self.assertIn("PASS: %d tensor(s) match" % len(m_hf["tensors"]), d.stdout)
        m_ours, _ = load_trace(ours)
        self.assertEqual((m_ours["processor_mode"], m_hf["processor_mode"]), ("fast", "fast"))
        # the slow processor against the fast reference: the first failure is the resize, and diff says why
        slow = os.path.join(self.tmp, "slow")
        r = vlmtrace("run", *(args + ["--trace", slow]))  # 4.51.3 refuses the 20-pixel-wide image.7 ...
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("height:400 and width:20 must be larger than factor:28", r.stderr)
        i = args.index(images[2])                         # ... so the slow run goes without it
        r = vlmtrace("run", *(args[:i - 1] + args[i + 1:] + ["--trace", slow]))
        self.assertEqual(r.returncode, 0, r.stderr)
        d = vlmtrace("diff", slow, hf)
        self.assertEqual(d.returncode, 1, d.stdout + d.stderr)
        self.assertIn("first divergence: image.0.resized", d.stdout)
        self.assertIn("ours was made with the slow processor, the reference with the fast one: rerun with "
                      "--processor fast", d.stdout)

    # -- 5 -------------------------------------------------------------------------------------------------
    def test_refusals(self):
        proc = fast_processing.Qwen2VLImageProcessorFast()
        tracer = hf_trace.Tracer(hf_trace.TraceWriter(os.path.join(self.tmp, "r"), (), "qwen2_vl"))
        frames = [standins.hf_load_image(p) for p in self.video_frames()]
        try:
            with self.assertRaisesRegex(hf_trace.TraceInputError, "videos need the video processor"):
                hf_trace.preprocess_qwen2_fast(tracer, proc, None, [], [frames])
            class Twice(fast_processing.Qwen2VLImageProcessorFast):  # a version that processes each input twice
                def _preprocess(self, *args, **kwargs):
                    super()._preprocess(*args, **kwargs)
                    return super()._preprocess(*args, **kwargs)
            with self.assertRaisesRegex(hf_trace.TraceInputError, "called resize 2 and rescale_and_normalize 2 times"):
                hf_trace.preprocess_qwen2_fast(tracer, Twice(), None, [frames[0]], [])
        finally:
            tracer.close()


if __name__ == "__main__":
    unittest.main()
