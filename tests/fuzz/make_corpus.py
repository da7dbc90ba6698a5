#!/usr/bin/python3
"""make_corpus.py OUT_DIR -- the seed corpora of the fuzz targets, derived from the golden files.

    /usr/bin/python3 tests/fuzz/make_corpus.py build/fuzz/corpus

Writes OUT_DIR/<target>/<name> for every target of tests/fuzz/targets.c (existing files are kept, so
what the fuzzers added in earlier runs stays). Sources:
  st_header  each golden model.safetensors, every tensor shrunk to at most 2 per dimension (a valid
             file of a few kB with the real names, dtypes and ranks), plus the checked-in seeds
  st_index   tests/fuzz/seeds/st_index/ (no golden case is sharded)
  npy        the golden .npy files under 8 kB (float32, int32, int64, uint8), and a float32 one cut
             down from a bigger file
  manifest   the golden manifest.json files
  config     the golden config.json files
  preproc    the golden preprocessor_config.json files, behind the family byte the target reads
             (0 qwen2_vl, 1 qwen2_5_vl, 2 qwen, 3 kimi_vl), and an empty object per family
  image      the golden PNGs under 16 kB, the EXIF JPEGs of preprocess-exif, and small images made here
             in the formats the golden set lacks (16-bit grey and palette PNG, PNG with eXIf, BMP,
             GIF, PNM)
  layout     tests/fuzz/seeds/layout/
  tokens     tests/fuzz/seeds/tokens/ (the diff's locator on M-RoPE token traces)
  args       tests/fuzz/seeds/args/ (argv lists, one argument a line)
  tok_json   tests/fuzz/seeds/tok_json/ (qwen-small.json: the golden tokenizer.json cut down to its 256 byte
             tokens, its first 400 merges and its 26 added tokens, with the real normalizer, pre-tokenizer
             and decoder; `make_corpus.py --small-tokenizer FILE` writes it), and that file with its merges
             as "a b" strings
  tok_encode the texts of the golden cases.json behind the header the target reads (a byte k, then k added
             tokens each ended by a NUL), with no added token, and with <|im_start|> and <think>
Only the standard library is used.
"""
import hashlib
import json
import os
import struct
import sys
import zlib

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(ROOT, "notebooks-data", "reference")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "seeds")
FAMILY = {"qwen2_vl": 0, "qwen2_5_vl": 1, "qwen": 2, "kimi_vl": 3}
DTYPE_SIZE = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def golden_files(pred):
    for d, _, names in sorted(os.walk(GOLDEN)):
        for n in sorted(names):
            p = os.path.join(d, n)
            if pred(n, p):
                yield p


def put(out, target, data, stem):
    """Write one seed named by its content, so reruns do not duplicate it."""
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(d, "seed-%s-%s" % (stem, h)), "wb") as f:
        f.write(data)


def copy_seeds(out, target):
    d = os.path.join(SEEDS, target)
    if os.path.isdir(d):
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                put(out, target, f.read(), os.path.splitext(n)[0])


def rel(p):
    return os.path.relpath(p, GOLDEN).replace("/", "_").replace(".", "_")


