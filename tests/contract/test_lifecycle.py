#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Concurrency and life cycle of noxrunnerd, over raw HTTP.

Many execs at once (they must overlap, not queue), a long exec that does
not block anything else, graceful shutdown on SIGTERM with an exec in
flight, a restarted server that finds its sandboxes, expiry by the reaper,
and the list and info extensions.

Written in Python, over raw HTTP rather than through libnoxrunner's http
backend, so that the server is checked against the wire contract itself;
the standard library's threads and http.client are all this needs. No assertion is on
how long anything took; overlap is shown by the timestamps each command
records inside its sandbox.

Usage: python3 tests/contract/test_lifecycle.py --server build/server/noxrunnerd
"""

import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noxtest import (ISO_UTC, KnownBug, Server, Skip, expect_error,  # noqa: E402
                     holder_processes, make_tgz, run, slow_factor, wait_until)

# Serialised execs could never overlap, however long each one is; running
# ones overlap when all have started within the sleep, which 5 s leaves
# room for on a loaded machine (at 1 s, a load average of 30 broke it).
STAMPED = ["sh", "-c", "date +%s%N; sleep 5; date +%s%N"]


def run_threads(fns):
    """Runs each function in its own thread; returns their results (or
    raises the first exception)."""
    results = [None] * len(fns)
    errors = []

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def interval(doc):
    assert doc["exitCode"] == 0, doc
    start, end = (int(x) for x in doc["stdout"].split())
    return start, end


def test_concurrent_execs_overlap(srv):
    ids = ["par-%d" % i for i in range(4)]
    run_threads([lambda i=i: srv.create(i) for i in ids])
    # Eight at once: one on each of four sandboxes, four on the same one.
    targets = ids + ["par-0"] * 4
    docs = run_threads([lambda t=t: srv.exec(t, STAMPED) for t in targets])
    spans = [interval(d) for d in docs]
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    assert latest_start < earliest_end, (
        "the execs did not all run at the same time: the last one started %.3f s after the "
        "first one ended" % ((latest_start - earliest_end) / 1e9))
    for i in ids:
        srv.delete(i)


def test_parallel_creates_of_one_id(srv):
    sid = "par-same"
    srv.delete(sid)
    docs = run_threads([lambda: srv.create(sid) for _ in range(8)])
    assert len({d["podName"] for d in docs}) == 1, docs
    listed = [sb["sessionId"] for sb in srv.get("/v1/sandboxes").json()["sandboxes"]]
    assert listed.count(sid) == 1, listed
    srv.delete(sid)


def test_long_exec_does_not_block_others(srv):
    srv.create("long")
    srv.create("short")
    started = threading.Event()
    result = {}

    def long_exec():
        started.set()
        result["doc"] = srv.exec("long", ["sh", "-c", "sleep 4; echo late"])

    t = threading.Thread(target=long_exec)
    t.start()
    started.wait()
    time.sleep(0.5)
    for _ in range(5):
        r = srv.get("/healthz")
        assert r.status == 200 and r.body == b"OK", r
    assert srv.exec("short", ["echo", "quick"])["stdout"] == "quick\n"
    assert srv.get("/v1/sandboxes/long").status == 200
    assert t.is_alive(), "the long exec should still be running"
    t.join()
    assert result["doc"]["stdout"] == "late\n", result
    srv.delete("long")
    srv.delete("short")


def test_list_and_info(srv):
    srv.create("li-one", ttl=600, memoryLimit="128Mi", image="busybox")
    srv.create("li-two", ttl=60)
    srv.exec("li-one", ["sh", "-c", "head -c 100000 /dev/zero > /workspace/f"])
    doc = srv.get("/v1/sandboxes").json()
    by_id = {sb["sessionId"]: sb for sb in doc["sandboxes"]}
    assert {"li-one", "li-two"} <= set(by_id), by_id.keys()
    info = srv.get("/v1/sandboxes/li-one").json()
    assert info["podName"] == by_id["li-one"]["podName"]
    assert ISO_UTC.match(info["expiresAt"]) and ISO_UTC.match(info["createdAt"]), info
    assert info["image"] == "busybox" and info["ttlSeconds"] == 600, info
    assert info["limits"]["memory"]["value"] == 128 << 20, info["limits"]
    assert info["diskUsedBytes"] >= 100000, info
    assert info["running"] in (True, False), info
    srv.delete("li-two")
    doc = srv.get("/v1/sandboxes").json()
    assert "li-two" not in [sb["sessionId"] for sb in doc["sandboxes"]]
    expect_error(srv.get("/v1/sandboxes/li-two"), 404, "li-two")
    srv.delete("li-one")


def test_reaper_removes_expired_sandboxes(srv):
    sid = "reap-me"
    doc = srv.create(sid, ttl=2)
    expires = time.mktime(time.strptime(doc["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    sb_dir = os.path.join(srv.state, "sandboxes", sid)
    assert os.path.isdir(sb_dir)
    # No request touches it from here on: only the reaper can remove it.
    gone = wait_until(lambda: not os.path.exists(sb_dir), 20 * slow_factor(), 0.1)
    assert gone, "sandbox %s still on disk 20 s after its expiry" % sid
    # expiresAt has whole seconds; the expiry itself may be up to 1 s later.
    assert time.time() >= expires - 0.2, "removed %.1f s before it expired" % (
        expires - time.time())
    srv.created.discard(sid)
    expect_error(srv.get("/v1/sandboxes/" + sid), 404)
    assert wait_until(lambda: "removed 1 expired sandbox" in srv.log_text(), 5), \
        "the reaper did not log what it removed"
    assert not holder_processes(sb_dir), "the expired sandbox's processes still run"


def test_touch_resets_ttl(srv):
    sid = "touchy"
    srv.create(sid, ttl=30)
    time.sleep(1.1)
    assert srv.request("POST", "/v1/sandboxes/%s/touch" % sid).status == 200
    exp = srv.get("/v1/sandboxes/" + sid).json()["expiresAt"]
    expires = time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    srv.delete(sid)
    if expires > time.time() + 31:
        raise KnownBug("touch set expiresAt to %s, %d s away, not ttlSeconds (30) away: "
                       "nox__expiry_touch() (src/local/store.c) reads the TTL through the "
                       "O_WRONLY descriptor it opened, the read fails, and it falls back to "
                       "900" % (exp, expires - time.time()))
    assert expires >= time.time() + 28, exp


def test_signal_graceful_shutdown_and_restart(srv):
    sid = "persist"
    srv.create(sid, ttl=600)
    srv.exec(sid, ["sh", "-c", "echo precious > /workspace/keep.txt"])
    result = {}

    def in_flight():
        result["doc"] = srv.exec(sid, ["sh", "-c", "sleep 2; echo finished"])

    t = threading.Thread(target=in_flight)
    t.start()
    time.sleep(0.7)
    srv.signal(signal.SIGTERM)
    # No new connections while the in-flight exec finishes.
    refused = wait_until(lambda: not can_connect(srv.port), 5)
    assert refused, "the server still accepts connections after SIGTERM"
    t.join()
    assert result["doc"]["exitCode"] == 0 and result["doc"]["stdout"] == "finished\n", result
    rc = srv.wait(30 * slow_factor())
    assert rc == 0, "exit status %d" % rc
    log = srv.log_text()
    assert "shutting down" in log and "stopped" in log, log[-2000:]

    # A new server on the same state directory finds the sandbox and its files.
    srv.start()
    info = srv.get("/v1/sandboxes/" + sid)
    assert info.status == 200, info
    doc = srv.exec(sid, ["cat", "/workspace/keep.txt"])
    assert doc["stdout"] == "precious\n", doc
    srv.delete(sid)


def test_signal_with_idle_keepalive_connection(srv):
    """An idle keep-alive connection is not a request in flight: shutdown
    does not wait the grace period out for it."""
    c = srv.connection()
    assert srv.request("GET", "/healthz", conn=c).status == 200
    t0 = time.time()
    srv.signal(signal.SIGTERM)
    rc = srv.wait(30 * slow_factor())
    c.close()
    assert rc == 0, rc
    assert time.time() - t0 < 5 * slow_factor(), "shutdown waited for an idle connection"
    srv.start()


def host_has(marker):
    """True when a process on this host has @marker in its command line."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if marker.encode() in f.read().replace(b"\0", b" "):
                    return True
        except OSError:
            pass
    return False


