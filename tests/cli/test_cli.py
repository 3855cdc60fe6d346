#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of the noxrc command-line tool, driving the real binary.

Groups (--group): basic (arguments, help, no sandbox), local (every
subcommand against the local backend: real isolated sandboxes), shell (the
interactive shell through a pseudo-terminal and through a pipe), transfer
(upload and download), http (the http backend against a closed port) and
server (against a real noxrunnerd, also over https:// through a TLS
forwarder, tests/tls/). Every test that needs sandboxes uses a
fresh state directory and deletes what it made. A test that cannot run here
prints "skipped, because ..."; when every test of a group is skipped the
script exits 77, which ctest reports as skipped.
"""

import argparse
import ctypes
import errno
import gzip
import io
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import urllib.request

NOXRC = None
TMP_ROOT = None
ESC = "\x1b["
SYMBOLS = ("\u2713", "\u2717", "\u26a0", "\u2139")


class Skip(Exception):
    pass


class Failure(Exception):
    pass


TESTS = []


def test(group):
    def wrap(fn):
        TESTS.append((group, fn.__name__, fn))
        return fn
    return wrap


def check(cond, what, *details):
    if not cond:
        msg = what
        for d in details:
            msg += "\n    " + repr(d)
        raise Failure(msg)


def eq(got, want, what=""):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what or "values differ", got, want))


# ---- running noxrc ----

class Result:
    def __init__(self, p, seconds):
        self.code = p.returncode
        self.out_bytes = p.stdout
        self.err_bytes = p.stderr
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")
        self.seconds = seconds

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise Failure("stdout is not one JSON document (%s): %r\nstderr: %r"
                          % (e, self.out, self.err))

    def __repr__(self):
        return "exit %d\nstdout: %r\nstderr: %r" % (self.code, self.out_bytes[:2000],
                                                      self.err_bytes[:2000])


def base_env(extra=None):
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.pop("NOXRUNNER_BASE_URL", None)
    env["XDG_STATE_HOME"] = os.path.join(TMP_ROOT, "xdg-state")
    if extra:
        env.update(extra)
    return env


def noxrc(*args, input=None, env=None, timeout=120, cwd=None):
    start = time.monotonic()
    p = subprocess.run([NOXRC] + [str(a) for a in args], input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=base_env(env), timeout=timeout, cwd=cwd)
    return Result(p, time.monotonic() - start)


def expect(r, code, what=""):
    if r.code != code:
        raise Failure("%s: exit %d, want %d\n%r" % (what or "exit code", r.code, code, r))


def no_decoration(text, what):
    check(ESC not in text, "%s has colour escapes" % what, text)
    for s in SYMBOLS:
        check(s not in text, "%s has the symbol %s" % (what, s), text)


# ---- isolation and local sandboxes ----

_isolation = None


def need_isolation():
    global _isolation
    if _isolation is None:
        r = noxrc("check", "--json")
        try:
            _isolation = bool(json.loads(r.out).get("isolationAvailable"))
        except ValueError:
            _isolation = False
    if not _isolation:
        raise Skip("this host cannot run isolated sandboxes (see noxrc check)")


class Local:
    """A fresh state directory; deletes every sandbox in it at the end."""

    def __init__(self):
        need_isolation()
        self.state = tempfile.mkdtemp(prefix="state-", dir=TMP_ROOT)

    def args(self):
        return ["--local", "--state-dir", self.state]

    def __call__(self, *args, **kw):
        return noxrc(*(self.args() + list(args)), **kw)

    def create(self, sid, *extra):
        r = self(*(["create", sid] + list(extra)))
        expect(r, 0, "create %s" % sid)
        return r

    def sh(self, sid, script, *opts):
        return self(*(["exec", sid] + list(opts) + ["--", "sh", "-c", script]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        r = self("list", "--json")
        try:
            ids = [s["sessionId"] for s in json.loads(r.out)["sandboxes"]]
        except (ValueError, KeyError):
            ids = []
        for sid in ids:
            self("delete", sid)
        shutil.rmtree(self.state, ignore_errors=True)
        return False


def archive_available(loc, sid):
    """Probes an upload; the archive module may still be a placeholder."""
    path = os.path.join(TMP_ROOT, "probe.txt")
    with open(path, "w") as f:
        f.write("probe\n")
    r = loc("upload", sid, path)
    if r.code != 0 and "bring-up placeholder" in r.err:
        raise Skip("the archive module (src/archive.c) is still a bring-up placeholder, "
                   "so uploads and downloads cannot work yet")
    expect(r, 0, "probe upload")


# ---- pseudo-terminals ----

class Pty:
    """noxrc with stdin, stdout and stderr on a pseudo-terminal."""

    def __init__(self, args, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(NOXRC, [NOXRC] + [str(a) for a in args], base_env(env))
            finally:
                os._exit(127)
        self.buf = b""
        self.seen = b""

    def read_until(self, pattern, timeout=20):
        """Reads until @pattern (bytes or compiled regex) appears; returns
        everything up to and including it."""
        end = time.monotonic() + timeout
        while True:
            if isinstance(pattern, bytes):
                i = self.buf.find(pattern)
                n = len(pattern)
            else:
                m = pattern.search(self.buf)
                i, n = (m.start(), m.end() - m.start()) if m else (-1, 0)
            if i >= 0:
                out, self.buf = self.buf[:i + n], self.buf[i + n:]
                return out
            left = end - time.monotonic()
            if left <= 0:
                raise Failure("timed out waiting for %r; the terminal shows %r"
                              % (pattern, self.seen[-3000:]))
            r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if r:
                try:
                    d = os.read(self.fd, 65536)
                except OSError as e:
                    if e.errno == errno.EIO:
                        d = b""
                    else:
                        raise
                if not d:
                    raise Failure("the terminal closed while waiting for %r; it showed %r"
                                  % (pattern, self.seen[-3000:]))
                self.buf += d
                self.seen += d

    def send(self, data):
        os.write(self.fd, data)

    def key(self, data):
        """Sends a control key as a person would: not in the instant between
        the prompt and libedit switching the terminal to raw mode (a ^D typed
        ahead in that instant is the terminal's end-of-file, not a key)."""
        time.sleep(0.3)
        os.write(self.fd, data)

    def wait(self, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            # Drain, so that the child never blocks on a full terminal.
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    d = os.read(self.fd, 65536)
                    self.buf += d
                    self.seen += d
                except OSError:
                    pass
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(st)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise Failure("noxrc did not exit; the terminal showed %r" % self.seen[-3000:])


def on_pty(args, env=None, timeout=60):
    """Runs noxrc with stdout and stderr on one terminal; returns (code, text)."""
    p = Pty(args, env)
    code = p.wait(timeout)
    return code, p.seen.decode("utf-8", "replace")


# ======================================================================
# basic: arguments and help, no sandbox needed
# ======================================================================

COMMANDS = ["health", "create", "exec", "shell", "upload", "download", "touch", "delete",
            "list", "info", "check"]


@test("basic")
def test_help_lists_every_command_and_global_option():
    r = noxrc("--help")
    expect(r, 0)
    for c in COMMANDS:
        check(re.search(r"^\s+%s\s" % c, r.out, re.M), "--help lists %s" % c, r.out)
    for o in ["--base-url", "--ca-file", "--local", "--local-test", "--timeout", "--verbose",
              "--json", "--state-dir", "--unisolated", "--version"]:
        check(o in r.out, "--help mentions %s" % o, r.out)
    for v in ["NOXRUNNER_BASE_URL", "NOXRUNNER_CA_FILE"]:
        check(v in r.out, "--help names %s" % v, r.out)
    no_decoration(r.out + r.err, "help on a pipe")


@test("basic")
def test_each_command_help():
    want = {
        "create": ["--ttl", "--image", "--cpu", "--mem", "--storage", "--wait",
                   "--wait-timeout", "900"],
        "exec": ["--workdir", "--env", "--timeout-seconds", "--ignore-exit-code", "/workspace"],
        "upload": ["--dir", "--dest", "/workspace"],
        "download": ["--src", "--output", "--extract", "/workspace"],
        "shell": ["--workdir", "--timeout-seconds"],
        "list": ["--quiet"],
    }
    for c in COMMANDS:
        r = noxrc(c, "--help")
        expect(r, 0, "%s --help" % c)
        check(r.out.startswith("Usage: noxrc %s" % c), "%s --help starts with usage" % c, r.out)
        for w in want.get(c, []):
            check(w in r.out, "%s --help mentions %s" % (c, w), r.out)
        r2 = noxrc("help", c)
        expect(r2, 0, "help %s" % c)
        eq(r2.out, r.out, "help %s is %s --help" % (c, c))
    # -h is --help too, and global options are listed under each command.
    r = noxrc("exec", "-h")
    expect(r, 0)
    check("--base-url" in r.out, "command help lists the global options")


@test("basic")
def test_docs_cover_every_command_and_option():
    # Every option any --help shows is in the man page, the bash completion
    # and docs/cli.md, so that the three cannot fall behind the code.
    src = os.environ.get("NOX_TEST_SOURCE_DIR") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    texts = {}
    for rel in ("man/noxrc.1", "packaging/bash-completion/noxrc", "docs/cli.md"):
        path = os.path.join(src, rel)
        if not os.path.exists(path):
            raise Failure("%s is missing" % rel)
        with open(path, encoding="utf-8") as f:
            texts[rel] = f.read()
    texts["man/noxrc.1"] = texts["man/noxrc.1"].replace("\\-", "-")
    for c in COMMANDS:
        r = noxrc(c, "--help")
        opts = set(m.group(1) for m in re.finditer(r"^\s+(?:-\w, )?(--[a-z][a-z-]+)", r.out, re.M))
        opts |= set(re.findall(r"^\s+--local, (--local-test)", r.out, re.M))
        opts -= {"--help"}
        check(len(opts) >= 8, "options found in %s --help" % c, opts)
        for rel, text in texts.items():
            check(re.search(r"\b%s\b" % c, text), "%s documents %s" % (rel, c))
            for o in sorted(opts):
                check(o in text, "%s documents %s of %s" % (rel, o, c))


@test("basic")
def test_version():
    r = noxrc("--version")
    expect(r, 0)
    check(re.match(r"noxrc \d+\.\d+\.\d+ \(libnoxrunner \d+\.\d+\.\d+\)\n$", r.out),
          "version line", r.out)
    r = noxrc("--json", "--version")
    expect(r, 0)
    check("libnoxrunner" in r.json(), "version JSON", r.out)


@test("basic")
def test_usage_errors_exit_2():
    cases = [
        ([], "missing the command"),
        (["frobnicate"], "unknown command `frobnicate`"),
        (["exce", "x", "true"], "Did you mean `noxrc exec`"),
        (["--bogus", "health"], "unknown global option `--bogus`"),
        (["health", "--bogus"], "unknown option `--bogus`"),
        (["exec", "-z", "box", "true"], "unknown option `-z`"),
        (["exec"], "missing the sandbox ID"),
        (["exec", "box"], "missing the command to run"),
        (["create"], "missing the sandbox ID"),
        (["create", "a", "b"], "unexpected argument `b`"),
        (["delete"], "missing the sandbox ID"),
        (["touch"], "missing the sandbox ID"),
        (["info"], "missing the sandbox ID"),
        (["shell"], "missing the sandbox ID"),
        (["download"], "missing the sandbox ID"),
        (["upload"], "missing the sandbox ID"),
        (["upload", "box"], "nothing to upload"),
        (["create", "box", "--ttl", "soon"], "--ttl needs a positive number"),
        (["create", "box", "--ttl", "0"], "--ttl needs a positive number"),
        (["create", "box", "--cpu", "lots"], "--cpu `lots`"),
        (["create", "box", "--mem", "12XB"], "--mem `12XB`"),
        (["create", "box", "--wait-timeout", "-1"], "--wait-timeout"),
        (["exec", "box", "--timeout-seconds", "1.5", "true"], "--timeout-seconds"),
        (["exec", "box", "--workdir"], "needs a value"),
        (["--timeout", "abc", "health"], "--timeout needs a positive number"),
        (["health", "--timeout=0"], "--timeout needs a positive number"),
        (["health", "--json=yes"], "takes no value"),
        (["download", "box", "--output", "a.tgz", "--extract", "d"], "exclude each other"),
        (["--local", "--base-url", "http://x:1", "health"], "two backends"),
        (["--state-dir", "/tmp/x", "health"], "--state-dir applies to local mode"),
        (["--unisolated", "health"], "--unisolated applies to local mode"),
        (["--local", "--ca-file", "/x.pem", "list"], "--ca-file applies to an http backend"),
        (["health", "--ca-file="], "--ca-file needs a file"),
        (["help", "nope"], "unknown command `nope`"),
    ]
    for args, msg in cases:
        r = noxrc(*args)
        expect(r, 2, "noxrc %s" % " ".join(args))
        check(msg in r.err, "noxrc %s says %r" % (" ".join(args), msg), r.err)
        eq(r.out, "", "noxrc %s prints nothing on stdout" % " ".join(args))
        no_decoration(r.err, "usage error on a pipe")


@test("basic")
def test_invalid_ids_are_usage_errors():
    for bad, say in [("a/b", "'/'"), ("../x", "must not start with '.'"), (".hidden", "must not start with '.'"),
                     ("a b", "' '"), ("semi;colon", "';'"), ("x" * 129, "limit is 128"),
                     ("", "empty")]:
        for cmd in (["create", bad], ["exec", bad, "true"], ["delete", bad],
                    ["shell", bad], ["info", bad], ["touch", bad]):
            r = noxrc("--local", *cmd)
            expect(r, 2, "noxrc %s" % " ".join(cmd))
            check(say in r.err, "invalid id message names the problem (%s)" % say, r.err)
            check("letters, digits, '-', '_' or '.'" in r.err,
                  "invalid id message says which characters are allowed", r.err)


@test("basic")
def test_json_usage_errors():
    r = noxrc("--json", "exec", "a/b", "true")
    expect(r, 2)
    doc = r.json()
    eq(doc["code"], "usage", "code")
    eq(doc["status"], 0, "status")
    check("a/b" in doc["error"], "error names the id", doc)
    r = noxrc("--json", "nope")
    expect(r, 2)
    eq(r.json()["code"], "usage", "unknown command code")
    r = noxrc("create", "--json", "x", "--ttl", "-5")
    expect(r, 2)
    eq(r.json()["code"], "usage", "bad ttl code")


@test("basic")
def test_local_flag_spellings_and_positions():
    # --local-test is the reference's name; global options also work after
    # the command.
    state = tempfile.mkdtemp(prefix="state-", dir=TMP_ROOT)
    try:
        for args in (["--local-test", "--state-dir", state, "list", "--json"],
                     ["list", "--json", "--local", "--state-dir", state],
                     ["--local", "list", "--state-dir=" + state, "--json"]):
            r = noxrc(*args)
            expect(r, 0, " ".join(args))
            eq(r.json(), {"sandboxes": []}, "empty list")
        # NOXRUNNER_STATE_DIR is the default state directory.
        r = noxrc("--local", "health", env={"NOXRUNNER_STATE_DIR": state})
        expect(r, 0)
        check(os.listdir(state), "the state directory from NOXRUNNER_STATE_DIR is used")
    finally:
        shutil.rmtree(state, ignore_errors=True)


# ======================================================================
# local: every subcommand against real local sandboxes
# ======================================================================

@test("local")
def test_health_local():
    with Local() as loc:
        r = loc("health")
        expect(r, 0)
        check("healthy" in r.out and loc.state in r.out, "health output", r)
        no_decoration(r.out + r.err, "health on a pipe")
        r = loc("health", "--json")
        expect(r, 0)
        doc = r.json()
        eq(doc["healthy"], True, "healthy")
        eq(doc["backend"], "local", "backend")


@test("local")
def test_create_touch_delete():
    with Local() as loc:
        r = loc("create", "box", "--ttl", "120")
        expect(r, 0)
        check("nox-box" in r.out, "create prints the pod name", r.out)
        no_decoration(r.out + r.err, "create on a pipe")
        # Idempotent, keeps files; JSON answer.
        expect(loc.sh("box", "echo kept > f"), 0)
        r = loc("--json", "create", "box", "--ttl", "300")
        expect(r, 0)
        doc = r.json()
        eq(doc["podName"], "nox-box", "podName")
        eq(doc["sessionId"], "box", "sessionId")
        check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["expiresAt"]), "expiresAt",
              doc)
        eq(doc["ttlSeconds"], 300, "ttlSeconds")
        r = loc.sh("box", "cat f")
        eq(r.out, "kept\n", "files survive a second create")

        r = loc("touch", "box")
        expect(r, 0)
        check("touched" in r.out, "touch says so", r.out)
        r = loc("--json", "touch", "box")
        expect(r, 0)
        eq(r.json(), {"sessionId": "box", "touched": True}, "touch JSON")

        r = loc("delete", "box")
        expect(r, 0)
        check("Deleted sandbox box" in r.out, "delete says so", r.out)
        for cmd in (["delete", "box"], ["touch", "box"], ["exec", "box", "true"],
                    ["info", "box"]):
            r = loc(*cmd)
            expect(r, 1, " ".join(cmd) + " after delete")
            check("sandbox `box` does not exist" in r.err, "not-found message", r.err)
            check("noxrc create" in r.err, "not-found hint", r.err)
            eq(r.out, "", "nothing on stdout")
        r = loc("--json", "delete", "box")
        expect(r, 1)
        doc = r.json()
        eq(doc["code"], "not_found", "code")
        eq(doc["status"], 0, "status")
        check("does not exist" in doc["error"], "error", doc)
        loc.create("gone")
        r = loc("--json", "delete", "gone")
        expect(r, 0)
        eq(r.json(), {"sessionId": "gone", "deleted": True}, "delete JSON")


