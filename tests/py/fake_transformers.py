"""fake_transformers.py -- run trace/hf_trace.py's command line with the stand-ins behind a fake
`transformers` (and `safetensors`) package, so the CLI glue (flags, model_type dispatch, loading by
weight prefix, processor set-up, manifest) runs end to end here, where transformers cannot be installed.

    /usr/bin/python3 tests/py/fake_transformers.py --model DIR --image FILE ... --trace OUT

It installs module objects under the names hf_trace.py imports (transformers, transformers.image_utils,
transformers.dynamic_module_utils, transformers.models.qwen2_vl.modeling_qwen2_vl,
transformers.models.qwen2_5_vl.modeling_qwen2_5_vl, safetensors), whose classes are the stand-ins of
tests/py, then calls hf_trace.main(). It fakes the *API surface* hf_trace.py uses, nothing more: it says
nothing about whether the real transformers behaves the same (that is what the stand-ins' mirroring of
the reference code is for)."""

import importlib.machinery
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "trace"))

import torch  # noqa: E402

import standin_image_processing_qwen2_vl  # noqa: E402
import standin_image_processing_qwen2_vl_fast  # noqa: E402
import standin_kimi_vl  # noqa: E402
import standin_qwen2_5_vl  # noqa: E402
import standin_qwen2_vl  # noqa: E402
import standin_qwenvl_visual  # noqa: E402
import standins  # noqa: E402

VERSION = "0.0+standins"


class Config(dict):
    """config.json as both a dict (what the stand-ins take) and attributes (what hf_trace.py reads)."""

    def __getattr__(self, key):
        try:
            value = self[key]
        except KeyError:
            raise AttributeError(key)
        return Config(value) if isinstance(value, dict) else value

    def __setattr__(self, key, value):
        self[key] = value


def _module(name, **attrs):
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def _from_config_of(cls):
    def _from_config(klass, config, **kwargs):
        return klass(dict(config))
    return type(cls.__name__, (cls,), {"_from_config": classmethod(_from_config)})


class AutoConfig:
    @staticmethod
    def from_pretrained(path, trust_remote_code=False):
        with open(os.path.join(path, "config.json")) as f:
            return Config(json.load(f))


class AutoImageProcessor:
    @staticmethod
    def from_pretrained(path, use_fast=None, trust_remote_code=False):
        with open(os.path.join(path, "preprocessor_config.json")) as f:
            cfg = json.load(f)
        kind = cfg.get("image_processor_type")
        if kind == "KimiVLImageProcessor":
            return standin_kimi_vl.KimiVLImageProcessor(**cfg)
        if kind in ("Qwen2VLImageProcessor", "Qwen2VLImageProcessorFast"):
            # transformers >= 4.52: use_fast picks the class whatever the file names
            fast = use_fast if use_fast is not None else kind.endswith("Fast")
            cls = (standin_image_processing_qwen2_vl_fast.Qwen2VLImageProcessorFast if fast
                   else standin_image_processing_qwen2_vl.Qwen2VLImageProcessor)
            return cls(min_pixels=cfg.get("min_pixels", 56 * 56), max_pixels=cfg.get("max_pixels", 28 * 28 * 1280))
        raise ValueError("fake AutoImageProcessor: %s" % kind)


class Qwen2VLVideoProcessor(standin_image_processing_qwen2_vl_fast.Qwen2VLVideoProcessor):
    """from_pretrained as 5.0's: video_preprocessor_config.json, else preprocessor_config.json."""

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
            if os.path.exists(os.path.join(path, name)):
                with open(os.path.join(path, name)) as f:
                    cfg = json.load(f)
                return cls(min_pixels=cfg.get("min_pixels", 128 * 28 * 28), max_pixels=cfg.get("max_pixels", 28 * 28 * 768))
        raise OSError("%s: no video_preprocessor_config.json" % path)


class _Projector(standin_kimi_vl.KimiVLMultiModalProjector):
    def __init__(self, config):
        super().__init__(dict(config))


_REMOTE = {
    "visual.VisionTransformer": standin_qwenvl_visual.VisionTransformer,
    "modeling_kimi_vl.MoonVitPretrainedModel": _from_config_of(standin_kimi_vl.MoonVitPretrainedModel),
    "modeling_kimi_vl.KimiVLMultiModalProjector": _Projector,
}


def get_class_from_dynamic_module(ref, path):
    return _REMOTE[ref]


class _SafeOpen:
    def __init__(self, path, framework="pt"):
        self.tensors = standins.read_safetensors(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def keys(self):
        return list(self.tensors)

    def get_tensor(self, key):
        return torch.from_numpy(self.tensors[key])


def install():
    tf = _module("transformers", __version__=VERSION, AutoConfig=AutoConfig, AutoImageProcessor=AutoImageProcessor,
                 Qwen2VLImageProcessor=standin_image_processing_qwen2_vl.Qwen2VLImageProcessor,
                 Qwen2VLImageProcessorFast=standin_image_processing_qwen2_vl_fast.Qwen2VLImageProcessorFast,
                 Qwen2VLVideoProcessor=Qwen2VLVideoProcessor)
    tf.__path__ = []
    tf.image_utils = _module("transformers.image_utils", load_image=standins.hf_load_image)
    tf.dynamic_module_utils = _module("transformers.dynamic_module_utils",
                                      get_class_from_dynamic_module=get_class_from_dynamic_module)
    tf.models = _module("transformers.models")
    tf.models.__path__ = []
    for pkg, mod, cls in (("qwen2_vl", "modeling_qwen2_vl", standin_qwen2_vl.Qwen2VisionTransformerPretrainedModel),
                          ("qwen2_5_vl", "modeling_qwen2_5_vl",
                           standin_qwen2_5_vl.Qwen2_5_VisionTransformerPretrainedModel)):
        p = _module("transformers.models." + pkg)
        p.__path__ = []
        setattr(tf.models, pkg, p)
        setattr(p, mod, _module("transformers.models.%s.%s" % (pkg, mod), **{cls.__name__: _from_config_of(cls)}))
    _module("safetensors", safe_open=_SafeOpen)


def uninstall():
    for name in [n for n in sys.modules if n == "transformers" or n.startswith("transformers.")
                 or n == "safetensors"]:
        del sys.modules[name]


if __name__ == "__main__":
    torch.set_num_threads(1)
    install()
    import hf_trace
    sys.exit(hf_trace.main(sys.argv[1:]))
