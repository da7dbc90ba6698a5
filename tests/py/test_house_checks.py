"""The house's checks can fail: each one is run on a copy of the repository with one problem planted, and
must name it (tests/check_layers.py, tests/check_trace_spec.py, tests/check_docs.py, tests/doc_example.py).
Run by `make test` through tests/run_py.sh."""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PY = "/usr/bin/python3"


def run(script, *args):
    r = subprocess.run([PY, str(ROOT / "tests" / script), *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


class Copy(unittest.TestCase):
    """a copy of the repository (without .git, build/, bin/) in a temporary directory"""
    parts = ("ref", "trace", "tests", "docs", "notebooks-data", ".ci", "README.md", "CONTRIBUTING.md", "Makefile")

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="house-test."))
        for p in self.parts:
            src = ROOT / p
            if src.is_dir():
                shutil.copytree(src, self.tmp / p, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                shutil.copy2(src, self.tmp / p)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, rel, text):
        path = self.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def append(self, rel, text):
        path = self.tmp / rel
        path.write_text(path.read_text() + text)


class TestCheckLayers(Copy):
    parts = ("ref", "trace", "docs")

    def layers(self):
        return run("check_layers.py", "--root", str(self.tmp))

    def test_the_repository_passes(self):
        rc, out = self.layers()
        self.assertEqual(rc, 0, out)
        self.assertIn("check_layers: PASS", out)

    def test_a_family_including_another_family_fails(self):
        self.append("ref/qwen25vl/qwen25vl_window.c", '\n#include "qwen2vl/qwen2vl.h"\n')
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn('ref/qwen25vl/qwen25vl_window.c', out)
        self.assertIn("ref/qwen25vl/ may not include ref/qwen2vl/", out)

    def test_core_including_io_fails(self):
        self.append("ref/core/ops.c", '\n#include "io/json.h"\n')
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/core/ may not include ref/io/", out)

    def test_ref_including_trace_fails(self):
        self.append("ref/model/model_config.c", '\n#include "format/npy.h"\n')
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/model/ may not include trace/format/", out)

    def test_a_bug_flag_tested_by_hand_fails(self):
        self.append("ref/lm/lm_generate.c", "\nstatic int f(unsigned bugs) { return bugs & VT_BUG_X ? 1 : 0; }\n")
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/lm/lm_generate.c", out)
        self.assertIn("VT_BUG_SWITCH", out)

    def test_an_unqualified_include_fails(self):
        self.append("ref/io/json.c", '\n#include "tensor.h"\n')
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn("folder-qualified", out)

    def test_an_unknown_folder_fails_and_says_to_add_it(self):
        self.write("ref/newfamily/newfamily.c", '#include "core/tensor.h"\n')
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/newfamily/ is not in the dependency rules", out)
        self.assertIn("add a row", out)

    def test_the_rules_come_from_the_design_page(self):
        # the same include passes once the page allows it
        self.append("ref/kimivl/kimivl_encoder.c", '\n#include "qwen2vl/qwen2vl.h"\n')
        self.assertEqual(self.layers()[0], 1)
        design = self.tmp / "docs" / "design.md"
        text = design.read_text().replace("| `ref/kimivl/` | `ref/core`,", "| `ref/kimivl/` | `ref/qwen2vl`, `ref/core`,")
        design.write_text(text)
        readme = self.tmp / "ref" / "kimivl" / "README.md"
        readme.write_text(readme.read_text().replace("May include: `ref/core`,", "May include: `ref/qwen2vl`, `ref/core`,"))
        rc, out = self.layers()
        self.assertEqual(rc, 0, out)

    def test_a_folder_without_readme_or_with_another_rule_fails(self):
        (self.tmp / "ref" / "mrope" / "README.md").unlink()
        readme = self.tmp / "trace" / "diff" / "README.md"
        readme.write_text(readme.read_text().replace(", `trace/viz`", ""))
        rc, out = self.layers()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/mrope/: no README.md", out)
        self.assertIn("trace/diff/README.md: 'May include:' says", out)


class TestCheckTraceSpec(Copy):
    parts = ("docs", "notebooks-data")

    def spec(self):
        return run("check_trace_spec.py", "--root", str(self.tmp))

    def manifest(self, case):
        return self.tmp / "notebooks-data" / "reference" / case / "manifest.json"

    def test_the_repository_passes_and_says_what_it_skips(self):
        rc, out = self.spec()
        self.assertEqual(rc, 0, out)
        self.assertIn("check_trace_spec: PASS", out)
        self.assertNotIn("SKIPPED: 'Qwen3-VL'", out)  # its goldens are in the repository (issue 25): checked

    def test_a_manifest_name_the_spec_lacks_fails(self):
        m = self.manifest("qwen2vl-image")
        d = json.loads(m.read_text())
        d["tensors"].append(dict(d["tensors"][-1], name="visual.blocks.0.attn.softmax"))
        m.write_text(json.dumps(d))
        rc, out = self.spec()
        self.assertEqual(rc, 1, out)
        self.assertIn("`visual.blocks.0.attn.softmax` matches no name", out)

    def test_a_spec_name_no_manifest_has_fails(self):
        spec = self.tmp / "docs" / "trace-spec.md"
        spec.write_text(spec.read_text().replace("transformer.visual.ln_post\n", "transformer.visual.ln_post\ntransformer.visual.ln_mid\n", 1))
        rc, out = self.spec()
        self.assertEqual(rc, 1, out)
        self.assertIn("`transformer.visual.ln_mid` ('Qwen-VL') names no tensor", out)

    def test_a_case_no_section_lists_fails(self):
        shutil.copytree(self.tmp / "notebooks-data" / "reference" / "qwen2vl-image",
                        self.tmp / "notebooks-data" / "reference" / "qwen2vl-extra")
        rc, out = self.spec()
        self.assertEqual(rc, 1, out)
        self.assertIn("qwen2vl-extra/manifest.json: no section of docs/trace-spec.md lists this case", out)

    def test_a_family_whose_goldens_land_is_checked(self):
        # a case of a skipped section arrives with a name the section does not list: no longer skipped
        case = self.tmp / "notebooks-data" / "reference" / "preprocess-fast"
        case.mkdir(exist_ok=True)  # the case has landed (issue 24): its manifest is replaced here
        src = json.loads(self.manifest("preprocess-sizes").read_text())
        src["tensors"].append(dict(src["tensors"][0], name="video.0.frames_sampled"))
        (case / "manifest.json").write_text(json.dumps(src))
        rc, out = self.spec()
        self.assertEqual(rc, 1, out)
        self.assertNotIn("SKIPPED: 'Qwen2-VL fast processor'", out)
        self.assertIn("`video.0.frames_sampled` matches no name", out)


