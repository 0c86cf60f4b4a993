"""Read and write fx checkpoints (docs/checkpoint-format.md) as dicts of numpy arrays.

read(path) -> (meta, tensors): meta has epoch, step, seed, opt_steps, n_states, optimizer, graph;
tensors is an ordered dict name -> np.ndarray (float32 or int32).
write(path, meta, tensors) writes the same layout (used to hand PyTorch weights to fx).
"""
import collections
import struct
import zlib

import numpy as np

MAGIC = b"FXCKPT\0\1"


def read(path):
    b = open(path, "rb").read()
    if b[:8] != MAGIC:
        raise ValueError("%s is not an fx checkpoint" % path)
    version, header_size, size = struct.unpack_from("<IIQ", b, 8)
    if size != len(b) or zlib.crc32(b[:-4]) != struct.unpack_from("<I", b, len(b) - 4)[0]:
        raise ValueError("%s: size or CRC mismatch" % path)
    epoch, step, seed, opt_steps, n_states = struct.unpack_from("<qqQqI", b, 24)
    pos = 60
    (n,) = struct.unpack_from("<H", b, pos)
    optimizer = b[pos + 2:pos + 2 + n].decode()
    pos += 2 + n
    (n,) = struct.unpack_from("<H", b, pos)
    graph = b[pos + 2:pos + 2 + n].decode()
    pos = header_size
    (count,) = struct.unpack_from("<I", b, pos)
    pos += 4
    tensors = collections.OrderedDict()
    for _ in range(count):
        (n,) = struct.unpack_from("<H", b, pos)
        name = b[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
        dtype, ndim = b[pos], b[pos + 1]
        pos += 2
        dims = struct.unpack_from("<%dq" % ndim, b, pos)
        pos += 8 * ndim
        (nbytes,) = struct.unpack_from("<Q", b, pos)
        pos += 8
        dt = "<f4" if dtype == 0 else "<i4"
        tensors[name] = np.frombuffer(b, dt, nbytes // 4, pos).reshape(dims).copy()
        pos += nbytes
    meta = dict(epoch=epoch, step=step, seed=seed, opt_steps=opt_steps, n_states=n_states,
                optimizer=optimizer, graph=graph)
    return meta, tensors


def write(path, meta, tensors):
    opt = meta.get("optimizer", "").encode()
    graph = meta.get("graph", "").encode()
    head = struct.pack("<qqQqI", meta.get("epoch", 0), meta.get("step", 0), meta.get("seed", 0),
                       meta.get("opt_steps", -1), meta.get("n_states", 0))
    names = struct.pack("<H", len(opt)) + opt + struct.pack("<H", len(graph)) + graph
    header_size = 24 + len(head) + len(names)
    body = [struct.pack("<I", len(tensors))]
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dtype = 0 if a.dtype.kind == "f" else 1
        a = a.astype("<f4" if dtype == 0 else "<i4")
        nb = name.encode()
        body.append(struct.pack("<H", len(nb)) + nb + bytes([dtype, a.ndim]) +
                    struct.pack("<%dq" % a.ndim, *a.shape) + struct.pack("<Q", a.nbytes) + a.tobytes())
    payload = b"".join(body)
    size = header_size + len(payload) + 12
    data = MAGIC + struct.pack("<IIQ", 1, header_size, size) + head + names + payload
    data += struct.pack("<Q", size - 12)
    data += struct.pack("<I", zlib.crc32(data))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    import os
    os.replace(tmp, path)