@test("local")
def test_create_wait_and_limits():
    with Local() as loc:
        r = loc("create", "waiter", "--wait", "--wait-timeout", "20", "--storage", "64Mi",
                "--image", "python:3.12", "--mem", "256Mi", "--cpu", "500m")
        expect(r, 0)
        check("is ready" in r.out, "--wait says ready", r.out)
        r = loc("--json", "info", "waiter")
        expect(r, 0)
        doc = r.json()
        eq(doc["image"], "python:3.12", "image recorded")
        limits = doc["limits"]
        eq(limits["ephemeralStorage"]["value"], 64 << 20, "storage limit")
        eq(limits["memory"]["value"], 256 << 20, "memory limit")
        eq(limits["memory"]["requested"], "256Mi", "memory as asked for")
        eq(limits["cpu"]["value"], 500, "cpu limit in millicores")


@test("local")
def test_exec_exit_codes():
    with Local() as loc:
        loc.create("codes")
        for script, code in [("exit 0", 0), ("exit 7", 7), ("exit 255", 255),
                             ("kill -TERM $$", 128 + 15)]:
            r = loc.sh("codes", script)
            expect(r, code, script)
        r = loc("exec", "codes", "no-such-command-xyz")
        expect(r, 127)
        check("no-such-command-xyz" in r.err, "not found message", r.err)
        r = loc("exec", "codes", "--ignore-exit-code", "sh", "-c", "echo x; exit 9")
        expect(r, 0, "--ignore-exit-code")
        eq(r.out, "x\n", "output kept")
        start = time.monotonic()
        r = loc("exec", "codes", "--timeout-seconds", "1", "sleep", "30")
        expect(r, 124, "timeout")
        check(time.monotonic() - start < 10, "the timeout is enforced quickly")
        check("timed out" in r.err, "says it timed out", r.err)


