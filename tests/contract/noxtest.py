# SPDX-License-Identifier: MIT
"""Black-box testing of noxrunnerd over raw HTTP (standard library only).

Shared by test_contract.py, test_lifecycle.py and test_hostile.py: starting
the real server on an ephemeral port with a private state directory, plain
HTTP requests that do not go through any NoxRunner client, raw sockets for
what http.client refuses to send, a small test runner, and clean-up that
leaves no sandboxes, processes or directories behind.

Environment:
  NOXRUNNER_INIT             the nox-init to use (ctest sets it)
  NOX_TEST_SERVER_WRAPPER    a command to run the server under, e.g.
                             "valgrind --leak-check=full --error-exitcode=99"
  NOX_TEST_KEEP              keep the temporary directory (for debugging)
"""

import argparse
import gzip
import http.client
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

SKIP_ALL = 77  # ctest's SKIP_RETURN_CODE: the host cannot run the tests
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Skip(Exception):
    """The test cannot run here; the message says why."""


class KnownBug(Exception):
    """The test found a known bug outside the server (in the library); it is
    reported as an expected failure, never as a pass."""


def slow_factor():
    """Timeouts grow under valgrind and sanitizers."""
    return 10 if os.environ.get("NOX_TEST_SERVER_WRAPPER") else 1


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        ctype = self.header("Content-Type")
        assert ctype == "application/json", (
            "expected Content-Type application/json, got %r (status %d, body %r)"
            % (ctype, self.status, self.body[:200]))
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("body is not JSON (%s): %r" % (e, self.body[:200]))

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def expect_error(resp, status, contains=None):
    """Asserts an error answer: the status, application/json, and a body of
    exactly {"error": "<non-empty message>"}."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    doc = resp.json()
    assert isinstance(doc, dict) and list(doc.keys()) == ["error"], (
        "error body must be {\"error\": ...}, got %r" % doc)
    assert isinstance(doc["error"], str) and doc["error"], "empty error message: %r" % doc
    if contains:
        assert contains.lower() in doc["error"].lower(), (
            "error %r does not mention %r" % (doc["error"], contains))
    return doc["error"]


class Server:
    """One noxrunnerd process on 127.0.0.1 with a private state directory."""

    def __init__(self, binary, args=(), tmp=None, state=None, local=True, prefix=()):
        self.binary = binary
        self.args = list(args)
        self.local = local  # False: gateway mode, no state directory
        self.prefix = list(prefix)  # a command to run the server under
        self.tmp = tmp or tempfile.mkdtemp(prefix="noxrunnerd-test-")
        self.state = state or os.path.join(self.tmp, "state")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.port = None
        self.runs = 0
        self.created = set()  # sandboxes the current test made
        self.fixtures = set()  # sandboxes meant to live across tests

    # ---- process ----

    def start(self, extra=()):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.runs += 1
        wrapper = shlex.split(os.environ.get("NOX_TEST_SERVER_WRAPPER", ""))
        if wrapper and "valgrind" in wrapper[0]:
            wrapper.append("--log-file=%s" % os.path.join(self.tmp, "valgrind.%d.log" % self.runs))
        cmd = self.prefix + wrapper + [self.binary, "--listen", "127.0.0.1:0", "--port-file",
                                       self.port_file]
        if self.local:
            cmd += ["--state-dir", self.state]
        cmd += self.args + list(extra)
        self.log = open(self.log_path, "ab")
        self.log.write(("=== %s\n" % " ".join(cmd)).encode())
        self.log.flush()
        # close_fds (the default) keeps this process's descriptors, and
        # ctest's, out of the server.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log)
        deadline = time.time() + 30 * slow_factor()
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("noxrunnerd exited with %d during startup:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with open(self.port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.port = int(text)
                    return self
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise AssertionError("noxrunnerd did not start in time:\n" + self.log_tail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signo):
        self.proc.send_signal(signo)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is not None:
                self.log.close()

    def stop(self, timeout=None):
        """SIGTERM and wait; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout or 30 * slow_factor())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.wait(30)
            raise AssertionError("noxrunnerd did not stop within its shutdown grace")

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def valgrind_reports(self):
        out = []
        for name in sorted(os.listdir(self.tmp)):
            if name.startswith("valgrind."):
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    out.append((name, f.read()))
        return out

    # ---- HTTP ----

    host = "127.0.0.1"

    @property
    def url(self):
        return "http://%s:%d" % ("[%s]" % self.host if ":" in self.host else self.host, self.port)

    def connection(self, timeout=None):
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout or 120 * slow_factor())

    def request(self, method, path, body=None, headers=None, conn=None, timeout=None):
        """One request; a fresh connection unless @conn is given."""
        own = conn is None
        c = conn or self.connection(timeout)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, r.getheaders(), data)
        finally:
            if own:
                c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def create(self, sid, ttl=300, **fields):
        body = {"ttlSeconds": ttl}
        body.update(fields)
        self.created.add(sid)
        r = self.request("PUT", "/v1/sandboxes/" + sid, body=body)
        assert r.status == 200, "create %s: %r" % (sid, r)
        return r.json()

    def exec(self, sid, cmd, expect=200, **fields):
        body = {"cmd": cmd}
        body.update(fields)
        r = self.request("POST", "/v1/sandboxes/%s/exec" % sid, body=body)
        assert r.status == expect, "exec %r in %s: %r" % (cmd, sid, r)
        return r.json() if expect == 200 else r

    def delete(self, sid):
        self.created.discard(sid)
        return self.request("DELETE", "/v1/sandboxes/" + sid)

    def delete_created(self):
        """Deletes what the last test created and did not delete (it failed
        or was skipped half-way)."""
        for sid in sorted(self.created):
            self.delete(sid)

    def healthy(self):
        try:
            r = self.get("/healthz", timeout=30 * slow_factor())
            return r.status == 200 and r.body == b"OK"
        except OSError:
            return False

    # ---- raw sockets ----

    def raw(self, data, timeout=10, read=True):
        """Sends @data on a fresh connection and returns everything the
        server sends until it closes or goes quiet for @timeout seconds."""
        s = socket.create_connection((self.host, self.port), timeout=timeout * slow_factor())
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return read_all(s) if read else b""
        finally:
            s.close()

    # ---- clean-up ----

    def delete_all(self):
        r = self.get("/v1/sandboxes")
        assert r.status == 200, r
        ids = [sb["sessionId"] for sb in r.json()["sandboxes"]]
        for sid in ids:
            d = self.delete(sid)
            assert d.status in (204, 404), "delete %s: %r" % (sid, d)
        return ids

    def cleanup(self, keep=False):
        """Deletes every sandbox, stops the server, kills nothing it did not
        start, and removes the temporary directory (unless @keep, or there
        were problems). Returns the problems found."""
        problems = []
        try:
            if not self.alive() and os.path.isdir(os.path.join(self.state, "sandboxes")) \
                    and os.listdir(os.path.join(self.state, "sandboxes")):
                self.start()  # a server that died still must clean up
            if self.alive() and not self.local:
                rc = self.stop()
                if rc != 0:
                    problems.append("noxrunnerd exited with status %r" % rc)
            elif self.alive():
                left = [sid for sid in self.delete_all() if sid not in self.fixtures]
                if left:
                    problems.append("sandboxes left by the tests: %s" % ", ".join(left))
                rc = self.stop()
                if rc != 0:
                    problems.append("noxrunnerd exited with status %r" % rc)
        except Exception as e:  # noqa: BLE001 - report, then keep cleaning
            problems.append("clean-up failed: %s" % e)
            if self.alive():
                self.proc.kill()
                self.wait(30)
        for pid in holder_processes(self.tmp):
            problems.append("sandbox process %d outlived its sandbox; killed it" % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name, text in self.valgrind_reports():
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            leaks = re.search(r"definitely lost: ([\d,]+) bytes", text)
            print("valgrind (%s): %s errors, definitely lost: %s bytes"
                  % (name, m.group(1) if m else "?", leaks.group(1) if leaks else "0"))
            if (m and m.group(1) != "0") or (leaks and leaks.group(1) != "0"):
                problems.append("valgrind found problems; see %s" % name)
                print(text[-6000:])
        if os.environ.get("NOX_TEST_KEEP") or problems or keep:
            print("kept %s for inspection" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


def holder_processes(path):
    """Processes holding a descriptor under @path (sandbox holders keep
    their sandbox's `expires` file open)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        fd_dir = "/proc/%s/fd" % entry
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)).startswith(path + "/"):
                        pids.append(int(entry))
                        break
                except OSError:
                    pass
        except OSError:
            pass
    return pids


def read_all(s):
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def status_of(raw):
    """The status code of the first response in @raw bytes, or None."""
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def make_tgz(files):
    """A tar.gz of {name: bytes | (bytes, mode)}; names ending in '/' are
    directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            mode = 0o644
            if isinstance(content, tuple):
                content, mode = content
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = int(time.time())
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = mode
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def isolation_available(binary):
    """Runs noxrunnerd --check; True when sandboxes can run isolated."""
    r = subprocess.run([binary, "--check"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        print(r.stdout.decode("utf-8", "replace"))
    return r.returncode == 0


def run(tests, description, server_args=(), setup=None, after_each=None):
    """Runs @tests (functions taking the Server) in order and prints a
    summary. @setup runs once after the server started, @after_each after
    every test (an assertion failing there fails the test). Exits 0 when none failed, 1 otherwise, 77 when the host cannot
    run them at all (isolation unavailable, or every test selected skipped)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--server", required=True, help="path of the noxrunnerd to test")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    opts = ap.parse_args()
    binary = os.path.abspath(opts.server)
    print("%s\nserver: %s" % (description, binary))
    if not isolation_available(binary):
        print("skipped, because this host cannot run isolated sandboxes (see the report of "
              "noxrunnerd --check above)")
        sys.exit(SKIP_ALL)

    srv = Server(binary, server_args)
    counts = {"passed": 0, "failed": 0, "skipped": 0, "known library bugs": 0}
    failures = []
    try:
        srv.start()
        if setup:
            setup(srv)
        for test in tests:
            name = test.__name__
            if opts.only and opts.only not in name:
                continue
            t0 = time.time()
            try:
                if not srv.alive():
                    srv.start()  # a previous test may stop the server on purpose
                test(srv)
                if after_each and srv.alive():
                    after_each(srv)
                outcome = "PASS"
            except Skip as e:
                outcome = "SKIP (skipped, because %s)" % e
                counts["skipped"] += 1
            except KnownBug as e:
                outcome = "KNOWN LIBRARY BUG (expected failure): %s" % e
                counts["known library bugs"] += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported
                outcome = "FAIL: %s" % (e if isinstance(e, AssertionError) else repr(e))
                counts["failed"] += 1
                failures.append((name, traceback.format_exc()))
            else:
                counts["passed"] += 1
            if srv.alive():
                try:
                    srv.delete_created()
                except OSError:
                    pass
            # The server must survive whatever the test sent it.
            if srv.alive() and not srv.healthy():
                outcome += "; AND the server no longer answers /healthz"
                if outcome.startswith("PASS"):
                    counts["passed"] -= 1
                    counts["failed"] += 1
                failures.append((name, "server unhealthy after the test\n" + srv.log_tail()))
            elif srv.proc and not srv.alive() and srv.proc.returncode not in (0, None) \
                    and "signal" not in name:
                outcome += "; AND the server died with status %d" % srv.proc.returncode
                counts["failed"] += 1
                failures.append((name, "server died\n" + srv.log_tail()))
            print("%-52s %s  (%.1f s)" % (name, outcome, time.time() - t0), flush=True)
    except Exception:  # noqa: BLE001
        counts["failed"] += 1
        failures.append(("setup", traceback.format_exc() + "\n" + srv.log_tail()))
    finally:
        problems = srv.cleanup(keep=bool(failures))
        for p in problems:
            counts["failed"] += 1
            failures.append(("clean-up", p))

    for name, text in failures:
        print("\n---- %s ----\n%s" % (name, text))
    if failures:
        print("\nserver log (tail):\n" + srv.log_tail(60))
    print("\nsummary: " + ", ".join("%d %s" % (v, k) for k, v in counts.items()))
    if counts["failed"]:
        sys.exit(1)
    # Every test that ran skipped: the whole script did not run here, and
    # says so to ctest rather than pass.
    if counts["skipped"] and not counts["passed"] and not counts["known library bugs"]:
        sys.exit(SKIP_ALL)
    sys.exit(0)


def gzip_magic(data):
    return data[:2] == b"\x1f\x8b"


def wait_until(pred, timeout, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


__all__ = [name for name in dir() if not name.startswith("_")] + ["gzip"]
