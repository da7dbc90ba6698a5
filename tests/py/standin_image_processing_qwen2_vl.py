"""standin_image_processing_qwen2_vl.py -- stand-in for transformers 4.51.3 image_processing_qwen2_vl.py
(the slow, PIL-based Qwen2VLImageProcessor that Qwen2.5-VL uses too), with the structure hf_trace.py hooks:
preprocess() calls _preprocess() once per image and once per video; _preprocess calls the module-level
resize() (PIL bicubic on the uint8 image, as transformers.image_transforms.resize does), self.rescale
(float64 multiply, cast to float32) and self.normalize ((x - mean) / std in float32), then the 9-D
patchify. Every intermediate is reported to standins.RECORD."""

import math

import numpy as np
import torch
from PIL import Image

from standins import RECORD

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    if height < factor or width < factor:
        raise ValueError("height:%d or width:%d must be larger than factor:%d" % (height, width, factor))
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize(image, size, resample=Image.BICUBIC, data_format=None, input_data_format=None):
    """uint8 HWC -> PIL -> resize((w, h)) -> uint8 HWC (transformers.image_transforms.resize's path)."""
    height, width = size
    out = np.array(Image.fromarray(image).resize((width, height), resample=resample))
    return out


class Qwen2VLImageProcessor:
    def __init__(self, min_pixels=56 * 56, max_pixels=28 * 28 * 1280, patch_size=14, temporal_patch_size=2,
                 merge_size=2, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD):
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        self.patch_size, self.temporal_patch_size, self.merge_size = patch_size, temporal_patch_size, merge_size
        self.image_mean, self.image_std = image_mean, image_std
        self._unit = None

    def rescale(self, image, scale, input_data_format=None):
        return (image.astype(np.float64) * scale).astype(np.float32)

    def normalize(self, image, mean, std, input_data_format=None):
        mean = np.array(mean, dtype=image.dtype)
        std = np.array(std, dtype=image.dtype)
        return (image - mean) / std

    def _preprocess(self, images, do_resize=True, input_data_format="channels_last"):
        images = images if isinstance(images, list) else [images]
        unit = self._unit
        arrays = [np.array(im) for im in images]
        RECORD.put(unit + ".rgb", arrays[0] if unit.startswith("image") else np.stack(arrays))
        height, width = arrays[0].shape[:2]
        rh, rw = smart_resize(height, width, factor=self.patch_size * self.merge_size,
                              min_pixels=self.size["shortest_edge"], max_pixels=self.size["longest_edge"])
        processed, resized_all = [], []
        for image in arrays:
            image = resize(image, size=(rh, rw), resample=Image.BICUBIC, input_data_format=input_data_format)
            resized_all.append(image)
            image = self.rescale(image, scale=1 / 255, input_data_format=input_data_format)
            image = self.normalize(image=image, mean=self.image_mean, std=self.image_std,
                                   input_data_format=input_data_format)
            processed.append(image.transpose(2, 0, 1))
        one = unit.startswith("image")
        RECORD.put(unit + ".resized", resized_all[0] if one else np.stack(resized_all))
        RECORD.put(unit + ".normalized", processed[0] if one else np.stack(processed))
        patches = np.array(processed)
        T, P, m = self.temporal_patch_size, self.patch_size, self.merge_size
        if patches.shape[0] % T != 0:
            repeats = np.repeat(patches[-1][np.newaxis], T - 1, axis=0)
            patches = np.concatenate([patches, repeats], axis=0)
        channel = patches.shape[1]
        grid_t, grid_h, grid_w = patches.shape[0] // T, rh // P, rw // P
        patches = patches.reshape(grid_t, T, channel, grid_h // m, m, P, grid_w // m, m, P)
        patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        flat = patches.reshape(grid_t * grid_h * grid_w, channel * T * P * P)
        RECORD.put(unit + ".patches", flat)
        return flat, (grid_t, grid_h, grid_w)

    def preprocess(self, images=None, videos=None, return_tensors=None):
        data = {}
        if images is not None:
            pixel_values, grids = [], []
            for k, image in enumerate(images):
                self._unit = "image.%d" % k
                patches, grid = self._preprocess(image)
                pixel_values.extend(patches)
                grids.append(grid)
            data["pixel_values"] = np.array(pixel_values)
            data["image_grid_thw"] = np.array(grids)
            RECORD.put("pixel_values", data["pixel_values"])
            RECORD.put("image_grid_thw", data["image_grid_thw"])
        if videos is not None:
            pixel_values, grids = [], []
            for k, frames in enumerate(videos):
                self._unit = "video.%d" % k
                patches, grid = self._preprocess(frames)
                pixel_values.extend(patches)
                grids.append(grid)
            data["pixel_values_videos"] = np.array(pixel_values)
            data["video_grid_thw"] = np.array(grids)
            RECORD.put("pixel_values_videos", data["pixel_values_videos"])
            RECORD.put("video_grid_thw", data["video_grid_thw"])
        if return_tensors == "pt":
            data = {k: torch.from_numpy(v) for k, v in data.items()}
        return data

    __call__ = preprocess