def shrink_safetensors(path):
    """The same tensors (names, dtypes, ranks) with every dimension cut to at most 2."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    names = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    out, pos = {}, 0
    if "__metadata__" in header:
        out["__metadata__"] = header["__metadata__"]
    for k in names:
        e = header[k]
        shape = [min(d, 2) for d in e["shape"]]
        numel = 1
        for d in shape:
            numel *= d
        nb = numel * DTYPE_SIZE[e["dtype"]]
        out[k] = {"dtype": e["dtype"], "shape": shape, "data_offsets": [pos, pos + nb]}
        pos += nb
    h = json.dumps(out, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the format pads the header with spaces to a multiple of 8
    data = bytes((i * 37) & 0xFF for i in range(pos))
    return struct.pack("<Q", len(h)) + h + data


def npy_bytes(descr, shape, data):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(d) + 1) % 64
    h = (d + " " * pad + "\n").encode()
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


def png(w, h, color_type, bit_depth, raw_rows, extra=()):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    body = b"".join(chunk(t, d) for t, d in extra)
    raw = b"".join(b"\x00" + r for r in raw_rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def exif_orientation_block(o):
    """A little-endian TIFF header with IFD0 holding Orientation = o (what a PNG eXIf chunk carries)."""
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, o, 0) + \
        struct.pack("<I", 0)


def made_images():
    yield "grey16", png(3, 2, 0, 16, [struct.pack(">3H", 0, 300, 65535), struct.pack(">3H", 255, 256, 1)])
    plte = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    yield "palette", png(4, 2, 3, 8, [bytes([0, 1, 2, 3]), bytes([3, 2, 1, 0])], [(b"PLTE", plte)])
    yield "rgba", png(2, 2, 6, 8, [bytes(range(8)), bytes(range(8, 16))])
    yield "exif6", png(3, 2, 2, 8, [bytes(range(9)), bytes(range(9, 18))], [(b"eXIf", exif_orientation_block(6))])
    yield "p6", b"P6\n# made by make_corpus.py\n3 2\n255\n" + bytes(range(18))
    yield "p5_16", b"P5 2 2 65535\n" + bytes(range(8))
    yield "p5", b"P5 2 2 255 " + bytes([0, 128, 255, 7])
    row = bytes([0, 0, 255, 0, 255, 0]) + b"\x00\x00"  # 2 BGR pixels, padded to 4 bytes
    bmp_data = row * 2
    yield "bmp", b"BM" + struct.pack("<IHHI", 54 + len(bmp_data), 0, 0, 54) + \
        struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(bmp_data), 2835, 2835, 0, 0) + bmp_data
    yield "gif", (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
                  b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def small_tokenizer(n_merges=400):
    """The golden tokenizer.json cut down: the 256 byte tokens (ids 0-255, as in the file), the first
    n_merges merges (each one's parts are bytes or made by an earlier merge; merge k makes id 256 + k) and
    the added tokens (ids after those), everything else as in the file."""
    with open(os.path.join(GOLDEN, "tokenizer", "tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    inv = {i: s for s, i in t["model"]["vocab"].items()}
    vocab = {inv[i]: i for i in range(256)}
    merges = []
    for a, b in t["model"]["merges"][:n_merges]:
        assert a in vocab and b in vocab
        vocab[a + b] = 256 + len(merges)
        merges.append([a, b])
    added = []
    for k, a in enumerate(t["added_tokens"]):
        a = dict(a)
        a["id"] = 256 + n_merges + k
        added.append(a)
    t["model"]["vocab"], t["model"]["merges"], t["added_tokens"] = vocab, merges, added
    return t


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--small-tokenizer":
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            json.dump(small_tokenizer(), f, ensure_ascii=False, indent=1)
            f.write("\n")
        return
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR   (or: make_corpus.py --small-tokenizer FILE)")
    out = sys.argv[1]

    for p in golden_files(lambda n, p: n.endswith(".safetensors")):
        put(out, "st_header", shrink_safetensors(p), rel(p))
    copy_seeds(out, "st_header")
    copy_seeds(out, "st_index")

    for p in golden_files(lambda n, p: n.endswith(".npy") and os.path.getsize(p) < 8192):
        with open(p, "rb") as f:
            put(out, "npy", f.read(), rel(p))
    put(out, "npy", npy_bytes("<f4", (2, 3), struct.pack("<6f", 0.5, -1, 2, 3.25, 1e-3, 7)), "made_f4")
    put(out, "npy", npy_bytes("<i8", (), struct.pack("<q", 42)), "made_scalar")
    copy_seeds(out, "npy")

    for p in golden_files(lambda n, p: n == "manifest.json"):
        with open(p, "rb") as f:
            put(out, "manifest", f.read(), rel(p))
    for p in golden_files(lambda n, p: n == "config.json"):
        with open(p, "rb") as f:
            put(out, "config", f.read(), rel(p))
    for fam in range(4):
        put(out, "preproc", bytes([fam]) + b"{}", "empty%d" % fam)
    for p in golden_files(lambda n, p: n == "preprocessor_config.json"):
        cfg = os.path.join(os.path.dirname(p), "config.json")
        fam = FAMILY.get(json.load(open(cfg)).get("model_type"), 0) if os.path.exists(cfg) else 0
        with open(p, "rb") as f:
            put(out, "preproc", bytes([fam]) + f.read(), rel(p))
    copy_seeds(out, "config")
    copy_seeds(out, "preproc")

    for p in golden_files(lambda n, p: n.endswith(".png") and os.path.getsize(p) < 16384):
        with open(p, "rb") as f:
            put(out, "image", f.read(), rel(p))
    for p in golden_files(lambda n, p: n.endswith(".jpg") and "preprocess-exif" in p):
        with open(p, "rb") as f:
            put(out, "image", f.read(), rel(p))
    for name, data in made_images():
        put(out, "image", data, "made_" + name)
    copy_seeds(out, "image")

    copy_seeds(out, "layout")
    copy_seeds(out, "tokens")
    copy_seeds(out, "args")

    copy_seeds(out, "tok_json")
    t = small_tokenizer()
    t["model"]["merges"] = [a + " " + b for a, b in t["model"]["merges"]]
    put(out, "tok_json", json.dumps(t, ensure_ascii=False).encode("utf-8"), "small_string_merges")
    with open(os.path.join(GOLDEN, "tokenizer", "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    for c in cases:
        text = c["text"].encode("utf-8")
        put(out, "tok_encode", b"\x00" + text, c["name"])
        put(out, "tok_encode", b"\x02<|im_start|>\x00<think>\x00" + text, c["name"] + "_added")
    for t in sorted(os.listdir(out)):
        print("%-10s %4d seeds in %s" % (t, len(os.listdir(os.path.join(out, t))), os.path.join(out, t)))


if __name__ == "__main__":
    main()