def test_signal_past_grace_cancels_and_leaves_sandbox_intact(srv):
    """A request still running when the grace period ends is cancelled (its
    command's tree killed) instead of holding the server up; its sandbox
    survives."""
    srv.stop()
    srv.start(extra=["--shutdown-grace", "1"])
    sid = "overrun"
    srv.create(sid)
    srv.exec(sid, ["sh", "-c", "echo still-here > /workspace/f"])
    marker = "sleep 20.%d" % os.getpid()
    outcome = {}

    def long_exec():
        try:
            outcome["response"] = srv.exec(sid, ["sh", "-c", marker], expect=503)
        except Exception as e:  # noqa: BLE001 - a broken connection is acceptable too
            outcome["error"] = e

    t = threading.Thread(target=long_exec)
    t.start()
    assert wait_until(lambda: host_has(marker), 10 * slow_factor()), "the exec never started"
    t0 = time.time()
    srv.signal(signal.SIGTERM)
    rc = srv.wait(30 * slow_factor())
    elapsed = time.time() - t0
    t.join()
    assert rc == 0, rc
    assert elapsed < 10 * slow_factor(), "shutdown took %.1f s with a 1 s grace" % elapsed
    assert "response" in outcome or "error" in outcome, outcome
    if "response" in outcome:
        expect_error(outcome["response"], 503, "shutting down")
    assert "cancelled 1 running exec" in srv.log_text()
    assert wait_until(lambda: not host_has(marker), 10 * slow_factor()), "the command lives on"
    srv.start(extra=[])  # the normal configuration again
    assert srv.exec(sid, ["cat", "/workspace/f"])["stdout"] == "still-here\n"
    srv.delete(sid)


