"""Independent reader of a Megatron indexed dataset (.bin/.idx), written from the format description.

Usage: megatron_reader.py PREFIX  -> prints JSON {"dtype": ..., "sequences": [[ids...], ...]}
Exits non-zero with a message when the files are inconsistent.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}


def read(prefix):
    with open(prefix + ".idx", "rb") as f:
        idx = f.read()
    if idx[:9] != b"MMIDIDX\x00\x00":
        sys.exit("bad magic %r" % idx[:9])
    version, = struct.unpack_from("<Q", idx, 9)
    code, = struct.unpack_from("<B", idx, 17)
    count, doc_count = struct.unpack_from("<QQ", idx, 18)
    if version != 1 or code not in DTYPES:
        sys.exit("bad version %d or dtype code %d" % (version, code))
    offset = 34
    lengths = np.frombuffer(idx, dtype=np.int32, count=count, offset=offset)
    offset += 4 * count
    pointers = np.frombuffer(idx, dtype=np.int64, count=count, offset=offset)
    offset += 8 * count
    documents = np.frombuffer(idx, dtype=np.int64, count=doc_count, offset=offset)
    offset += 8 * doc_count
    if offset != len(idx):
        sys.exit("idx has %d bytes, expected %d" % (len(idx), offset))
    dtype = np.dtype(DTYPES[code])
    tokens = np.fromfile(prefix + ".bin", dtype=dtype)
    expected_pointers = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]) * dtype.itemsize
    if count and not np.array_equal(pointers, expected_pointers):
        sys.exit("pointers do not follow the lengths")
    if int(lengths.sum()) != len(tokens):
        sys.exit("bin holds %d tokens, lengths sum to %d" % (len(tokens), int(lengths.sum())))
    if documents[0] != 0 or documents[-1] != count:
        sys.exit("document index must run from 0 to %d" % count)
    sequences = [tokens[p // dtype.itemsize:p // dtype.itemsize + n].tolist() for p, n in zip(pointers, lengths)]
    return {"dtype": dtype.name, "documents": documents.tolist(), "sequences": sequences}


if __name__ == "__main__":
    json.dump(read(sys.argv[1]), sys.stdout)
