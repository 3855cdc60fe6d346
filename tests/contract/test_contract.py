#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The v1 wire contract of noxrunnerd, checked over raw HTTP.

Starts the real server (port 0, --port-file, a temporary state directory)
and checks every endpoint's status codes, Content-Type headers, JSON shapes
and exact bodies as docs/api-v1.md specifies them -- NOT through our
client, so the server and the client cannot share a misunderstanding.

Usage: python3 tests/contract/test_contract.py --server build/server/noxrunnerd
"""

import gzip
import http.client
import io
import json
import os
import re
import socket
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noxtest import (ISO_UTC, KnownBug, Skip, expect_error, gzip_magic, make_tgz,  # noqa: E402
                     run, status_of)

MAX_UPLOAD = 1 << 20   # the server below runs with --max-upload-bytes 1Mi
MAX_JSON = 1 << 20     # the default of --max-json-bytes
MAX_EXEC_TIMEOUT = 3600
MAX_TTL = 7 * 24 * 3600

ARCHIVE_PLACEHOLDER = "the archive module is a placeholder"

SANDBOX_ROUTES = [
    ("PUT", "/v1/sandboxes/%s"),
    ("GET", "/v1/sandboxes/%s"),
    ("DELETE", "/v1/sandboxes/%s"),
    ("POST", "/v1/sandboxes/%s/touch"),
    ("POST", "/v1/sandboxes/%s/exec"),
    ("POST", "/v1/sandboxes/%s/files/upload"),
    ("GET", "/v1/sandboxes/%s/files/download"),
]


def body_for(method, path):
    if path.endswith("/exec"):
        return {"cmd": ["true"]}
    if method == "PUT":
        return {"ttlSeconds": 60}
    if path.endswith("/upload"):
        return make_tgz({"x.txt": b"x"})
    return None


def upload(srv, sid, data, dest=None, headers=None):
    path = "/v1/sandboxes/%s/files/upload" % sid
    if dest is not None:
        path += "?dest=" + quote(dest)
    h = {"Content-Type": "application/x-tar"}
    h.update(headers or {})
    return srv.request("POST", path, body=data, headers=h)


def download(srv, sid, src=None):
    path = "/v1/sandboxes/%s/files/download" % sid
    if src is not None:
        path += "?src=" + quote(src)
    return srv.get(path)


def need_archives(resp):
    """Archive tests need src/archive.c; until it lands the server answers
    upload and download with 501, and the test says so."""
    if resp.status == 501 and b"placeholder" in resp.body:
        raise Skip(ARCHIVE_PLACEHOLDER)


def quote(s):
    from urllib.parse import quote as q
    return q(s, safe="")


def fresh(srv, sid, **kw):
    srv.delete(sid)
    return srv.create(sid, **kw)


# ---------------------------------------------------------------- health


def test_healthz_exact(srv):
    r = srv.get("/healthz")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain", r.headers
    assert r.body == b"OK", r.body


def test_healthz_head(srv):
    r = srv.request("HEAD", "/healthz")
    assert r.status == 200 and r.body == b"", r


# ---------------------------------------------------------------- routing


def test_unknown_routes_404(srv):
    for method, path in [("GET", "/"), ("GET", "/nope"), ("GET", "/v1"), ("GET", "/v2/sandboxes"),
                         ("GET", "/healthz/"), ("POST", "/v1/sandboxes/x/nope"),
                         ("GET", "/v1/sandboxes/x/files"), ("GET", "/v1//sandboxes"),
                         ("PUT", "/v1/sandboxes/x/files/upload/extra"),
                         ("GET", "/V1/SANDBOXES")]:
        expect_error(srv.request(method, path), 404, "no such endpoint")


def test_wrong_methods_405_with_allow(srv):
    cases = [
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/v1/sandboxes", "GET, HEAD"),
        ("POST", "/v1/sandboxes/m405", "GET, HEAD, PUT, DELETE"),
        ("PATCH", "/v1/sandboxes/m405", "GET, HEAD, PUT, DELETE"),
        ("GET", "/v1/sandboxes/m405/touch", "POST"),
        ("PUT", "/v1/sandboxes/m405/exec", "POST"),
        ("GET", "/v1/sandboxes/m405/files/upload", "POST"),
        ("POST", "/v1/sandboxes/m405/files/download", "GET, HEAD"),
        ("OPTIONS", "/v1/sandboxes/m405/exec", "POST"),
    ]
    for method, path, allow in cases:
        r = srv.request(method, path)
        expect_error(r, 405, "not allowed")
        assert r.header("Allow") == allow, "%s %s: Allow %r" % (method, path, r.header("Allow"))


INVALID_IDS = ["..%2Fx", "a%20b", ".hidden", "a" * 200, "%2E%2E", "x%2Fy", "a%3Bb", "%C3%A9t%C3%A9"]


def test_invalid_ids_400_on_every_route(srv):
    for raw_id in INVALID_IDS:
        for method, fmt in SANDBOX_ROUTES:
            r = srv.request(method, fmt % raw_id, body=body_for(method, fmt))
            expect_error(r, 400, "session id")
        # Before anything else, the method included.
        expect_error(srv.request("PATCH", "/v1/sandboxes/" + raw_id), 400, "session id")
        expect_error(srv.request("GET", "/v1/sandboxes/%s/exec" % raw_id), 400, "session id")


def test_encoded_nul_and_bad_escapes_400(srv):
    for path in ["/v1/sandboxes/a%00b", "/v1/sandboxes/a%zzb", "/v1/sandboxes/a%4"]:
        msg = expect_error(srv.get(path), 400)
        assert "NUL" in msg or "percent" in msg, msg


def test_empty_id_400(srv):
    expect_error(srv.request("PUT", "/v1/sandboxes/", body={"ttlSeconds": 60}), 400, "empty")


def test_missing_sandbox_404(srv):
    sid = "no-such-sandbox"
    srv.delete(sid)
    for method, fmt in SANDBOX_ROUTES:
        if method == "PUT":
            continue
        r = srv.request(method, fmt % sid, body=body_for(method, fmt))
        expect_error(r, 404, sid)


# ---------------------------------------------------------------- create


def test_create_shape(srv):
    sid = "c-shape"
    srv.delete(sid)
    before = int(time.time())
    r = srv.request("PUT", "/v1/sandboxes/" + sid, body={"ttlSeconds": 120})
    assert r.status == 200, r
    doc = r.json()
    assert list(doc.keys())[:2] == ["podName", "expiresAt"], list(doc.keys())
    assert isinstance(doc["podName"], str) and doc["podName"], doc
    assert ISO_UTC.match(doc["expiresAt"]), doc["expiresAt"]
    exp = time.mktime(time.strptime(doc["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 118 <= exp <= int(time.time()) + 121, (doc["expiresAt"], before)
    # NoxRunner's extension fields, with their types.
    assert doc["sessionId"] == sid, doc
    assert ISO_UTC.match(doc["createdAt"]), doc
    assert doc["ttlSeconds"] == 120, doc
    assert doc["isolation"] in ("namespaces", "none"), doc
    assert isinstance(doc["limits"], dict) and doc["limits"], doc
    for name, lim in doc["limits"].items():
        assert isinstance(lim["value"], int) and isinstance(lim["enforced"], bool), (name, lim)
    assert srv.delete(sid).status == 204


def test_create_idempotent_keeps_files(srv):
    sid = "c-idem"
    fresh(srv, sid)
    srv.exec(sid, ["sh", "-c", "echo kept > /workspace/f"])
    r = srv.request("PUT", "/v1/sandboxes/" + sid, body={"ttlSeconds": 200})
    assert r.status == 200, r
    assert r.json()["ttlSeconds"] == 200
    assert srv.exec(sid, ["cat", "/workspace/f"])["stdout"] == "kept\n"
    srv.delete(sid)


def test_create_without_body_and_with_limits(srv):
    sid = "c-nobody"
    srv.delete(sid)
    r = srv.request("PUT", "/v1/sandboxes/" + sid)
    assert r.status == 200, r
    assert r.json()["ttlSeconds"] == 900, r.json()
    srv.delete(sid)
    r = srv.request("PUT", "/v1/sandboxes/" + sid,
                    body={"ttlSeconds": 60, "image": "python:3.12", "cpuLimit": "500m",
                          "memoryLimit": "256Mi", "ephemeralStorageLimit": "1Gi",
                          "somethingNew": {"clients": "may add fields"}})
    assert r.status == 200, r
    doc = r.json()
    assert doc["image"] == "python:3.12", doc
    assert doc["limits"]["memory"]["value"] == 256 << 20, doc["limits"]["memory"]
    assert doc["limits"]["cpu"]["value"] == 500, doc["limits"]["cpu"]
    srv.delete(sid)


def test_create_bad_ttl_400(srv):
    # (null is taken as "absent" by the wire decoder, like a missing field.)
    for ttl in [0, -1, -900, "60", 1.5, True, [60], 2 ** 63 - 1, -2 ** 63, MAX_TTL + 1]:
        r = srv.request("PUT", "/v1/sandboxes/c-badttl", body={"ttlSeconds": ttl})
        expect_error(r, 400, "ttlSeconds")
    # Beyond 64 bits the JSON parser itself refuses the number.
    expect_error(srv.request("PUT", "/v1/sandboxes/c-badttl", body={"ttlSeconds": 10 ** 30}), 400)
    assert srv.get("/v1/sandboxes/c-badttl").status == 404


def test_create_bad_fields_400(srv):
    for body, field in [({"memoryLimit": "lots"}, "memoryLimit"), ({"cpuLimit": 2}, "cpuLimit"),
                        ({"image": 5}, "image"), ({"ephemeralStorageLimit": "-1Gi"},
                                                  "ephemeralStorageLimit")]:
        expect_error(srv.request("PUT", "/v1/sandboxes/c-badf", body=body), 400, field)


def test_malformed_json_400(srv):
    for path in ["/v1/sandboxes/c-json", "/v1/sandboxes/c-json/exec"]:
        method = "PUT" if path.count("/") == 3 else "POST"
        for text in [b"{", b"[]", b"null", b"\"cmd\"", b"{\"ttlSeconds\":}", b"{'a':1}",
                     b"{\"a\":1}{\"b\":2}", b"\xef\xbb\xbf{}x"]:
            r = srv.request(method, path, body=text, headers={"Content-Type": "application/json"})
            expect_error(r, 400)


def test_duplicate_keys_400(srv):
    fresh(srv, "c-dup")
    r = srv.request("POST", "/v1/sandboxes/c-dup/exec",
                    body=b'{"cmd":["echo","a"],"cmd":["echo","b"]}')
    expect_error(r, 400, "duplicate")
    srv.delete("c-dup")


# ---------------------------------------------------------------- exec


def test_exec_shape_and_values(srv):
    sid = "e-shape"
    fresh(srv, sid)
    r = srv.request("POST", "/v1/sandboxes/%s/exec" % sid,
                    body={"cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    assert r.status == 200, r
    doc = r.json()
    assert list(doc.keys())[:4] == ["exitCode", "stdout", "stderr", "durationMs"], doc.keys()
    assert doc["exitCode"] == 3 and doc["stdout"] == "out\n" and doc["stderr"] == "err\n", doc
    assert isinstance(doc["durationMs"], int) and doc["durationMs"] >= 0, doc
    assert doc["timedOut"] is False and doc["stdoutTruncated"] is False, doc
    srv.delete(sid)


def test_exec_missing_command_127(srv):
    fresh(srv, "e-127")
    doc = srv.exec("e-127", ["no-such-command-xyz", "arg"])
    assert doc["exitCode"] == 127, doc
    assert "no-such-command-xyz" in doc["stderr"], doc
    srv.delete("e-127")


def test_exec_timeout_124(srv):
    fresh(srv, "e-124")
    doc = srv.exec("e-124", ["sleep", "30"], timeoutSeconds=1)
    assert doc["exitCode"] == 124, doc
    assert "time" in doc["stderr"].lower(), doc
    assert doc["timedOut"] is True, doc
    assert doc["durationMs"] < 20000, doc
    srv.delete("e-124")


def test_exec_args_verbatim_and_env(srv):
    sid = "e-args"
    fresh(srv, sid)
    doc = srv.exec(sid, ["echo", "$X"], env={"X": "expanded"})
    assert doc["stdout"] == "$X\n", doc
    doc = srv.exec(sid, ["sh", "-c", "echo $X"], env={"X": "expanded"})
    assert doc["stdout"] == "expanded\n", doc
    doc = srv.exec(sid, ["printf", "%s|", "a b", "'q'", "\"d\"", "`x`", ";", "*"])
    assert doc["stdout"] == "a b|'q'|\"d\"|`x`|;|*|", doc
    doc = srv.exec(sid, ["printf", "%s", "h\u00e9llo \u2713"])
    assert doc["stdout"] == "h\u00e9llo \u2713", doc
    srv.delete(sid)


def test_exec_workdir(srv):
    sid = "e-wd"
    fresh(srv, sid)
    assert srv.exec(sid, ["pwd"])["stdout"] == "/workspace\n"
    assert srv.exec(sid, ["pwd"], workdir="/tmp")["stdout"] == "/tmp\n"
    srv.delete(sid)


def test_exec_wrong_field_types_400(srv):
    sid = "e-types"
    fresh(srv, sid)
    bad = [
        ({"cmd": "echo hi"}, "cmd"),
        ({"cmd": []}, "cmd"),
        ({"cmd": [""]}, "cmd"),
        ({"cmd": ["echo", 5]}, "cmd"),
        ({"cmd": [["echo"]]}, "cmd"),
        ({"cmd": None}, "cmd"),
        ({}, "cmd"),
        ({"cmd": ["true"], "timeoutSeconds": "5"}, "timeoutSeconds"),
        ({"cmd": ["true"], "env": {"A": 1}}, "env"),
        ({"cmd": ["true"], "env": {"A": None}}, "env"),
        ({"cmd": ["true"], "env": ["A=1"]}, "env"),
        ({"cmd": ["true"], "env": {"": "x"}}, "env"),
        ({"cmd": ["true"], "env": {"A=B": "x"}}, "env"),
        ({"cmd": ["true"], "workdir": 7}, "workdir"),
    ]
    for body, field in bad:
        expect_error(srv.request("POST", "/v1/sandboxes/%s/exec" % sid, body=body), 400, field)
    srv.delete(sid)


def test_exec_bad_timeouts_400(srv):
    sid = "e-timeouts"
    fresh(srv, sid)
    for t in [0, -1, -30, 1.5, MAX_EXEC_TIMEOUT + 1, 10 ** 12, 2 ** 63 - 1, -2 ** 63, True]:
        r = srv.request("POST", "/v1/sandboxes/%s/exec" % sid,
                        body={"cmd": ["true"], "timeoutSeconds": t})
        expect_error(r, 400, "timeoutSeconds")
    for t in [10 ** 25, -10 ** 25, 1e400]:
        r = srv.request("POST", "/v1/sandboxes/%s/exec" % sid,
                        body=b'{"cmd":["true"],"timeoutSeconds":' + repr(t).encode() + b"}")
        expect_error(r, 400)
    # The maximum itself is fine.
    doc = srv.exec(sid, ["true"], timeoutSeconds=MAX_EXEC_TIMEOUT)
    assert doc["exitCode"] == 0
    srv.delete(sid)


def test_exec_large_output_is_capped(srv):
    sid = "e-big"
    fresh(srv, sid)
    doc = srv.exec(sid, ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a"])
    assert doc["exitCode"] == 0, doc["stderr"]
    assert len(doc["stdout"]) == 1 << 20 and doc["stdoutTruncated"] is True, len(doc["stdout"])
    srv.delete(sid)


# ---------------------------------------------------------------- touch, delete, list, info


def test_touch_200_ok(srv):
    fresh(srv, "t-touch")
    r = srv.request("POST", "/v1/sandboxes/t-touch/touch")
    assert r.status == 200, r
    assert r.json() == {"ok": True}
    srv.delete("t-touch")


def test_delete_204_then_404(srv):
    fresh(srv, "d-del")
    r = srv.delete("d-del")
    assert r.status == 204, r
    assert r.body == b"", r.body
    assert r.header("Content-Length") in (None, "0"), r.headers
    expect_error(srv.delete("d-del"), 404, "d-del")
    expect_error(srv.request("POST", "/v1/sandboxes/d-del/exec", body={"cmd": ["true"]}), 404)


def test_list_and_info_extensions(srv):
    fresh(srv, "l-b", ttl=100)
    fresh(srv, "l-a", ttl=200)
    r = srv.get("/v1/sandboxes")
    assert r.status == 200, r
    doc = r.json()
    assert list(doc.keys()) == ["sandboxes"], doc
    ids = [sb["sessionId"] for sb in doc["sandboxes"]]
    assert "l-a" in ids and "l-b" in ids and ids == sorted(ids), ids
    r = srv.get("/v1/sandboxes/l-a")
    assert r.status == 200, r
    info = r.json()
    assert info["podName"] and ISO_UTC.match(info["expiresAt"]), info
    assert info["sessionId"] == "l-a" and info["ttlSeconds"] == 200, info
    assert isinstance(info["running"], bool), info
    assert isinstance(info["diskUsedBytes"], int) and info["diskUsedBytes"] >= 0, info
    srv.delete("l-a")
    srv.delete("l-b")


# ---------------------------------------------------------------- upload and download


def test_upload_download_roundtrip(srv):
    sid = "u-round"
    fresh(srv, sid)
    data = make_tgz({"hello.txt": b"hello\n", "sub/": None, "sub/run.sh": (b"#!/bin/sh\necho ran\n",
                                                                            0o755)})
    r = upload(srv, sid, data)
    need_archives(r)
    assert r.status == 200, r
    assert r.json() == {"ok": True}
    assert srv.exec(sid, ["cat", "/workspace/hello.txt"])["stdout"] == "hello\n"
    assert srv.exec(sid, ["/workspace/sub/run.sh"])["stdout"] == "ran\n"
    r = download(srv, sid)
    need_archives(r)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/x-tar", r.headers
    assert r.header("Transfer-Encoding") == "chunked", r.headers
    assert gzip_magic(r.body), r.body[:10]
    with tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz") as tar:
        names = sorted(m.name.lstrip("./") for m in tar.getmembers())
        assert "hello.txt" in names and "sub/run.sh" in names, names
        assert not any(n.startswith("/") or n.startswith("workspace") for n in names), names
    srv.delete(sid)


def test_upload_dest_and_download_src(srv):
    sid = "u-dest"
    fresh(srv, sid)
    r = upload(srv, sid, make_tgz({"a.txt": b"A"}), dest="/workspace/new dir/x+y")
    need_archives(r)
    assert r.status == 200, r
    assert srv.exec(sid, ["cat", "/workspace/new dir/x+y/a.txt"])["stdout"] == "A"
    r = download(srv, sid, src="/workspace/new dir")
    assert r.status == 200, r
    with tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz") as tar:
        names = [m.name.lstrip("./") for m in tar.getmembers()]
    assert "x+y/a.txt" in names, names
    srv.delete(sid)


def test_upload_bad_archives_400(srv):
    sid = "u-bad"
    fresh(srv, sid)
    good = make_tgz({"f.txt": b"x" * 100000})
    cases = [("not gzip", b"hello, this is not an archive"),
             ("empty body", b""),
             ("truncated", good[: len(good) // 2]),
             ("gzip but not tar", gzip.compress(b"just some text")),
             ("unsafe entry", make_tgz({"../evil.txt": b"evil"}))]
    for what, data in cases:
        r = upload(srv, sid, data)
        need_archives(r)
        expect_error(r, 400)
    # Nothing of a refused archive arrives.
    assert srv.exec(sid, ["ls", "-A", "/workspace"])["stdout"] == ""
    srv.delete(sid)


def test_download_missing_src_404(srv):
    sid = "u-404"
    fresh(srv, sid)
    expect_error(download(srv, sid, src="/workspace/does-not-exist"), 404)
    expect_error(download(srv, sid, src="/etc"), 400)
    expect_error(download(srv, sid, src="/workspace/../etc"), 400)
    srv.delete(sid)


def test_upload_too_large_content_length_413(srv):
    sid = "u-413"
    fresh(srv, sid)
    # Far over the limit: answered from the headers alone, before any body.
    raw = srv.raw(("POST /v1/sandboxes/%s/files/upload HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n"
                   % (sid, 10 ** 15)).encode(), timeout=10)
    assert status_of(raw) == 413, raw[:300]
    assert b"application/json" in raw and b"limit" in raw, raw
    # A client waiting for "100 Continue" is answered at once, too.
    raw = srv.raw(("POST /v1/sandboxes/%s/files/upload HTTP/1.1\r\nHost: x\r\n"
                   "Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                   % (sid, MAX_UPLOAD + 1)).encode(), timeout=10)
    assert status_of(raw) == 413, raw[:300]
    assert b"100 Continue" not in raw, raw[:300]
    # A client that sends a body a little over the limit anyway (as most
    # do) gets to read the 413 once it is done.
    r = upload(srv, sid, os.urandom(MAX_UPLOAD + 1000))
    expect_error(r, 413, "limit")
    assert srv.exec(sid, ["ls", "-A", "/workspace"])["stdout"] == ""
    srv.delete(sid)


def test_upload_too_large_chunked_413(srv):
    sid = "u-413c"
    fresh(srv, sid)
    body = os.urandom(MAX_UPLOAD + 300000)

    def chunks():
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    c = srv.connection()
    c.request("POST", "/v1/sandboxes/%s/files/upload" % sid, body=chunks(),
              headers={"Content-Type": "application/x-tar"}, encode_chunked=True)
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status == 413, (r.status, data)
    assert json.loads(data)["error"], data
    assert srv.exec(sid, ["ls", "-A", "/workspace"])["stdout"] == ""
    srv.delete(sid)


# ---------------------------------------------------------------- body limits


def test_json_too_large_413(srv):
    fresh(srv, "j-413")
    big = b'{"cmd":["echo","' + b"x" * MAX_JSON + b'"]}'
    expect_error(srv.request("POST", "/v1/sandboxes/j-413/exec", body=big), 413, "limit")
    # Chunked: no Content-Length to refuse early; refused once it passes.
    c = srv.connection()
    c.request("POST", "/v1/sandboxes/j-413/exec",
              body=iter([big[i:i + 100000] for i in range(0, len(big), 100000)]),
              encode_chunked=True)
    r = c.getresponse()
    assert r.status == 413, r.status
    assert "limit" in json.loads(r.read())["error"]
    c.close()
    # Just under the limit is fine (the command's output is capped, not the request).
    ok = b'{"cmd":["true","' + b"x" * (MAX_JSON - 100) + b'"]}'
    r = srv.request("POST", "/v1/sandboxes/j-413/exec", body=ok)
    assert r.status == 200, r
    srv.delete("j-413")


# ---------------------------------------------------------------- protocol


def test_keep_alive_several_requests_one_connection(srv):
    c = srv.connection()
    sid = "k-alive"
    srv.delete(sid)
    ports = set()
    steps = [("GET", "/healthz", None, 200), ("PUT", "/v1/sandboxes/" + sid, {"ttlSeconds": 60}, 200),
             ("POST", "/v1/sandboxes/%s/exec" % sid, {"cmd": ["echo", "1"]}, 200),
             ("POST", "/v1/sandboxes/%s/touch" % sid, None, 200),
             ("GET", "/v1/sandboxes/" + sid, None, 200),
             ("POST", "/v1/sandboxes/%s/exec" % sid, {"cmd": []}, 400),
             ("GET", "/v1/sandboxes/nope-404", None, 404),
             ("DELETE", "/v1/sandboxes/" + sid, None, 204),
             ("GET", "/healthz", None, 200)]
    for method, path, body, status in steps:
        r = srv.request(method, path, body=body, conn=c)
        assert r.status == status, (method, path, r)
        assert c.sock is not None, "server closed the connection after %s %s" % (method, path)
        ports.add(c.sock.getsockname()[1])
    c.close()
    assert len(ports) == 1, "requests used %d connections" % len(ports)


def test_chunked_request_body(srv):
    sid = "k-chunked"
    fresh(srv, sid)
    c = srv.connection()
    body = json.dumps({"cmd": ["echo", "chunked"]}).encode()
    c.request("POST", "/v1/sandboxes/%s/exec" % sid,
              body=iter([body[:5], body[5:9], body[9:]]), encode_chunked=True,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200, r.status
    assert json.loads(r.read())["stdout"] == "chunked\n"
    c.close()
    srv.delete(sid)


def test_expect_100_continue(srv):
    sid = "k-100"
    fresh(srv, sid)
    body = json.dumps({"cmd": ["echo", "hi"]}).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(("POST /v1/sandboxes/%s/exec HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (sid, len(body))).encode())
    first = s.recv(1024)
    assert first.startswith(b"HTTP/1.1 100"), first
    s.sendall(body)
    rest = b""
    while b"\r\n\r\n" not in rest or not rest.rstrip().endswith(b"}"):
        got = s.recv(65536)
        if not got:
            break
        rest += got
    s.close()
    assert status_of(rest) == 200, rest
    assert b'"stdout":"hi\\n"' in rest, rest
    srv.delete(sid)


def test_reference_client_success_codes(srv):
    """The reference client accepts exactly these: touch 200, upload 200,
    delete 204 (or 200), create 200, exec 200."""
    sid = "ref-codes"
    srv.delete(sid)
    assert srv.request("PUT", "/v1/sandboxes/" + sid, body={"ttlSeconds": 900}).status == 200
    assert srv.request("POST", "/v1/sandboxes/%s/exec" % sid, body={"cmd": ["true"]}).status == 200
    assert srv.request("POST", "/v1/sandboxes/%s/touch" % sid).status == 200
    r = upload(srv, sid, make_tgz({"a": b"a"}))
    skipped = r.status == 501 and b"placeholder" in r.body
    if not skipped:
        assert r.status == 200, r
    assert srv.delete(sid).status == 204
    if skipped:
        raise Skip(ARCHIVE_PLACEHOLDER + " (touch 200, create 200, exec 200, delete 204 "
                   "checked; upload 200 not)")


def test_errors_are_json_everywhere(srv):
    """Every error the server itself produces is {"error": ...} JSON."""
    for method, path in [("GET", "/x"), ("POST", "/healthz"), ("GET", "/v1/sandboxes/.x"),
                         ("POST", "/v1/sandboxes/zz-none/touch")]:
        r = srv.request(method, path)
        assert r.status >= 400
        r.json()


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]

if __name__ == "__main__":
    run(TESTS, "noxrunnerd v1 contract (raw HTTP)",
        server_args=["--max-upload-bytes", "1Mi", "--log-level", "info"])