@test("local")
def test_exec_output_is_byte_exact():
    with Local() as loc:
        loc.create("bytes")
        # Every byte value, NUL included, on both streams, no final newline.
        gen = ('i=0; while [ $i -lt 256 ]; do printf "\\\\$(printf %03o $i)"; '
               'i=$((i+1)); done')
        r = loc.sh("bytes", gen + "; " + gen + " >&2")
        expect(r, 0)
        eq(r.out_bytes, bytes(range(256)), "stdout bytes")
        eq(r.err_bytes, bytes(range(256)), "stderr bytes")
        r = loc.sh("bytes", "printf 'a\\000b\\377c'")
        eq(r.out_bytes, b"a\x00b\xffc", "NUL and 0xff")
        r = loc.sh("bytes", "printf out; printf err >&2")
        eq((r.out_bytes, r.err_bytes), (b"out", b"err"), "streams kept apart")
        r = loc.sh("bytes", "seq 1 100000")
        eq(r.out_bytes, b"".join(b"%d\n" % i for i in range(1, 100001)), "large output")
        r = loc.sh("bytes", "printf 'h\\303\\251llo \\342\\234\\223'")
        eq(r.out_bytes, "h\u00e9llo \u2713".encode(), "UTF-8 passes through")


@test("local")
def test_exec_argv_and_double_dash():
    with Local() as loc:
        loc.create("argv")
        cases = [
            (["exec", "argv", "--", "echo", "--workdir", "-x", "--", "$HOME"],
             "--workdir -x -- $HOME\n"),
            (["exec", "argv", "echo", "--env", "A=1", "-e", "--json"], "--env A=1 -e --json\n"),
            (["exec", "argv", "printf", "%s|", "a b", "", "c"], "a b||c|"),
            (["exec", "--workdir", "/tmp", "argv", "pwd"], "/tmp\n"),
            (["exec", "argv", "--workdir", "/tmp", "pwd"], "/tmp\n"),
            (["exec", "argv", "-w", "/tmp", "--", "pwd"], "/tmp\n"),
            (["exec", "-w/tmp", "argv", "pwd"], "/tmp\n"),
        ]
        for args, want in cases:
            r = loc(*args)
            expect(r, 0, " ".join(args))
            if want is not None:
                eq(r.out, want, " ".join(args))
        r = loc("exec", "argv", "--workdir=/tmp", "pwd", "-L")
        eq(r.out, "/tmp\n", "option-like args after the command")


