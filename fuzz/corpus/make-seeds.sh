#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes the seed corpora of fuzz_session_id, fuzz_http_response, fuzz_proto
# and fuzz_tar_writer in fuzz/corpus/<target>/ (fuzz_extract's seeds come
# from make-extract-seeds.sh). Each seed follows the input format that the
# target's header comment describes; reruns give the same bytes.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"

python3 - "$here" <<'PY'
import json, os, struct, sys

here = sys.argv[1]

def put(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# ---- fuzz_session_id: a string, and optionally a second after a NUL ----
ids = {
    "id-simple": "abc",
    "id-all-chars": "aZ09-_.x",
    "id-dot": ".hidden",
    "id-slash": "a/b",
    "id-128": "a" * 128,
    "id-129": "a" * 129,
    "id-space": "a b",
    "id-utf8": "h\u00e9llo",
    "path-ws": "/workspace",
    "path-ws-slash": "/workspace/",
    "path-ws-sub": "/workspace/a/b.txt",
    "path-rel": "a//b/./c/",
    "path-dotdot": "/workspace/../etc/passwd",
    "path-dotdot-end": "a/b/..",
    "path-dots": "a/.../b/..c",
    "path-prefix": "/workspacex/a",
    "path-outside": "/etc/passwd",
    "path-two": "/workspace/x\x00a/../b",
    "path-long": "/workspace/" + "/".join(["d" * 100] * 41),
}
for name, s in ids.items():
    put("session_id", name, s)

# ---- fuzz_http_response: server answers ----
answers = {
    "exec-ok.json": {"exitCode": 0, "stdout": "hi\n", "stderr": "", "durationMs": 12},
    "exec-full.json": {"exitCode": 137, "stdout": "a\u0000b", "stderr": "\u00e9\U0001F600",
                       "durationMs": 5000, "stdoutTruncated": True, "stderrTruncated": False,
                       "timedOut": True, "signal": 9},
    "exec-min.json": {"exitCode": -1},
    "sandbox-create.json": {"podName": "nox-abc", "expiresAt": "2026-01-02T12:34:56Z"},
    "sandbox-full.json": {
        "podName": "nox-abc", "expiresAt": "2026-01-02T12:34:56Z", "sessionId": "abc",
        "createdAt": "2026-01-02T12:19:56Z", "ttlSeconds": 900, "image": "python:3.12",
        "isolation": "namespaces", "running": True, "diskUsedBytes": 4096,
        "limits": [
            {"name": "memory", "requested": "512Mi", "value": 536870912, "enforced": True,
             "mechanism": "cgroup-v2"},
            {"name": "cpu", "requested": "500m", "value": 500, "enforced": False,
             "reason": "no cgroup delegation"}]},
    "sandbox-offset-time.json": {"podName": "p", "expiresAt": "2026-01-02T12:34:56.5+02:00"},
    "list.json": {"sandboxes": [
        {"podName": "p2", "sessionId": "zeta", "expiresAt": "2026-01-02T12:34:56Z"},
        {"podName": "p1", "sessionId": "alpha", "running": False},
        {"podName": "p3"}]},
    "list-empty.json": {"sandboxes": []},
    "error.json": {"error": "sandbox not found"},
    "error-nested.json": {"error": {"message": "quota exceeded", "code": 429}},
    "error-detail.json": {"detail": [{"loc": ["body", "cmd"], "msg": "field required"}]},
    "error-message.json": {"message": "bad gateway"},
}
for name, obj in answers.items():
    put("http_response", name, json.dumps(obj, ensure_ascii=False))
put("http_response", "error-html.txt", "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
put("http_response", "bom.json", b"\xef\xbb\xbf" + json.dumps(answers["exec-ok.json"]).encode())
put("http_response", "latin1.txt", b"Fehler: ung\xfcltig\r\n")
put("http_response", "empty", b"")

# ---- fuzz_proto ----
def tlv(tag, val):
    return struct.pack("=HI", tag, len(val)) + val
u32 = lambda v: struct.pack("=I", v)
u64 = lambda v: struct.pack("=Q", v)
config = (tlv(1, u32(3)) + tlv(2, u32(1000)) + tlv(3, u32(1000)) + tlv(4, u32(0)) +
          tlv(5, b"sandbox") + tlv(6, u64(64 << 20)) + tlv(7, u64(64 << 20)) +
          tlv(8, u32(7) + u64(1024) + u64(1024)) + tlv(9, b"/sys/fs/cgroup/nox/abc") +
          tlv(10, b"/var/lib/noxrunner/abc/workspace") + tlv(11, u64(1 << 30)) +
          tlv(12, b"abc") + tlv(13, u64(1 << 20)))
exec_req = (tlv(1, b"sh") + tlv(1, b"-c") + tlv(1, b"echo hi") + tlv(2, b"PATH=/usr/bin") +
            tlv(3, b"/workspace") + tlv(4, u64(30000)) + tlv(5, u32(1)))
put("proto", "tlv-config", b"\x00" + config)
put("proto", "tlv-exec", b"\x00" + exec_req)
put("proto", "tlv-nul-string", b"\x00" + tlv(1, b"a\x00b"))
put("proto", "tlv-short-header", b"\x00" + tlv(5, b"x")[:5])
put("proto", "tlv-long-length", b"\x00" + struct.pack("=HI", 5, 0xffffffff) + b"abc")
put("proto", "tlv-empty", b"\x00")

MAGIC = 0x4e4f5803
def packet(data, nfds=0):
    return struct.pack("<HB", len(data), nfds) + data
def msg(op, payload, nfds=0, declared=None):
    return struct.pack("=IHHII", MAGIC, op, nfds, len(payload) if declared is None else declared, 0)
# mode: bit 0 socket, bits 1-2 size limit (3: 1 MiB), bit 3 fix magic, bit 4 four fds
mode = bytes([1 | 3 << 1 | 1 << 4])
put("proto", "sock-exec", mode + packet(msg(10, exec_req, 4) + exec_req, 4))
put("proto", "sock-ping", mode + packet(msg(13, b"")))
status = struct.pack("=iiiiq32s", 1, 0, 0, 0, 123456789, b"")
put("proto", "sock-result", mode + packet(msg(12, status) + status))
big = bytes(range(256)) * 160  # 40960 bytes: two packets
put("proto", "sock-two-packets", mode + packet(msg(1, big) + big[:32768 - 16 - 4096]) +
    packet(big[32768 - 16 - 4096:]))
put("proto", "sock-short", mode + packet(msg(1, b"x" * 100) + b"x" * 10))
put("proto", "sock-too-big", bytes([1 | 1 << 1]) + packet(msg(1, b"y" * 100) + b"y" * 100))
put("proto", "sock-bad-magic", mode + packet(b"\x00" * 16))
put("proto", "sock-extra-fds", bytes([1 | 3 << 1]) + packet(msg(10, b"", 7), 7) + packet(b"", 3))

# ---- fuzz_tar_writer: see the program format in fuzz_tar_writer.c ----
def name(s):
    s = s.encode() if isinstance(s, str) else s
    assert 1 <= len(s) <= 12 or 100 <= len(s) < 250
    return bytes([len(s) - 1]) if len(s) <= 12 else bytes([240, len(s) - 100])
def nm(s):
    s = s.encode() if isinstance(s, str) else s
    return name(s) + s
def f_file(d, n, size=5, seed=4, step=3, mode=0o644):
    if size < 64:
        cls = bytes([size])
    elif size <= 0xffff:
        cls = bytes([200]) + struct.pack("<H", size)
    else:
        cls = bytes([252])  # just past the writer's 256 KiB chunk
    return bytes([0, d]) + nm(n) + cls + bytes([seed, step]) + struct.pack("<H", mode)
def f_dir(d, n, mode=0o755):
    return bytes([3, d]) + nm(n) + struct.pack("<H", mode)
def f_symlink(d, n, ups, comps, depth=0):
    # the count of leading ".." is only read below the root
    out = bytes([5, d]) + nm(n) + bytes([0]) + (bytes([ups]) if depth else b"") + bytes([len(comps)])
    for c in comps:
        out += b"\x00" if c == "." else b"\x01" + nm(c)
    return out
def f_rawlink(d, n, target):
    return bytes([5, d]) + nm(n) + bytes([224, len(target) - 1]) + target
def f_hardlink(d, n, k):
    return bytes([6, d]) + nm(n) + bytes([k])
def f_fifo(d, n):
    return bytes([7, d]) + nm(n)
def times(k, base=1500000000):
    out = b""
    for i in range(k):
        t = (base + i * 1000) & 0xffffffff
        out += struct.pack("<HHH", t >> 16, t & 0xffff, i * 7)
    return out

def prog(flags, gz, ops, tail):
    """Flags, gzip level, operation count, operations, then the rest."""
    return bytes([flags, gz, len(ops)]) + b"".join(ops) + tail

put("tar_writer", "basic", prog(0, 6, [f_file(0, "a.txt"), f_dir(0, "sub"),
    f_file(1, "b", size=40, mode=0o600), f_symlink(0, "link", 0, ["sub", "b"]),
    f_hardlink(1, "h", 0), f_fifo(0, "fifo"), f_file(0, "empty", size=0)], times(6)))
put("tar_writer", "long-names", prog(0, 9, [f_dir(0, "d" * 150),
    f_file(1, b"f\xe9" * 60, size=3), f_file(1, "\u00fcnic\u00f8de", size=2),
    f_symlink(1, "l" * 120, 1, ["d" * 150], depth=1)], times(4)))
put("tar_writer", "big-and-holes", prog(0, 1, [f_file(0, "big", size=300000),
    f_file(0, "hole", size=30000, seed=1), f_file(0, "odd", size=65535, seed=0)], times(3)))
put("tar_writer", "modes", prog(0, 5, [f_file(0, "suid", mode=0o4755),
    f_dir(0, "sticky", mode=0o1777), f_dir(0, "sgid", mode=0o2755), f_dir(2, "inner"),
    f_file(2, "ro", mode=0o400), f_file(3, "x", mode=0o2711)], times(6)))
deep = [f_dir(level, "lvl%d" % level) for level in range(5)]
deep += [f_symlink(5, "up", 5, ["lvl0"], depth=5), f_symlink(5, "here", 0, ["."], depth=5),
         f_file(5, "leaf")]
put("tar_writer", "deep", prog(0, 3, deep, times(8)))
put("tar_writer", "raw-links", prog(0, 2, [f_dir(0, "s"), f_rawlink(1, "abs", b"/etc/passwd"),
    f_rawlink(1, "esc", b"../../x"), f_rawlink(1, "mid", b"a/../../b")], times(4)))
put("tar_writer", "hardlinks", prog(0, 4, [f_file(0, "one", size=30), f_dir(0, "d"),
    f_hardlink(1, "two", 0), f_hardlink(0, "three", 0), f_file(1, "other"),
    f_hardlink(0, "four", 1)], times(6)))
put("tar_writer", "single-file", prog(1, 6, [f_file(0, "data", size=50, mode=0o751)],
    times(1) + b"\x02" + nm("dir") + nm("sub") + nm("file.bin")))
# Extracted as root for a sandbox user (bit 1), staged beside (bit 2).
put("tar_writer", "chown", prog(2, 1, [f_file(0, "f"), f_dir(0, "d"), f_symlink(1, "l", 1, ["f"], depth=1),
    f_hardlink(1, "h", 0)], times(4)))
put("tar_writer", "staged-beside", prog(4, 1, [f_dir(0, "d"), f_file(1, "f")], times(2)))
put("tar_writer", "single-file-chown-staged", prog(7, 1, [f_file(0, "x", size=9)],
    times(1) + b"\x01" + nm("a") + nm("b")))
put("tar_writer", "old-and-new-times", prog(0, 1, [f_file(0, "old"), f_dir(0, "new")],
    struct.pack("<HHH", 0x8000, 0, 0) + struct.pack("<HHH", 0x7fff, 0xffff, 999)))
PY
