#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes the seed corpus of fuzz/fuzz_extract.c in fuzz/corpus/extract/.
#
# Each seed is one mode byte and a payload (see fuzz_extract.c): 0x00 and a
# tar.gz, or 0x01 and a plain tar that the target gzips itself. The seeds
# cover what the extractor must handle or refuse: files, directories, links,
# long names in each tar dialect, sparse files, devices, escapes. Python's
# tarfile writes them, so the output does not depend on the local tar; the
# gzip header carries no time or name, so reruns give the same bytes.
set -eu
out="$(cd "$(dirname "$0")" && pwd)/extract"
mkdir -p "$out"

python3 - "$out" <<'PY'
import gzip, io, os, sys, tarfile

out = sys.argv[1]

def member(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname = kind, mode, 1500000000, link
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti, data if kind == tarfile.REGTYPE else None

def tar(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in members:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

def seed(name, payload, gz):
    if gz:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    with open(os.path.join(out, name), "wb") as f:
        f.write((b"\x00" if gz else b"\x01") + payload)

basic = [
    member("./", tarfile.DIRTYPE, mode=0o755),
    member("dir/", tarfile.DIRTYPE, mode=0o750),
    member("dir/file.txt", data=b"hello\n"),
    member("dir/exec.sh", data=b"#!/bin/sh\n", mode=0o4755),
    member("dir/empty"),
    member("link", tarfile.SYMTYPE, link="dir/file.txt"),
    member("up", tarfile.SYMTYPE, link="../dir"),
    member("hard", tarfile.LNKTYPE, link="dir/file.txt"),
    member("ro/", tarfile.DIRTYPE, mode=0o555),
    member("ro/inside", data=b"x"),
    member("dir/file.txt", data=b"replaced\n"),
]
for fmt, tag in ((tarfile.PAX_FORMAT, "pax"), (tarfile.GNU_FORMAT, "gnu"),
                 (tarfile.USTAR_FORMAT, "ustar")):
    seed("basic-%s.tgz" % tag, tar(basic, fmt), True)
    seed("basic-%s.tar" % tag, tar(basic, fmt), False)

long_name = "long/" + "n" * 120 + "/" + "m" * 120 + "/file"
longs = [member(long_name, data=b"long"),
         member("long/link", tarfile.SYMTYPE, link="n" * 120),
         member("h\u00e9llo-\u00fcnicode.txt", data=b"u")]
seed("long-pax.tar", tar(longs, tarfile.PAX_FORMAT), False)
seed("long-gnu.tar", tar(longs, tarfile.GNU_FORMAT), False)

hostile = [
    member("../escape", data=b"x"),
    member("/abs/path", data=b"x"),
    member("esc", tarfile.SYMTYPE, link="../../etc"),
    member("esc/through", data=b"x"),
    member("abs", tarfile.SYMTYPE, link="/etc"),
    member("h", tarfile.LNKTYPE, link="../outside"),
    member("dev", tarfile.CHRTYPE),
    member("blk", tarfile.BLKTYPE),
    member("fifo", tarfile.FIFOTYPE),
]
for i, m in enumerate(hostile):
    seed("hostile-%d.tar" % i, tar([member("ok", data=b"ok"), m]), False)

seed("conflict.tar", tar([member("x", data=b"f"), member("x/", tarfile.DIRTYPE),
                          member("x/y", data=b"y")]), False)
seed("empty.tgz", tar([]), True)
# Over the fuzzer's 1 MiB limit, in a few hundred bytes.
seed("bomb.tgz", tar([member("zeros", data=bytes(2 << 20))]), True)
PY

# A sparse member in GNU tar's own dialect, when GNU tar is here.
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    truncate -s 1M "$tmp/sparse"
    printf data | dd of="$tmp/sparse" bs=1 seek=524288 conv=notrunc 2>/dev/null
    for f in posix gnu; do
        # No pid or times in pax header names. (GNU tar still puts its pid
        # into the name of a posix sparse member, so that seed differs.)
        pax=
        [ $f = posix ] && pax=--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
        tar --sparse --format=$f --mtime=@1500000000 --owner=0 --group=0 --numeric-owner $pax \
            -C "$tmp" -cf "$tmp/s.tar" sparse
        { printf '\001'; cat "$tmp/s.tar"; } >"$out/sparse-$f.tar"
    done
fi