@test("local")
def test_exec_workdir_and_env():
    with Local() as loc:
        loc.create("env")
        expect(loc.sh("env", "mkdir -p /workspace/sub/dir"), 0)
        r = loc("exec", "env", "pwd")
        eq(r.out, "/workspace\n", "default workdir")
        r = loc("exec", "env", "--workdir", "sub/dir", "pwd")
        eq(r.out, "/workspace/sub/dir\n", "relative workdir")
        r = loc("exec", "env", "--workdir", "/workspace/missing", "pwd")
        expect(r, 1, "missing workdir")
        check("/workspace/missing" in r.err, "names the workdir", r.err)

        r = loc("exec", "env", "--env", "A=1", "-e", "B=two words", "--env", "C=x=y",
                "--", "sh", "-c", 'printf "%s|%s|%s" "$A" "$B" "$C"')
        expect(r, 0)
        eq(r.out, "1|two words|x=y", "env values")
        # The reference warns about an entry without '=' and skips it.
        r = loc("exec", "env", "--env", "NOEQUALS", "--env", "D=4", "--env", "=x", "--",
                "sh", "-c", 'printf "%s" "$D"; env | grep -c NOEQUALS')
        eq(r.out, "40\n", "bad entries skipped, good one kept")
        expect(r, 1, "grep -c finds nothing")
        check("ignoring --env `NOEQUALS`: expected KEY=VALUE" in r.err, "warning", r.err)
        check("ignoring --env `=x`" in r.err, "warning for an empty name", r.err)
        no_decoration(r.err, "warning on a pipe")


@test("local")
def test_exec_json():
    with Local() as loc:
        loc.create("js")
        r = loc("--json", "exec", "js", "sh", "-c", "echo out; echo err >&2; exit 3")
        expect(r, 3, "exit code passes through with --json")
        doc = r.json()
        eq(doc["exitCode"], 3, "exitCode")
        eq(doc["stdout"], "out\n", "stdout")
        eq(doc["stderr"], "err\n", "stderr")
        check(isinstance(doc["durationMs"], int), "durationMs", doc)
        eq(doc["timedOut"], False, "timedOut")
        eq(r.err, "", "nothing on stderr")
        r = loc("exec", "js", "--json", "--timeout-seconds", "1", "sleep", "10")
        expect(r, 124)
        eq(r.json()["timedOut"], True, "timedOut")
        r = loc("exec", "js", "--json", "--ignore-exit-code", "false")
        expect(r, 0)
        eq(r.json()["exitCode"], 1, "exitCode kept in JSON")
        r = loc("--json", "exec", "nothere", "true")
        expect(r, 1)
        doc = r.json()
        eq((doc["code"], doc["status"]), ("not_found", 0), "error JSON")