def test_client_hangup_cancels_exec(srv):
    """A client that goes away mid-exec takes its command with it: the
    process tree is killed at once, not at its timeout."""
    sid = "hangup"
    srv.create(sid)
    marker = "sleep 30.%d" % os.getpid()
    body = json.dumps({"cmd": ["sh", "-c", marker + " & " + marker], "timeoutSeconds": 60})
    req = ("POST /v1/sandboxes/%s/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n%s" % (sid, len(body), body)).encode()
    s = socket.create_connection((srv.host, srv.port))
    s.sendall(req)
    assert wait_until(lambda: host_has(marker), 10 * slow_factor()), "the exec never started"
    s.close()
    assert wait_until(lambda: not host_has(marker), 10 * slow_factor()), "the command lives on"
    assert srv.get("/healthz").status == 200
    srv.delete(sid)


# ---------------------------------------------------------------- startup and options


def run_binary(srv, args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([srv.binary] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=e, timeout=60)


def test_command_line(srv):
    r = run_binary(srv, ["--version"])
    assert r.returncode == 0 and r.stdout.startswith("noxrunnerd "), r
    r = run_binary(srv, ["--help"])
    assert r.returncode == 0, r
    for word in ["--listen", "--max-upload-bytes", "NOXRUNNERD_MAX_UPLOAD_BYTES", "--check",
                 "--shutdown-grace", "--unisolated", "--port-file", "--log-level"]:
        assert word in r.stdout, word
    bad = [["--bogus"], ["--port", "70000"], ["--port", "-1"], ["--listen", "::1:80"],
           ["--listen", "nocolon"], ["--max-json-bytes", "1.5"], ["--max-json-bytes", "lots"],
           ["--idle-timeout", "0"], ["--log-level", "loud"], ["--backend", "ftp://x"],
           ["--backend", "http://x", "--unisolated"], ["stray-argument"], ["--port-file"]]
    for args in bad:
        r = run_binary(srv, args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("noxrunnerd: "), (args, r.stderr)
    r = run_binary(srv, ["--version"], env={"NOXRUNNERD_IDLE_TIMEOUT": "soon"})
    assert r.returncode == 2 and "NOXRUNNERD_IDLE_TIMEOUT" in r.stderr, r.stderr
    r = run_binary(srv, ["--listen", "127.0.0.1:%d" % srv.port, "--state-dir",
                         os.path.join(srv.tmp, "busy")])
    assert r.returncode == 1 and "in use" in r.stderr, r.stderr


def test_listen_ipv6(srv):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise Skip("this host has no IPv6 loopback (%s)" % e)
    other = Server(srv.binary, ["--listen", "[::1]:0"])
    try:
        other.start()
        other.host = "::1"
        assert "listening on http://[::1]:%d" % other.port in other.log_text(), other.log_text()
        r = other.get("/healthz")
        assert r.status == 200 and r.body == b"OK", r
        other.create("v6")
        assert other.exec("v6", ["echo", "six"])["stdout"] == "six\n"
        other.delete("v6")
    finally:
        problems = other.cleanup()
    assert not problems, problems


def test_non_loopback_listen_warns(srv):
    """Listening beyond loopback is allowed and warned about. Tested on an
    address of a private network namespace, reachable from nowhere."""
    if not shutil.which("unshare") or not shutil.which("ip") or os.geteuid() != 0:
        raise Skip("this needs root, unshare(1) and ip(8) for a private network namespace")
    # A non-loopback address, on the loopback device of a network
    # namespace of its own: nothing outside can reach it.
    setup = "ip link set lo up && ip addr add 10.254.0.1/32 dev lo"
    probe = subprocess.run(["unshare", "--net", "sh", "-c", setup], capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip("cannot set up a private network namespace: %s" % probe.stderr.strip())
    netns = ["unshare", "--net", "sh", "-c", setup + ' && exec "$@"', "sh"]
    other = Server(srv.binary, ["--listen", "10.254.0.1:0"], prefix=netns)
    try:
        other.start()
        log = other.log_text()
        assert "listening on http://10.254.0.1:%d" % other.port in log, log
        assert "reachable from other machines" in log and "no authentication" in log, log
    finally:
        if other.alive():
            other.stop()  # unreachable from here: no sandboxes to delete over HTTP
        problems = other.cleanup()
    assert not problems, problems


def test_unisolated_mode_warns_and_says_so(srv):
    other = Server(srv.binary, ["--unisolated"])
    try:
        other.start()
        log = other.log_text()
        assert "UNISOLATED" in log and "trust" in log, log
        doc = other.create("plain")
        assert doc["isolation"] == "none", doc
        assert other.exec("plain", ["echo", "hi"])["stdout"] == "hi\n"
        other.delete("plain")
    finally:
        problems = other.cleanup()
    assert not problems, problems


def test_gateway_mode(srv):
    """noxrunnerd --backend URL in front of the test server."""
    gw = Server(srv.binary, ["--backend", srv.url], local=False)
    try:
        try:
            gw.start()
        except AssertionError as e:
            if "placeholder" in str(e):
                raise Skip("the http backend (src/http/) is a placeholder: %s"
                           % str(e).splitlines()[-1])
            raise
        assert gw.get("/healthz").body == b"OK"
        doc = gw.create("via-gw", ttl=120)
        assert doc["podName"] and doc["ttlSeconds"] == 120, doc
        assert gw.exec("via-gw", ["echo", "through"])["stdout"] == "through\n"
        assert srv.get("/v1/sandboxes/via-gw").status == 200  # it is the backend's sandbox
        expect_error(gw.get("/v1/sandboxes/not-there"), 404)
        expect_error(gw.request("POST", "/v1/sandboxes/via-gw/exec", body={"cmd": []}), 400)
        # Bodies stream through both servers, both ways.
        data = make_tgz({"gw.txt": b"through two servers\n"})
        r = gw.request("POST", "/v1/sandboxes/via-gw/files/upload?dest=/workspace/in",
                       body=data, headers={"Content-Type": "application/x-tar"})
        if not (r.status == 501 and b"placeholder" in r.body):
            assert r.status == 200, r
            assert srv.exec("via-gw", ["cat", "/workspace/in/gw.txt"])["stdout"] == \
                "through two servers\n"
            r = gw.get("/v1/sandboxes/via-gw/files/download?src=/workspace/in")
            assert r.status == 200 and r.header("Content-Type") == "application/x-tar", r
            with tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz") as tar:
                names = [m.name.lstrip("./") for m in tar.getmembers()]
            assert "gw.txt" in names, names
            expect_error(gw.request("POST", "/v1/sandboxes/via-gw/files/upload",
                                    body=b"not gzip"), 400)
            expect_error(gw.get("/v1/sandboxes/via-gw/files/download?src=/workspace/nope"), 404)
        assert gw.delete("via-gw").status == 204
        assert srv.get("/v1/sandboxes/via-gw").status == 404
    finally:
        problems = gw.cleanup()
        srv.delete("via-gw")
    assert not problems, problems


# ---------------------------------------------------------------- streaming


def peak_rss_reset(pid):
    """Resets the peak RSS of @pid (Linux 4.0+); False where not allowed."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def test_large_upload_and_download_stream(srv):
    """48 MiB through upload and download without the server holding it:
    its peak memory grows by far less than the archive's size."""
    size = 48 << 20
    payload = os.urandom(size)
    digest = hashlib.sha256(payload).hexdigest()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(payload))
    archive = buf.getvalue()
    del payload, buf
    srv.create("big", ephemeralStorageLimit="512Mi")
    pid = srv.proc.pid
    measure = not os.environ.get("NOX_TEST_SERVER_WRAPPER") and not sanitized(pid) \
        and peak_rss_reset(pid)
    before = peak_rss(pid)

    c = srv.connection()
    c.request("POST", "/v1/sandboxes/big/files/upload",
              body=iter([archive[i:i + 256 * 1024] for i in range(0, len(archive), 256 * 1024)]),
              headers={"Content-Type": "application/x-tar"}, encode_chunked=True)
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status == 501 and b"placeholder" in body:
        raise Skip("the archive module is a placeholder")
    assert r.status == 200, (r.status, body)
    doc = srv.exec("big", ["sha256sum", "/workspace/big.bin"])
    assert doc["stdout"].split()[0] == digest, doc

    c = srv.connection()
    c.request("GET", "/v1/sandboxes/big/files/download?src=/workspace/big.bin")
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked", r.status
    h = hashlib.sha256()
    with tarfile.open(fileobj=r, mode="r|gz") as tar:  # read as it streams
        for member in tar:
            assert member.name == "big.bin", member.name
            f = tar.extractfile(member)
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                h.update(block)
    c.close()
    assert h.hexdigest() == digest
    if measure:
        grew = peak_rss(pid) - before
        print("    the server's peak RSS grew by %.1f MiB for a %d MiB upload and download"
              % (grew / 1048576, size >> 20))
        assert grew < size // 2, "the server's peak memory grew by %d MiB for a %d MiB " \
            "transfer" % (grew >> 20, size >> 20)
    srv.delete("big")


def test_gateway_unreachable_backend(srv):
    """A gateway whose backend does not answer: 503 from /healthz, 502 for
    the rest, and it stays up."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # a port nobody listens on (bound, never listening)
        dead = s.getsockname()[1]
        gw = Server(srv.binary, ["--backend", "http://127.0.0.1:%d" % dead], local=False)
        try:
            try:
                gw.start()
            except AssertionError as e:
                if "placeholder" in str(e):
                    raise Skip("the http backend (src/http/) is a placeholder")
                raise
            r = gw.get("/healthz")
            expect_error(r, 503, "not healthy")
            expect_error(gw.request("PUT", "/v1/sandboxes/x", body={"ttlSeconds": 60}), 502)
            expect_error(gw.request("POST", "/v1/sandboxes/x/exec", body={"cmd": ["true"]}), 502)
            expect_error(gw.request("POST", "/v1/sandboxes/..%2Fx/exec"), 400)
        finally:
            problems = gw.cleanup()
    assert not problems, problems


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_gzip_level_option(srv):
    """--gzip-level sets the compression of downloads: the same workspace
    comes smaller at 9 than at 1, and both are valid gzip tars of it."""
    sid = "gzlevel"
    srv.create(sid)
    # Text with some repetition, generated in the sandbox: level 9 finds
    # more of it than level 1 does.
    srv.exec(sid, ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do "
                   "echo \"line $i of $((i % 97)) words $((i * 7 % 13))\"; i=$((i+1)); done > t.txt"])
    sizes = {}
    for level in ("1", "9"):
        srv.stop()
        srv.start(extra=["--gzip-level", level])
        r = srv.request("GET", "/v1/sandboxes/%s/files/download" % sid)
        assert r.status == 200, r
        with tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz") as tar:
            names = [m.name.lstrip("./") for m in tar.getmembers() if m.isfile()]
        assert names == ["t.txt"], names
        sizes[level] = len(r.body)
    srv.stop()
    srv.start(extra=[])  # the normal configuration again
    assert sizes["9"] < sizes["1"], sizes
    r = subprocess.run([srv.binary, "--gzip-level", "0"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"between 1 and 9" in r.stderr, r
    srv.delete(sid)


def test_download_is_one_gzip_member(srv):
    """A download large enough to be compressed on several threads is still
    one gzip member: a reader that stops after the first member (Python's
    streaming tarfile mode, zlib with gzip framing) gets every byte, with
    nothing after the member, and the same bytes come with --gzip-threads 1."""
    sid = "gzmember"
    srv.create(sid)
    # 2.7 MB of text and 1 MiB of noise: over a dozen 256 KiB chunks.
    srv.exec(sid, ["sh", "-c", "i=0; while [ $i -lt 60000 ]; do "
                   "echo \"row $i of $((i % 89)) $((i * 13 % 31)) sandbox workspace\"; "
                   "i=$((i+1)); done > t.txt && head -c 1048576 /dev/urandom > r.bin"])
    r = srv.exec(sid, ["sha256sum", "t.txt", "r.bin"])
    want = dict(reversed(line.split()) for line in r["stdout"].splitlines())
    bodies = {}
    for threads in ("0", "4", "1"):
        srv.stop()
        srv.start(extra=["--gzip-threads", threads])
        r = srv.request("GET", "/v1/sandboxes/%s/files/download" % sid)
        assert r.status == 200, r
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = d.decompress(r.body) + d.flush()
        assert d.eof and d.unused_data == b"", "not exactly one gzip member"
        got = {}
        with tarfile.open(fileobj=io.BytesIO(r.body), mode="r|gz") as tar:
            for m in tar:
                if m.isfile():
                    got[m.name.lstrip("./")] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
        assert got == want, (threads, got, want)
        assert len(raw) > 3 << 20  # about a dozen chunks
        bodies[threads] = r.body
    srv.stop()
    srv.start(extra=[])
    # The chunking, not the number of threads, decides the bytes.
    assert bodies["0"] == bodies["4"] == bodies["1"]
    r = subprocess.run([srv.binary, "--gzip-threads", "65"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"between 0 and 64" in r.stderr, r
    srv.delete(sid)


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]

if __name__ == "__main__":
    run(TESTS, "noxrunnerd concurrency and life cycle",
        server_args=["--reap-interval", "1", "--shutdown-grace", "10"])
