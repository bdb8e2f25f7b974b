#!/usr/bin/python3
"""Generates the seed corpora of hostile (bad_*) and valid (ok_*) tensor
files under tests/fuzz/corpus/{safetensors,torchzip,npy}/ (or the directory
given as argv[1]). tests/http/test_files_safety.py uploads every file and
expects ok_* accepted and bad_* refused with a 4xx, the daemon alive.

Run: /usr/bin/python3 tests/fuzz/gen_corpus.py [outdir]"""
import io
import json
import os
import struct
import sys
import zipfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))


def st_file(header, data=b"", pad=True, raw_len=None):
    h = header if isinstance(header, bytes) else json.dumps(
        header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    n = len(h) if raw_len is None else raw_len
    return struct.pack("<Q", n) + h + data


def ent(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


def safetensors_cases():
    f32x4 = struct.pack("<4f", 1, 2, 3, 4)
    c = {}
    c["ok_basic"] = st_file({"__metadata__": {"format": "pt"},
                             "a": ent("F32", [2, 2], 0, 16)}, f32x4)
    c["ok_empty_and_scalar"] = st_file({"e": ent("F32", [0, 3], 0, 0),
                                        "s": ent("F64", [], 0, 8)},
                                       struct.pack("<d", 3.5))
    c["bad_truncated_len"] = b"\x10\x00\x00"
    c["bad_header_past_end"] = st_file({"a": ent("F32", [1], 0, 4)},
                                       b"\0" * 4, raw_len=1 << 20)
    c["bad_header_huge"] = struct.pack("<Q", 1 << 63) + b"{}"
    c["bad_header_over_100mb"] = struct.pack("<Q", 100_000_001) + b"{}"
    c["bad_not_json"] = st_file(b"{not json", b"")
    c["bad_not_utf8"] = st_file(b'{"\xff\xfe":{"dtype":"F32","shape":[1],'
                                b'"data_offsets":[0,4]}}', b"\0" * 4)
    c["bad_overlap"] = st_file({"a": ent("F32", [2], 0, 8),
                                "b": ent("F32", [2], 0, 8)}, b"\0" * 8)
    c["bad_aliasing_many"] = st_file(
        {"t%d" % i: ent("F32", [4], 0, 16) for i in range(64)}, f32x4)
    c["bad_gap"] = st_file({"a": ent("F32", [1], 0, 4),
                            "b": ent("F32", [1], 8, 12)}, b"\0" * 12)
    c["bad_trailing_bytes"] = st_file({"a": ent("F32", [1], 0, 4)},
                                      b"\0" * 8)
    c["bad_short_data"] = st_file({"a": ent("F32", [4], 0, 16)}, b"\0" * 8)
    c["bad_wrong_size"] = st_file({"a": ent("F32", [3], 0, 16)}, f32x4)
    c["bad_huge_shape"] = st_file({"a": ent("F32", [1 << 40, 1 << 40],
                                            0, 16)}, f32x4)
    c["bad_shape_overflow"] = st_file({"a": ent("F32", [1 << 62, 4], 0, 16)},
                                      f32x4)
    c["bad_offset_past_end"] = st_file({"a": ent("F32", [4], 1 << 50,
                                                 (1 << 50) + 16)}, f32x4)
    c["bad_end_before_begin"] = st_file({"a": ent("F32", [0], 8, 4)},
                                        b"\0" * 8)
    c["bad_negative_dim"] = st_file({"a": ent("F32", [-1, -4], 0, 16)},
                                    f32x4)
    c["bad_duplicate_keys"] = st_file(
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        b'"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', f32x4)
    c["bad_extra_field"] = st_file({"a": dict(ent("F32", [4], 0, 16),
                                              evil=1)}, f32x4)
    c["bad_unknown_dtype"] = st_file({"a": ent("F33", [4], 0, 16)}, f32x4)
    c["bad_rank_9"] = st_file({"a": ent("F32", [1] * 9, 0, 4)}, b"\0" * 4)
    c["bad_metadata_not_string"] = st_file(
        {"__metadata__": {"format": 1}, "a": ent("F32", [4], 0, 16)}, f32x4)
    c["bad_header_array"] = st_file(b"[1,2,3]")
    c["bad_deep_nesting"] = st_file(b"[" * 5000 + b"]" * 5000)
    return c


# ---- torch zip ------------------------------------------------------------

def pkl_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def pkl_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def pkl_tensor(key, numel, offset, size, stride, storage="FloatStorage"):
    tup = lambda xs: (b"(" + b"".join(pkl_int(x) for x in xs) + b"t") \
        if xs else b")"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n((" + pkl_str("storage") +
            b"ctorch\n" + storage.encode() + b"\n" + pkl_str(key) +
            pkl_str("cpu") + pkl_int(numel) + b"tQ" + pkl_int(offset) +
            tup(size) + tup(stride) +
            b"\x89ccollections\nOrderedDict\n)RtR")


def pkl_dict(items):
    return (b"\x80\x02ccollections\nOrderedDict\n)R(" +
            b"".join(pkl_str(k) + v for k, v in items) + b"u.")


def tzip(entries, compress=zipfile.ZIP_STORED):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", compression=compress) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return f.getvalue()


def arch(pkl, storages, extra=(), prefix="archive", version=b"3\n"):
    e = [(prefix + "/data.pkl", pkl), (prefix + "/byteorder", b"little")]
    e += [(prefix + "/data/" + k, v) for k, v in storages]
    if version is not None:
        e.append((prefix + "/version", version))
    e += list(extra)
    return tzip(e)


def torchzip_cases():
    c = {}
    four = struct.pack("<4f", 1, 2, 3, 4)
    good_pkl = pkl_dict([("w", pkl_tensor("0", 4, 0, [2, 2], [2, 1]))])
    c["ok_minimal"] = arch(good_pkl, [("0", four)])
    c["ok_offset_view"] = arch(
        pkl_dict([("w", pkl_tensor("0", 4, 1, [3], [1])),
                  ("t", pkl_tensor("0", 4, 0, [2, 2], [1, 2]))]),
        [("0", four)])
    try:
        import torch
        buf = io.BytesIO()
        torch.save({"x": torch.arange(6.).reshape(2, 3)}, buf)
        c["ok_torch_save"] = buf.getvalue()
    except ImportError:
        pass
    for mod, name in (("os", "system"), ("posix", "system"),
                      ("builtins", "eval"), ("builtins", "exec"),
                      ("subprocess", "Popen"), ("torch", "load"),
                      ("__builtin__", "eval"), ("nt", "system")):
        ace = (b"\x80\x02c" + mod.encode() + b"\n" + name.encode() + b"\n" +
               pkl_str("touch /tmp/blockd-pwned") + b"\x85R.")
        c["bad_global_%s_%s" % (mod.strip("_"), name)] = arch(ace, [])
    c["bad_global_nested_in_dict"] = arch(
        b"\x80\x02ccollections\nOrderedDict\n)R(" + pkl_str("k") +
        b"cos\nsystem\n" + pkl_str("id") + b"\x85Ru.", [])
    c["bad_protocol4_stack_global"] = arch(
        b"\x80\x04\x8c\x02os\x8c\x06system\x93" + pkl_str("id") + b"\x85R.",
        [])
    c["bad_long1_huge"] = arch(b"\x80\x02\x8a\xc8" + b"\x01" * 200 + b".",
                               [])
    c["bad_memo_get_unset"] = arch(b"\x80\x02h\x05.", [])
    c["bad_deep_marks"] = arch(b"\x80\x02" + b"(" * 20000 + b".", [])
    c["bad_string_past_end"] = arch(b"\x80\x02X\xff\xff\xff\x7fabc", [])
    c["bad_no_stop"] = arch(b"\x80\x02]", [])
    c["bad_storage_size_mismatch"] = arch(good_pkl, [("0", four[:8])])
    c["bad_storage_missing"] = arch(good_pkl, [])
    c["bad_view_out_of_bounds"] = arch(
        pkl_dict([("w", pkl_tensor("0", 4, 2, [2, 2], [2, 1]))]),
        [("0", four)])
    c["bad_view_stride_overflow"] = arch(
        pkl_dict([("w", pkl_tensor("0", 4, 0, [2, 2], [0x7fffffff, 1]))]),
        [("0", four)])
    c["bad_view_huge_shape"] = arch(
        pkl_dict([("w", pkl_tensor("0", 4, 0, [65535, 65535, 65535],
                                   [0, 0, 0]))]), [("0", four)])
    c["bad_storage_numel_huge"] = arch(
        pkl_dict([("w", pkl_tensor("0", 0x7fffffff, 0, [4], [1]))]),
        [("0", four)])
    c["bad_int_storage"] = arch(
        pkl_dict([("w", pkl_tensor("0", 4, 0, [4], [1], "IntStorage"))]),
        [("0", four)])
    c["bad_missing_version"] = arch(good_pkl, [("0", four)], version=None)
    c["bad_version_99"] = arch(good_pkl, [("0", four)], version=b"99\n")
    c["bad_torchscript"] = arch(good_pkl, [("0", four)],
                                extra=[("archive/constants.pkl", b"\x80\x02).")])
    c["bad_two_prefixes"] = arch(good_pkl, [("0", four)],
                                 extra=[("other/x", b"1")])
    c["bad_no_prefix"] = tzip([("data.pkl", good_pkl), ("version", b"3\n")])
    c["bad_duplicate_names"] = tzip([("archive/data.pkl", good_pkl),
                                     ("archive/data.pkl", good_pkl),
                                     ("archive/version", b"3\n"),
                                     ("archive/data/0", four)])
    # Zip bomb: 64 MiB of zeros deflated to ~64 KiB.
    c["bad_zip_bomb_deflated"] = tzip(
        [("archive/data.pkl", pkl_dict([("w", pkl_tensor(
            "0", 1 << 24, 0, [1 << 24], [1]))])),
         ("archive/version", b"3\n"),
         ("archive/data/0", b"\0" * (64 << 20))],
        compress=zipfile.ZIP_DEFLATED)
    ok = c["ok_minimal"]
    c["bad_truncated_half"] = ok[:len(ok) // 2]
    c["bad_truncated_tail"] = ok[:-10]
    # Central directory claims a 1 TiB entry (sizes patched in place).
    b = bytearray(ok)
    cd = b.rfind(b"PK\x01\x02")
    b[cd + 20:cd + 28] = struct.pack("<II", 0xFFFFFFF0, 0xFFFFFFF0)
    c["bad_huge_size"] = bytes(b)
    # Local header offset pointing past the end.
    b = bytearray(ok)
    b[cd + 42:cd + 46] = struct.pack("<I", 0x7FFFFFFF)
    c["bad_local_offset_past_end"] = bytes(b)
    # EOCD claims more entries than fit.
    b = bytearray(ok)
    eo = b.rfind(b"PK\x05\x06")
    b[eo + 8:eo + 12] = struct.pack("<HH", 60000, 60000)
    c["bad_entry_count"] = bytes(b)
    c["bad_not_zip"] = b"PK\x03\x04" + b"\0" * 40
    return c


# ---- npy ------------------------------------------------------------------

def npy(header, data, version=(1, 0)):
    h = header.encode("latin1")
    if version[0] == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data
    return (b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(h)) + h +
            data)


def npy_cases():
    c = {}
    f = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n"
    c["ok_f32"] = npy(f, struct.pack("<2f", 1, 2))
    c["bad_magic"] = b"\x93NUMPX\x01\x00" + npy(f, b"\0" * 8)[8:]
    c["bad_version"] = b"\x93NUMPY\x09\x00" + npy(f, b"\0" * 8)[8:]
    c["bad_header_too_long"] = npy(" " * 20000 + f, b"\0" * 8, (2, 0))
    c["bad_header_past_end"] = b"\x93NUMPY\x01\x00\xff\x00{'descr'"
    c["bad_object_dtype"] = npy(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n",
        b"\x80\x02cos\nsystem\n.")
    c["bad_big_endian"] = npy(f.replace("<f4", ">f4"), b"\0" * 8)
    c["bad_fortran"] = npy(f.replace("False", "True"), b"\0" * 8)
    c["bad_eval_shape"] = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': "
        "(__import__('os').system('id'),), }\n", b"\0" * 8)
    c["bad_short_data"] = npy(f, b"\0" * 7)
    c["bad_long_data"] = npy(f, b"\0" * 9)
    c["bad_huge_shape"] = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': "
        "(4294967296, 4294967296), }\n", b"\0" * 8)
    c["bad_extra_key"] = npy(f.replace("}", "'x': 1, }"), b"\0" * 8)
    c["bad_structured"] = npy(
        "{'descr': [('a', '<f4')], 'fortran_order': False, "
        "'shape': (2,), }\n", b"\0" * 8)
    return c


def main():
    warnings.simplefilter("ignore")  # the duplicate-name case is deliberate
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    for kind, cases in (("safetensors", safetensors_cases()),
                        ("torchzip", torchzip_cases()),
                        ("npy", npy_cases())):
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        for name, data in cases.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    print("wrote corpora under", out)


if __name__ == "__main__":
    main()