@test("local")
def test_exec_ctrl_c_exits_130_and_stops_the_command():
    with Local() as loc:
        loc.create("intr")
        p = subprocess.Popen([NOXRC] + loc.args() + ["exec", "intr", "sleep", "4711"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env())
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        start = time.monotonic()
        try:
            p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise Failure("noxrc exec did not stop on SIGINT")
        expect_code = p.returncode
        eq(expect_code, 130, "exit code after SIGINT")
        check(time.monotonic() - start < 5, "stops quickly")
        deadline = time.monotonic() + 5
        while True:
            r = loc.sh("intr", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
            if "sleep 4711" not in r.out:
                break
            check(time.monotonic() < deadline, "the command was killed", r.out)
            time.sleep(0.2)


@test("local")
def test_verbose():
    with Local() as loc:
        loc.create("verb")
        r = loc("--verbose", "exec", "verb", "true")
        expect(r, 0)
        check("local backend" in r.err and "exit code 0 after" in r.err, "verbose says more",
              r.err)
        r = loc("exec", "verb", "true")
        eq(r.err, "", "quiet without --verbose")
        r = loc("-v", "info", "missing")
        expect(r, 1)
        check("error code not_found" in r.err, "verbose error detail", r.err)


@test("local")
def test_list_and_info():
    with Local() as loc:
        r = loc("list")
        expect(r, 0)
        eq(r.out, "", "empty list prints no table")
        check("No sandboxes" in r.err, "says there are none", r.err)
        loc.create("list-b")
        loc.create("list-a", "--mem", "128Mi")
        expect(loc.sh("list-a", "head -c 100000 /dev/zero > f"), 0)
        r = loc("list")
        expect(r, 0)
        lines = r.out.splitlines()
        check(lines[0].split()[:3] == ["ID", "POD", "EXPIRES"], "header", r.out)
        check(lines[1].startswith("list-a ") and lines[2].startswith("list-b "), "rows sorted",
              r.out)
        check("nox-list-a" in r.out and "in 1" in r.out, "pod and expiry", r.out)
        no_decoration(r.out, "table on a pipe")
        r = loc("list", "-q")
        eq(r.out, "list-a\nlist-b\n", "list -q")
        r = loc("--json", "list")
        expect(r, 0)
        ids = [s["sessionId"] for s in r.json()["sandboxes"]]
        eq(ids, ["list-a", "list-b"], "list JSON")

        r = loc("info", "list-a")
        expect(r, 0)
        for w in ["Sandbox", "list-a", "Pod", "nox-list-a", "Expires", "TTL", "900 s",
                  "Isolation", "namespaces", "Running", "Disk used", "LIMIT", "ENFORCED",
                  "memory", "128.0 MiB (128Mi)", "cpu", "pids"]:
            check(w in r.out, "info shows %r" % w, r.out)
        r = loc("--json", "info", "list-a")
        expect(r, 0)
        doc = r.json()
        eq(doc["sessionId"], "list-a", "sessionId")
        eq(doc["running"], True, "running")
        check(doc["diskUsedBytes"] >= 100000, "disk used", doc)
        mem = doc["limits"]["memory"]
        eq((mem["value"], mem["enforced"]), (128 << 20, True), "memory limit")
        r = loc("info", "nope")
        expect(r, 1)
        check("does not exist" in r.err, "info of a missing sandbox", r.err)


@test("local")
def test_check():
    need_isolation()
    r = noxrc("check")
    expect(r, 0)
    for w in ["user-namespace", "mount-namespace", "cgroup", "isolated"]:
        check(w in r.out, "check mentions %s" % w, r.out)
    no_decoration(r.out + r.err, "check on a pipe")
    r = noxrc("--json", "check")
    expect(r, 0)
    doc = r.json()
    eq(doc["isolationAvailable"], True, "isolationAvailable")
    check(all({"name", "ok", "required", "detail", "fix"} <= set(c) for c in doc["checks"]),
          "check entries", doc)
    # Whether spares are prepared holders: optional, and true exactly for
    # root where open_tree (syscall 428 on x86_64 and arm64) works.
    prep = [c for c in doc["checks"] if c["name"] == "prepared-holders"]
    eq(len(prep), 1, "one prepared-holders check")
    eq(prep[0]["required"], False, "prepared-holders is optional")
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(428, -100, b"/", os.O_CLOEXEC)  # open_tree(AT_FDCWD, "/", O_CLOEXEC)
    if fd >= 0:
        os.close(fd)
    eq(prep[0]["ok"], os.geteuid() == 0 and fd >= 0, "prepared-holders ok")
    # A helper that does not exist is a failed check, with exit 1.
    r = noxrc("--json", "check", env={"NOXRUNNER_INIT": "/nonexistent/nox-init"})
    expect(r, 1, "check without the helper")
    eq(r.json().get("isolationAvailable", False), False, "isolation without the helper")


@test("local")
def test_unisolated_warns():
    with Local() as loc:
        r = noxrc("--local", "--unisolated", "--state-dir", loc.state, "create", "plain")
        expect(r, 0)
        check("UNISOLATED" in r.err, "the library's warning is printed", r.err)
        check(r.err.startswith("noxrc: warning: "), "as a warning", r.err)
        r = noxrc("--local", "--unisolated", "--state-dir", loc.state, "exec", "plain",
                  "echo", "hi")
        expect(r, 0)
        eq(r.out, "hi\n", "unisolated exec")
        r = noxrc("--local", "--unisolated", "--state-dir", loc.state, "delete", "plain")
        expect(r, 0)


@test("local")
def test_colour_only_on_terminals():
    with Local() as loc:
        # Pipes: no colour, no symbols (already checked above); a terminal:
        # colour and symbols; NO_COLOR: symbols, no colour.
        code, text = on_pty(loc.args() + ["info", "nope"])
        eq(code, 1, "info nope on a terminal")
        check("\u2717" in text and "\x1b[31m" in text, "red cross on a terminal", text)
        code, text = on_pty(loc.args() + ["health"])
        eq(code, 0, "health on a terminal")
        check("\u2713" in text and "\x1b[32m" in text, "green tick on a terminal", text)
        code, text = on_pty(loc.args() + ["exec", "--env", "X", "nope", "true"])
        check("\u26a0" in text and "\x1b[33m" in text, "yellow warning on a terminal", text)
        for value in ("1", "yes"):
            code, text = on_pty(loc.args() + ["info", "nope"], env={"NO_COLOR": value})
            check("\u2717" in text, "symbol with NO_COLOR", text)
            check(ESC not in text, "no colour with NO_COLOR=%s" % value, text)
        code, text = on_pty(loc.args() + ["info", "nope"], env={"NO_COLOR": ""})
        check("\x1b[31m" in text, "an empty NO_COLOR does not disable colour", text)
        code, text = on_pty(loc.args() + ["info", "nope"], env={"TERM": "dumb"})
        check("\u2717" in text and ESC not in text, "no colour with TERM=dumb", text)
        # Only the terminal stream is decorated.
        r = loc("info", "nope")
        no_decoration(r.err, "stderr on a pipe")


# ======================================================================
# shell
# ======================================================================

PROMPT = re.compile(rb"noxrunner:[^:\r\n]+:[^$\r\n]*\$ $")


def prompt_for(sid, wd):
    return ("noxrunner:%s:%s$ " % (sid, wd)).encode()


@test("shell")
def test_shell_on_a_terminal():
    with Local() as loc:
        loc.create("tty")
        hist_home = tempfile.mkdtemp(prefix="xdg-", dir=TMP_ROOT)
        p = Pty(loc.args() + ["shell", "tty"], env={"XDG_STATE_HOME": hist_home})
        p.read_until(prompt_for("tty", "/workspace"))
        p.send(b"mkdir -p sub/deeper && echo made\r")
        check(b"made" in p.read_until(prompt_for("tty", "/workspace")), "command output")
        p.send(b"cd sub\r")
        p.read_until(prompt_for("tty", "/workspace/sub"))
        p.send(b"pwd\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"/workspace/sub\r\n" in out, "pwd shows the tracked directory", out)
        p.send(b"/bin/pwd\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"/workspace/sub\r\n" in out, "commands run in the tracked directory", out)
        p.send(b"cd deeper/..\r")
        p.read_until(prompt_for("tty", "/workspace/sub"))
        p.send(b"cd /nope\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"/nope" in out and b"no such directory" in out, "cd to a missing dir", out)
        p.send(b"cd\r")
        p.read_until(prompt_for("tty", "/workspace"))
        p.send(b"cd /tmp\r")
        p.read_until(prompt_for("tty", "/tmp"))
        p.send(b"cd ~\r")
        p.read_until(prompt_for("tty", "/workspace"))
        p.send(b"cd -\r")
        p.read_until(prompt_for("tty", "/tmp"))
        p.send(b"cd ~/sub\r")
        p.read_until(prompt_for("tty", "/workspace/sub"))
        p.send(b"sh -c 'exit 3'\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"exit code 3" in out, "a failing command shows its exit code", out)
        p.send(b"true\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"exit code" not in out, "a succeeding one does not", out)
        p.send(b"printf 'no newline'\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"no newline\r\n" in out, "the prompt starts on its own line", out)
        p.send(b"touch\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"touched" in out, "touch built-in", out)
        p.send(b"touch file.txt && ls\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"file.txt" in out, "touch with arguments is the command", out)
        p.send(b"help\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        for w in [b"cd", b"pwd", b"touch", b"exit", b"Ctrl-C"]:
            check(w in out, "help mentions %r" % w, out)
        p.send(b"echo h\xc3\xa9llo\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check("h\u00e9llo\r\n".encode() in out, "UTF-8 input", out)

        # Ctrl-C stops the running line quickly and keeps the shell.
        p.send(b"sleep 30\r")
        time.sleep(1.0)
        start = time.monotonic()
        p.send(b"\x03")
        out = p.read_until(prompt_for("tty", "/workspace/sub"), timeout=10)
        # (sent at once: while a line runs, Ctrl-C is a signal in any mode)
        took = time.monotonic() - start
        check(took < 3, "Ctrl-C returns to the prompt quickly (took %.1f s)" % took, out)
        check(b"interrupted" in out, "says interrupted", out)
        r = loc.sh("tty", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
        check("sleep 30" not in r.out, "the interrupted command is gone", r.out)
        # Ctrl-C at the prompt drops what was typed.
        p.key(b"echo should-not-run")
        p.key(b"\x03")
        p.read_until(prompt_for("tty", "/workspace/sub"))
        p.send(b"echo after\r")
        out = p.read_until(prompt_for("tty", "/workspace/sub"))
        check(b"after" in out and b"should-not-run\r\nshould" not in out, "line dropped", out)
        p.send(b"exit\r")
        eq(p.wait(), 0, "exit status after `exit` following a success")
        check(b"should-not-run\r\n" not in p.seen.split(b"echo should-not-run")[-1],
              "the dropped line never ran", p.seen[-500:])

        hist = os.path.join(hist_home, "noxrunner", "history")
        st = os.stat(hist)
        eq(stat.S_IMODE(st.st_mode), 0o600, "history file mode")
        with open(hist, "rb") as f:
            text = f.read()
        check(b"mkdir" in text and b"should-not-run" not in text, "history content", text)

        # History persists into the next session; Ctrl-D leaves.
        p = Pty(loc.args() + ["shell", "tty", "--workdir", "sub"],
                env={"XDG_STATE_HOME": hist_home})
        p.read_until(prompt_for("tty", "/workspace/sub"))
        p.key(b"\x1b[A")  # up arrow: the last line of the previous session
        p.read_until(b"exit")
        p.send(b"\x15")  # Ctrl-U: kill the line
        p.send(b"false\r")
        p.read_until(prompt_for("tty", "/workspace/sub"))
        p.key(b"\x04")
        eq(p.wait(), 1, "Ctrl-D exits with the last status")


@test("shell")
def test_shell_from_a_pipe():
    with Local() as loc:
        loc.create("pipe")
        script = b"\n".join([
            b"# a comment",
            b"mkdir -p a/b",
            b"cd a",
            b"pwd",
            b"cd b",
            b"/bin/pwd",
            b"   ",
            b"echo $((6*7))",
            b"printf 'x\\000y' | od -An -c",
            b"cd /does/not/exist",
            b"pwd",
            b"sh -c 'echo to-stderr >&2; exit 5'",
        ]) + b"\n"
        r = loc("shell", "pipe", input=script)
        expect(r, 5, "exit code of the last line")
        eq(r.out, "/workspace/a\n/workspace/a/b\n42\n   x  \\0   y\n/workspace/a/b\n",
           "stdout has only the commands' output, no prompt")
        check("to-stderr" in r.err, "stderr passes through", r.err)
        check("/does/not/exist" in r.err, "failed cd reported", r.err)
        check("exit code 5" in r.err, "exit code reported", r.err)
        no_decoration(r.err, "shell messages on a pipe")
        # The last line decides; exit N; quit.
        r = loc("shell", "pipe", input=b"false\ntrue\n")
        expect(r, 0)
        r = loc("shell", "pipe", input=b"true\nexit 4\necho not-reached\n")
        expect(r, 4)
        eq(r.out, "", "nothing after exit")
        r = loc("shell", "pipe", input=b"false\nquit\n")
        expect(r, 1)
        r = loc("shell", "pipe", input=b"")
        expect(r, 0)
        r = loc("shell", "pipe", "--timeout-seconds", "1", input=b"sleep 10\n")
        expect(r, 124, "--timeout-seconds in the shell")
        r = loc("shell", "pipe", "--workdir", "/workspace/a", input=b"pwd\n/bin/pwd\n")
        eq(r.out, "/workspace/a\n/workspace/a\n", "--workdir")
        r = loc("shell", "pipe", "--workdir", "/workspace/none", input=b"pwd\n")
        expect(r, 1, "a missing --workdir")
        check("/workspace/none" in r.err, "names it", r.err)
        r = loc("shell", "missing", input=b"true\n")
        expect(r, 1, "shell on a missing sandbox")
        check("does not exist" in r.err, "says so", r.err)


@test("shell")
def test_shell_json():
    with Local() as loc:
        loc.create("sj")
        r = loc("--json", "shell", "sj", input=b"echo one\ncd /tmp\nsh -c 'exit 2'\ncd /nope\n")
        expect(r, 1)
        doc = r.json()
        eq(doc["sessionId"], "sj", "sessionId")
        eq(doc["exitCode"], 1, "exitCode")
        cmds = doc["commands"]
        eq([c["line"] for c in cmds], ["echo one", "cd /tmp", "sh -c 'exit 2'", "cd /nope"],
           "lines")
        eq(cmds[0]["result"]["stdout"], "one\n", "stdout of the first")
        eq(cmds[2]["workdir"], "/tmp", "workdir after cd")
        eq(cmds[2]["exitCode"], 2, "exit code of the third")
        eq(cmds[3]["exitCode"], 1, "failed cd")


@test("shell")
def test_shell_sigint_from_a_pipe_exits_130():
    with Local() as loc:
        loc.create("sigpipe")
        p = subprocess.Popen([NOXRC] + loc.args() + ["shell", "sigpipe"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env())
        p.stdin.write(b"sleep 4712\n")
        p.stdin.flush()
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        try:
            p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise Failure("the shell did not stop on SIGINT")
        eq(p.returncode, 130, "exit code")
        deadline = time.monotonic() + 5
        while True:
            r = loc.sh("sigpipe", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
            if "sleep 4712" not in r.out:
                break
            check(time.monotonic() < deadline, "the command was killed", r.out)
            time.sleep(0.2)


# ======================================================================
# transfer: upload and download
# ======================================================================

@test("transfer")
def test_upload_files_and_tree():
    with Local() as loc:
        loc.create("up")
        archive_available(loc, "up")
        src = tempfile.mkdtemp(prefix="up-", dir=TMP_ROOT)
        a = os.path.join(src, "a.txt")
        b = os.path.join(src, "bin.dat")
        with open(a, "w") as f:
            f.write("alpha\n")
        with open(b, "wb") as f:
            f.write(bytes(range(256)))
        os.chmod(b, 0o750)
        r = loc("upload", "up", a, b)
        expect(r, 0)
        check("Uploaded 2 files" in r.out, "upload says so", r.out)
        r = loc.sh("up", "cat a.txt; od -An -tx1 bin.dat | head -1; stat -c %a bin.dat")
        check(r.out.startswith("alpha\n 00 01 02"), "content", r.out)
        check(r.out.endswith("750\n"), "mode kept", r.out)
        r = loc("upload", "up", a, "--dest", "/workspace/deep/er")
        expect(r, 0)
        eq(loc.sh("up", "cat /workspace/deep/er/a.txt").out, "alpha\n", "--dest")
        r = loc("--json", "upload", "up", a)
        expect(r, 0)
        doc = r.json()
        eq((doc["sessionId"], doc["dest"], doc["files"]), ("up", "/workspace", ["a.txt"]),
           "upload JSON")

        # Refused before anything is sent.
        r = loc("upload", "up", a, os.path.join(src, "missing.txt"))
        expect(r, 1, "missing file")
        check("missing.txt" in r.err, "names the missing file", r.err)
        r = loc("upload", "up", src)
        expect(r, 1, "directory given as a file")
        check("is a directory" in r.err and "--dir" in r.err, "suggests --dir", r.err)
        r = loc("upload", "up", "--dir", a)
        expect(r, 1, "--dir with a file")

        tree = os.path.join(src, "tree")
        os.makedirs(os.path.join(tree, "x", "y"))
        with open(os.path.join(tree, "x", "y", "z.txt"), "w") as f:
            f.write("zed")
        r = loc("upload", "up", "--dir", tree, "--dest", "/workspace/t")
        expect(r, 0)
        eq(loc.sh("up", "cat /workspace/t/x/y/z.txt").out, "zed", "tree upload")
        r = loc("upload", "up", "--dest", "/etc", a)
        expect(r, 1, "dest outside /workspace")


@test("transfer")
def test_download_output_and_extract():
    with Local() as loc:
        loc.create("down")
        archive_available(loc, "down")
        expect(loc.sh("down", "mkdir -p d && echo one > d/1 && printf 'a\\000b' > bin"), 0)
        work = tempfile.mkdtemp(prefix="down-", dir=TMP_ROOT)
        out = os.path.join(work, "ws.tar.gz")
        r = loc("download", "down", "--output", out)
        expect(r, 0)
        with open(out, "rb") as f:
            data = f.read()
        eq(data[:2], b"\x1f\x8b", "gzip magic")
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            names = set(n.rstrip("/").lstrip("./") for n in t.getnames())
        check({"d/1", "bin"} <= names, "archive members", names)
        check(not [n for n in os.listdir(work) if ".part-" in n], "no temporary file left")
        r = loc("--json", "download", "down", "--src", "/workspace/d", "-o", out)
        expect(r, 0)
        doc = r.json()
        eq((doc["output"], doc["src"]), (out, "/workspace/d"), "download JSON")
        r = loc("download", "down", "--output", "-")
        expect(r, 0)
        eq(r.out_bytes[:2], b"\x1f\x8b", "--output - writes the archive to stdout")

        dest = os.path.join(work, "x")
        r = loc("download", "down", "--extract", dest)
        expect(r, 0)
        with open(os.path.join(dest, "d", "1")) as f:
            eq(f.read(), "one\n", "extracted file")
        with open(os.path.join(dest, "bin"), "rb") as f:
            eq(f.read(), b"a\x00b", "extracted binary")
        cwd = os.path.join(work, "cwd")
        os.mkdir(cwd)
        r = loc("download", "down", "--src", "/workspace/d", cwd=cwd)
        expect(r, 0, "default: extract into .")
        check(os.path.exists(os.path.join(cwd, "1")), "extracted into the cwd",
              os.listdir(cwd))
        r = loc("--json", "download", "down", "--extract", os.path.join(work, "y"))
        expect(r, 0)
        eq(r.json()["any"], True, "any")
        r = loc("download", "down", "--src", "/workspace/nope", "-o", out + "2")
        expect(r, 1, "missing src")
        check(not os.path.exists(out + "2"), "no file for a failed download")

        # A link pointing out of the extraction directory is refused.
        expect(loc.sh("down", "ln -s ../../../../../../etc/passwd evil"), 0)
        bad = os.path.join(work, "bad")
        r = loc("download", "down", "--extract", bad)
        expect(r, 1, "hostile archive")
        check("evil" in r.err, "names the entry", r.err)


@test("transfer")
def test_progress_line_on_a_terminal_only():
    with Local() as loc:
        loc.create("prog")
        archive_available(loc, "prog")
        big = os.path.join(TMP_ROOT, "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(12 << 20))
        r = loc("upload", "prog", big)
        expect(r, 0)
        check("Uploading" not in r.err, "no progress on a pipe", r.err)
        code, text = on_pty(loc.args() + ["upload", "prog", big])
        eq(code, 0, "upload on a terminal")
        check("Uploading" in text and "/s" in text, "progress on a terminal", text)
        code, text = on_pty(loc.args() + ["--json", "upload", "prog", big])
        check("Uploading" not in text, "no progress with --json", text)


# ======================================================================
# http and server
# ======================================================================

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@test("http")
def test_health_against_a_closed_port():
    url = "http://127.0.0.1:%d" % free_port()
    r = noxrc("--base-url", url, "health")
    expect(r, 1)
    check(url in r.err, "the message names the URL", r.err)
    check("noxrunnerd" in r.err and "--local" in r.err, "suggests noxrunnerd or --local", r.err)
    r = noxrc("health", "--json", env={"NOXRUNNER_BASE_URL": url})
    expect(r, 1)
    doc = r.json()
    eq((doc["healthy"], doc["code"]), (False, "connect"), "health JSON")
    r = noxrc("--base-url", url, "--json", "exec", "box", "true")
    expect(r, 1)
    doc = r.json()
    eq(doc["code"], "connect", "exec against a closed port")
    check(url in doc["error"], "names the URL", doc)


@test("http")
def test_http_without_libcurl():
    # libcurl is loaded when the first http client is made; without it the
    # http backend says what to install, and local mode does not need it.
    url = "http://127.0.0.1:%d" % free_port()
    env = {"NOXRUNNER_LIBCURL": os.path.join(TMP_ROOT, "no-such-libcurl.so.4")}
    r = noxrc("--base-url", url, "--json", "exec", "box", "true", env=env)
    expect(r, 1)
    doc = r.json()
    eq(doc["code"], "unsupported", "exec without libcurl")
    check("libcurl" in doc["error"] and "NOXRUNNER_LIBCURL" in doc["error"],
          "the message names libcurl and the variable", doc)
    r = noxrc("--local", "health", env=env)
    expect(r, 0, "local mode without libcurl")


def find_server():
    build = os.environ.get("NOX_TEST_BUILD_DIR")
    cands = []
    if build:
        cands.append(os.path.join(build, "server", "noxrunnerd"))
    cands.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(NOXRC)))), "server", "noxrunnerd"))
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return None


class Server:
    """A real noxrunnerd on an ephemeral port with its own state directory."""

    def __init__(self):
        binary = find_server()
        if not binary:
            raise Skip("noxrunnerd is not built yet")
        try:
            h = subprocess.run([binary, "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10, env=base_env())
        except subprocess.TimeoutExpired:
            raise Skip("noxrunnerd is not built yet (--help did not return)")
        text = h.stdout.decode("utf-8", "replace")
        if "bring-up placeholder" in text or h.returncode != 0:
            raise Skip("noxrunnerd is not built yet")
        need_isolation()
        self.state = tempfile.mkdtemp(prefix="server-state-", dir=TMP_ROOT)
        args = [binary]
        port_file = None
        if "--listen" in text and "--port-file" in text:
            # Port 0 and the port file: no race for a free port.
            port_file = self.state + ".port"
            args += ["--listen", "127.0.0.1:0", "--port-file", port_file]
        elif "--listen" in text:
            args += ["--listen", "127.0.0.1:%d" % free_port()]
        elif "--port" in text:
            args += ["--port", str(free_port())]
            if "--bind" in text:
                args += ["--bind", "127.0.0.1"]
        else:
            raise Skip("noxrunnerd is not built yet (its --help names no --listen or --port)")
        if "--state-dir" in text:
            args += ["--state-dir", self.state]
        env = base_env({"NOXRUNNER_STATE_DIR": self.state})
        # Its log goes to a file: a pipe nobody reads could fill and stall it.
        self.log = open(self.state + ".log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)
        port = None
        deadline = time.monotonic() + 15
        while port_file and port is None:
            try:
                with open(port_file) as f:
                    port = int(f.read().strip())
            except (OSError, ValueError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise Skip("noxrunnerd is not built yet (it wrote no port file)")
                time.sleep(0.05)
        if port is None:
            port = int(args[args.index("--listen") + 1].rsplit(":", 1)[1]) if "--listen" in args \
                else int(args[args.index("--port") + 1])
        self.url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except Exception:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Skip("noxrunnerd is not built yet (it did not answer /healthz)")
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.state, ignore_errors=True)

    def __call__(self, *args, **kw):
        return noxrc(*(["--base-url", self.url] + list(args)), **kw)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        r = self("list", "--json")
        try:
            for s in json.loads(r.out)["sandboxes"]:
                self("delete", s["sessionId"])
        except (ValueError, KeyError):
            pass
        self.stop()
        if exc_type is Failure:
            with open(self.state + ".log", "rb") as f:
                print("noxrunnerd's log:\n" + f.read()[-4000:].decode("utf-8", "replace"))
        return False


@test("server")
def test_against_noxrunnerd():
    with Server() as srv:
        r = srv("health")
        expect(r, 0)
        check(srv.url in r.out, "names the server", r.out)
        r = srv("create", "srv", "--ttl", "120")
        expect(r, 0)
        check("nox-srv" in r.out or "srv" in r.out, "pod name", r.out)
        r = srv("exec", "srv", "--", "sh", "-c", "printf 'a\\000b'; echo e >&2; exit 6")
        expect(r, 6)
        eq((r.out_bytes, r.err_bytes), (b"a\x00b", b"e\n"), "bytes through the server")
        r = srv("--json", "exec", "srv", "echo", "hi")
        expect(r, 0)
        eq(r.json()["stdout"], "hi\n", "JSON through the server")
        r = srv("--json", "list")
        expect(r, 0)
        check("srv" in [s["sessionId"] for s in r.json()["sandboxes"]], "list", r.out)
        r = srv("shell", "srv", input=b"cd /tmp\npwd\n/bin/pwd\n")
        expect(r, 0)
        eq(r.out, "/tmp\n/tmp\n", "shell through the server")
        # Ctrl-C in the shell abandons the request: back at the prompt at once.
        p = Pty(["--base-url", srv.url, "shell", "srv"])
        p.read_until(prompt_for("srv", "/workspace"))
        p.send(b"sleep 5\r")
        time.sleep(1.0)
        start = time.monotonic()
        p.send(b"\x03")
        p.read_until(prompt_for("srv", "/workspace"), timeout=10)
        took = time.monotonic() - start
        check(took < 3, "Ctrl-C through the server took %.1f s" % took)
        p.send(b"echo still here\r")
        check(b"still here" in p.read_until(prompt_for("srv", "/workspace")), "shell goes on")
        p.send(b"exit\r")
        eq(p.wait(), 0, "exit")
        r = srv("--json", "exec", "nothere", "true")
        expect(r, 1)
        doc = r.json()
        eq((doc["code"], doc["status"]), ("not_found", 404), "404 through the server")
        check("does not exist" in doc["error"], "the server's message", doc)
        r = srv("--json", "info", "srv")
        expect(r, 0)
        eq(r.json()["sessionId"], "srv", "info through the server")
        # Files through the server, when the archive module is there.
        path = os.path.join(TMP_ROOT, "srv.txt")
        with open(path, "w") as f:
            f.write("via server\n")
        r = srv("upload", "srv", path)
        if "bring-up placeholder" not in r.err:
            expect(r, 0, "upload through the server")
            dest = tempfile.mkdtemp(prefix="srv-dl-", dir=TMP_ROOT)
            r = srv("download", "srv", "--extract", dest)
            expect(r, 0, "download through the server")
            with open(os.path.join(dest, "srv.txt")) as f:
                eq(f.read(), "via server\n", "round trip through the server")
        r = srv("delete", "srv")
        expect(r, 0)
        r = srv("delete", "srv")
        expect(r, 1, "second delete")


class TlsForwarder:
    """A throw-away CA and certificate (tests/tls/make-certs.sh) and a TLS
    forwarder (tests/tls/tls_forwarder.py) in front of a plain server."""

    def __init__(self, target_url):
        if not shutil.which("openssl"):
            raise Skip("the openssl command is missing (it makes the test's certificates)")
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.dir = tempfile.mkdtemp(prefix="tls-", dir=TMP_ROOT)
        certs = os.path.join(self.dir, "certs")
        subprocess.run(["sh", os.path.join(here, "tls", "make-certs.sh"), certs], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        self.ca = os.path.join(certs, "ca.pem")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "forwarder.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(here, "tls", "tls_forwarder.py"),
             "--target", target_url.split("://", 1)[1],
             "--serve", os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"),
             port_file], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Failure("the TLS forwarder did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            self.url = "https://127.0.0.1:%d" % int(f.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


def start_gateway(args, workdir):
    """noxrunnerd in gateway mode on an ephemeral port: (process, url), or
    (process, None) when it exited first."""
    port_file = os.path.join(workdir, "gw-%d.port" % len(os.listdir(workdir)))
    log = open(port_file + ".log", "wb")
    p = subprocess.Popen([find_server(), "--listen", "127.0.0.1:0", "--port-file", port_file]
                         + args, stdout=log, stderr=log, env=base_env())
    log.close()
    deadline = time.monotonic() + 15
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        if p.poll() is not None:
            return p, None
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            raise Failure("the gateway did not start")
        time.sleep(0.05)
    with open(port_file) as f:
        return p, "http://127.0.0.1:%d" % int(f.read())


def gateway_over_https(url, ca, workdir):
    p, gw = start_gateway(["--backend", url], workdir)
    if gw:
        # Without the CA it may start (the check happens per request): then
        # every call through it fails.
        r = noxrc("--base-url", gw, "health")
        p.terminate()
        p.wait(timeout=30)
        check(r.code != 0, "health through a gateway that does not trust the backend", r)
    p, gw = start_gateway(["--backend", url, "--backend-ca-file", ca], workdir)
    check(gw is not None, "the gateway with --backend-ca-file started")
    try:
        expect(noxrc("--base-url", gw, "health"), 0, "health through the https gateway")
        expect(noxrc("--base-url", gw, "create", "gw-tls", "--ttl", "120"), 0, "create")
        r = noxrc("--base-url", gw, "exec", "gw-tls", "--", "sh", "-c", "echo via-gateway")
        expect(r, 0, "exec through the https gateway")
        eq(r.out, "via-gateway\n", "output through the https gateway")
        expect(noxrc("--base-url", gw, "delete", "gw-tls"), 0, "delete")
    finally:
        p.terminate()
        p.wait(timeout=30)
    # Only an https:// backend takes it.
    r = subprocess.run([find_server(), "--backend", "http://127.0.0.1:1", "--backend-ca-file", ca],
                       capture_output=True, timeout=30, env=base_env())
    check(r.returncode == 2 and b"--backend-ca-file" in r.stderr, "refused for http://", r)


@test("server")
def test_https_with_ca_file():
    with Server() as srv:
        fwd = TlsForwarder(srv.url)
        try:
            url, ca = fwd.url, fwd.ca
            # The system's store does not trust the throw-away CA: refused,
            # saying so, with a hint at --ca-file.
            r = noxrc("--base-url", url, "health")
            expect(r, 1, "health without the CA")
            check("TLS certificate was not accepted" in r.err, "says the certificate", r.err)
            check("--ca-file" in r.err and "NOXRUNNER_CA_FILE" in r.err, "hints at --ca-file",
                  r.err)
            r = noxrc("--base-url", url, "--json", "exec", "box", "true")
            expect(r, 1)
            doc = r.json()
            eq(doc["code"], "connect", "exec without the CA")
            check("certificate" in doc["error"] and "--ca-file" in doc["hint"], "JSON", doc)

            def tls(*args, **kw):
                return noxrc("--base-url", url, "--ca-file", ca, *args, **kw)
            expect(tls("health"), 0, "health with --ca-file")
            expect(tls("create", "tls", "--ttl", "120"), 0, "create over https")
            r = tls("exec", "tls", "--", "sh", "-c", "echo out; echo err >&2; exit 4")
            expect(r, 4, "exec over https")
            eq((r.out, r.err), ("out\n", "err\n"), "output over https")
            path = os.path.join(fwd.dir, "up.txt")
            with open(path, "w") as f:
                f.write("over tls\n")
            expect(tls("upload", "tls", path), 0, "upload over https")
            dest = os.path.join(fwd.dir, "down")
            expect(tls("download", "tls", "--extract", dest), 0, "download over https")
            with open(os.path.join(dest, "up.txt")) as f:
                eq(f.read(), "over tls\n", "round trip over https")
            r = tls("shell", "tls", input=b"cat up.txt\n")
            expect(r, 0, "shell over https")
            eq(r.out, "over tls\n", "shell output over https")
            r = tls("--json", "list")
            expect(r, 0)
            check("tls" in [s["sessionId"] for s in r.json()["sandboxes"]], "list", r.out)
            # NOXRUNNER_CA_FILE is the default of --ca-file.
            r = noxrc("--base-url", url, "exec", "tls", "cat", "up.txt",
                      env={"NOXRUNNER_CA_FILE": ca})
            expect(r, 0, "NOXRUNNER_CA_FILE")
            eq(r.out, "over tls\n", "exec with NOXRUNNER_CA_FILE")
            expect(tls("delete", "tls"), 0, "delete over https")
            # A CA file that is not there is named.
            missing = os.path.join(fwd.dir, "missing.pem")
            r = noxrc("--base-url", url, "--ca-file", missing, "health")
            expect(r, 1, "missing CA file")
            check(missing in r.err, "names the CA file", r.err)
            # noxrunnerd in gateway mode in front of the https:// backend:
            # refuses to start without the CA, serves with --backend-ca-file.
            gateway_over_https(url, ca, fwd.dir)
        finally:
            fwd.stop()


# ======================================================================

def main():
    global NOXRC, TMP_ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--noxrc", required=True)
    ap.add_argument("--group", action="append",
                    help="basic, local, shell, transfer, http, server (default: all)")
    ap.add_argument("-k", dest="pattern", help="run tests whose name contains this")
    args = ap.parse_args()
    NOXRC = os.path.abspath(args.noxrc)
    TMP_ROOT = tempfile.mkdtemp(prefix="noxrc-test-")
    passed = skipped = 0
    failed = []
    try:
        for group, name, fn in TESTS:
            if args.group and group not in args.group:
                continue
            if args.pattern and args.pattern not in name:
                continue
            start = time.monotonic()
            print("--- %s/%s" % (group, name), flush=True)
            try:
                fn()
            except Skip as e:
                skipped += 1
                print("    skipped, because %s" % e, flush=True)
                continue
            except Exception:
                failed.append(name)
                print("    FAILED\n" + traceback.format_exc(), flush=True)
                continue
            passed += 1
            print("    ok (%.1f s)" % (time.monotonic() - start), flush=True)
    finally:
        shutil.rmtree(TMP_ROOT, ignore_errors=True)
    print("%d passed, %d skipped, %d failed%s" % (passed, skipped, len(failed),
                                                   (": " + ", ".join(failed)) if failed else ""))
    if failed:
        return 1
    if passed == 0 and skipped > 0:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