class TestCheckDocs(Copy):
    def docs(self):
        return run("check_docs.py", "--links-only", "--root", str(self.tmp))

    def test_the_repository_passes(self):
        rc, out = self.docs()
        self.assertEqual(rc, 0, out)

    def test_a_backticked_path_that_is_not_there_fails(self):
        self.append("docs/traces.md", "\nSee `ref/core/no_such_file.h` for more.\n")
        rc, out = self.docs()
        self.assertEqual(rc, 1, out)
        self.assertIn("docs/traces.md", out)
        self.assertIn("cites `ref/core/no_such_file.h`", out)

    def test_a_md_name_no_file_has_fails(self):
        name = "NO_SUCH_SPEC" + ".md"  # spelled apart so that this file does not cite it
        self.append("CONTRIBUTING.md", f"\nThe rules are in {name}.\n")
        rc, out = self.docs()
        self.assertEqual(rc, 1, out)
        self.assertIn(f"cites `{name}`, but no file", out)

    def test_a_source_comment_citing_a_missing_file_fails(self):
        self.append("ref/core/ops.c", "\n/* the rule of trace/diff/" + "gone.h */\n")
        rc, out = self.docs()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/core/ops.c", out)
        self.assertIn("cites `trace/diff/" + "gone.h`", out)

    def test_placeholders_are_patterns_not_citations(self):
        self.append("docs/traces.md", "\nA family's `ref/<family>/<family>.h`, `tests/test_*.c`, `notebooks-data/presets/NAME/`.\n")
        rc, out = self.docs()
        self.assertEqual(rc, 0, out)

    def test_a_stage_table_row_naming_the_wrong_file_fails(self):
        index = self.tmp / "docs" / "index.md"
        text = index.read_text()
        self.assertIn("`vt_qwen25vl_get_window_index`, `vt_qwen25vl_unique_consecutive` (ref/qwen25vl/qwen25vl_window.c)", text)
        index.write_text(text.replace("`vt_qwen25vl_get_window_index`, `vt_qwen25vl_unique_consecutive` (ref/qwen25vl/qwen25vl_window.c)",
                                      "`vt_qwen25vl_get_window_index`, `vt_qwen25vl_unique_consecutive` (ref/qwen25vl/qwen25vl_forward.c)"))
        rc, out = self.docs()
        self.assertEqual(rc, 1, out)
        self.assertIn("`vt_qwen25vl_get_window_index` is not defined in ref/qwen25vl/qwen25vl_forward.c", out)

    def test_a_stage_table_row_in_another_family_folder_fails(self):
        index = self.tmp / "docs" / "index.md"
        text = index.read_text()
        old = "`vt_qwen25vl_forward` (ref/qwen25vl/qwen25vl_forward.c)"
        self.assertIn(old, text)
        # put a Qwen2-VL function in the Qwen2.5-VL table: defined there, but in another family's folder
        index.write_text(text.replace(old, old + "; `vt_qwen2vl_forward` (ref/qwen2vl/qwen2vl_forward.c)"))
        rc, out = self.docs()
        self.assertEqual(rc, 1, out)
        self.assertIn("ref/qwen2vl/qwen2vl_forward.c is in another family's folder", out)


class TestDocExample(Copy):
    parts = ("docs",)

    def test_the_shown_output_is_compared(self):
        binary = ROOT / "build" / "docs" / "design_example"
        if not binary.exists():
            self.skipTest("build/docs/design_example not built (make house-check builds it)")
        rc, out = run("doc_example.py", "run", str(ROOT / "docs" / "design.md"), str(binary))
        self.assertEqual(rc, 0, out)
        design = self.tmp / "docs" / "design.md"
        design.write_text(design.read_text().replace("visual: [80, 48]", "visual: [80, 64]"))
        rc, out = run("doc_example.py", "run", str(design), str(binary))
        self.assertEqual(rc, 1, out)
        self.assertIn("doc_example: FAIL", out)

    def test_extract_writes_the_marked_block(self):
        out = self.tmp / "ex.c"
        rc, msg = run("doc_example.py", "extract", str(ROOT / "docs" / "design.md"), str(out))
        self.assertEqual(rc, 0, msg)
        src = out.read_text()
        self.assertIn("vt_qwen2vl_pipeline(", src)
        self.assertIn('#include "model/model.h"', src)
        self.assertNotIn("trace/", src.split("int main")[0])


if __name__ == "__main__":
    unittest.main()
