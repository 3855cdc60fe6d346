#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Faults: noxrunnerd killed mid-operation, a full disk, an unwritable
state directory. Always the real server and the real local backend
(isolated sandboxes), driven over raw HTTP.

Two groups (`-k kill_`, `-k fs_`), registered as two ctest tests in
tests/faults.cmake:

kill_  noxrunnerd SIGKILLed during an upload (while the archive streams
       in, and while its entries are being moved into place), an exec and
       a delete, then restarted on the same state directory. Every sandbox
       that existed is still there (listed, runs commands); an upload is
       all old or all new, never half of each; a sandbox deleted half-way
       is fully there or fully gone; nothing leaks: no process of a gone
       sandbox or of an exec killed with the server, no mount referencing
       the state directory, no cgroup directory of a gone sandbox, nothing
       left in tmp/, trash/, uids/ or a sandbox's staging/ once the
       restarted server has swept.
fs_    (root: a tmpfs of its own) a state directory on an 8 MiB tmpfs:
       uploads and commands that fill it get clear errors and change
       nothing they should not, and everything works again once space is
       freed; then the same tmpfs remounted read-only: creating fails
       clearly, existing sandboxes still run commands and download,
       the server does not crash, and a server started on it refuses
       to, saying why.

The sweep removes a leftover only once it is a minute old, and its deep
part (staging directories, uid slots) runs at most once a minute; rather
than wait two minutes, the kill tests age the leftovers and the sweep's
mark with utime(), as if the crash had happened two minutes earlier.

A destructive step only ever touches what the test made: its own
temporary directories, its own tmpfs, its own sandboxes and server.

Usage: python3 tests/contract/test_faults.py --server build/server/noxrunnerd [-k kill_|fs_]
"""

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noxtest import (Server, Skip, expect_error, holder_processes, make_tgz, run,  # noqa: E402
                     slow_factor, wait_until)

STAGING_PREFIX = ".nox-extract-"


# ---------------------------------------------------------------- helpers


def archive(files, level=1):
    """A tar.gz of {name: bytes}, all entries with a fixed mtime."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=level) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def versioned(version, n, pad=0):
    """n files d/fNNNNN whose first line says @version; @pad random bytes
    after it (so that the archive does not compress away)."""
    return {"d/f%05d" % i: ("%s %d\n" % (version, i)).encode() + os.urandom(pad)
            for i in range(n)}


def upload(srv, sid, body, dest=None):
    path = "/v1/sandboxes/%s/files/upload" % sid
    if dest:
        path += "?dest=" + dest
    return srv.request("POST", path, body=body, headers={"Content-Type": "application/x-tar"})


def versions_in_sandbox(srv, sid, n):
    """{version: count} of the first lines of d/f*, read by a command in
    the sandbox; also fails on a file missing."""
    doc = srv.exec(sid, ["sh", "-c", "cd /workspace/d && ls | wc -l && head -q -n1 f* | "
                         "cut -d' ' -f1 | sort | uniq -c"])
    assert doc["exitCode"] == 0, doc
    lines = doc["stdout"].split("\n")
    assert int(lines[0]) == n, "expected %d files in /workspace/d, found %s" % (n, lines[0])
    counts = {}
    for line in lines[1:]:
        if line.strip():
            c, v = line.split()
            counts[v] = int(c)
    return counts


def versions_on_host(ws, n):
    """The same, read straight from the state directory (the server may be
    dead)."""
    counts = {}
    for i in range(n):
        try:
            with open(os.path.join(ws, "d", "f%05d" % i), "rb") as f:
                v = f.readline().split()[0].decode()
        except FileNotFoundError:
            v = "missing"
        counts[v] = counts.get(v, 0) + 1
    return counts


def sandbox_dir(srv, sid):
    return os.path.join(srv.state, "sandboxes", sid)


def meta(srv, sid):
    with open(os.path.join(sandbox_dir(srv, sid), "meta.json")) as f:
        return json.load(f)


def files_under(path):
    n = 0
    for _, _, files in os.walk(path):
        n += len(files)
    return n


def pid_alive(pid):
    """True when @pid runs and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def processes_with(marker):
    """Pids of processes on this host whose command line has @marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if marker.encode() in f.read().replace(b"\0", b" ") and pid_alive(int(entry)):
                    found.append(int(entry))
        except OSError:
            pass
    return found


def mounts_under(path):
    """Mount points at or below @path in this process's mount namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == path or mnt.startswith(path + "/"):
                out.append(mnt)
    return out


def kill_server(srv):
    srv.proc.kill()
    srv.wait(30)
    assert srv.proc.returncode == -signal.SIGKILL, srv.proc.returncode


def age_leftovers(srv, seconds=120):
    """Makes every leftover the sweep looks at, and the mark of its last
    deep sweep, @seconds older (see the module's docstring). The mark goes
    last: a sweep between two utime() calls must not find it old and the
    leftovers young."""
    t = time.time() - seconds
    for sub in ("tmp", "trash", "uids"):
        d = os.path.join(srv.state, sub)
        for name in os.listdir(d):
            os.utime(os.path.join(d, name), (t, t), follow_symlinks=False)
    sbs = os.path.join(srv.state, "sandboxes")
    for sid in os.listdir(sbs):
        st = os.path.join(sbs, sid, "staging")
        if os.path.isdir(st):
            for name in os.listdir(st):
                os.utime(os.path.join(st, name), (t, t), follow_symlinks=False)
    mark = os.path.join(srv.state, ".swept")
    if os.path.exists(mark):
        os.utime(mark, (t, t))


def leftovers(srv, live_slots):
    """What is left that should not be: entries in tmp/ and trash/, in
    any sandbox's staging/, and uid slots no live sandbox holds."""
    out = []
    for sub in ("tmp", "trash"):
        out += ["%s/%s" % (sub, n) for n in os.listdir(os.path.join(srv.state, sub))]
    sbs = os.path.join(srv.state, "sandboxes")
    for sid in os.listdir(sbs):
        st = os.path.join(sbs, sid, "staging")
        if os.path.isdir(st):
            out += ["sandboxes/%s/staging/%s" % (sid, n) for n in os.listdir(st)]
    uids = os.path.join(srv.state, "uids")
    out += ["uids/%s" % n for n in os.listdir(uids)
            if n.isdigit() and int(n) not in live_slots and not spare_of_live(uids, n)]
    return out


def spare_of_live(uids, name):
    """Whether uid slot @name is a prepared holder's of a process that
    lives ("spare PID START", the start time of /proc/PID/stat): a
    running server's spares are no leftovers; a killed one's are."""
    try:
        with open(os.path.join(uids, name)) as f:
            words = f.read().split()
        if len(words) != 3 or words[0] != "spare":
            return False
        with open("/proc/%s/stat" % words[1]) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2:].split()[19] == words[2]
    except (OSError, ValueError, IndexError):
        return False


def check_recovered(srv, live, gone, before):
    """After a restart: every sandbox of @live is listed and runs commands,
    every one of @gone is gone for good, and nothing leaks. @before maps
    each sandbox id to its meta.json from before the kill."""
    r = srv.get("/v1/sandboxes")
    assert r.status == 200, r
    listed = {sb["sessionId"] for sb in r.json()["sandboxes"]}
    for sid in live:
        assert sid in listed, "sandbox %s is not listed after the restart: %s" % (sid, listed)
        doc = srv.exec(sid, ["sh", "-c", "echo alive; ls -A /workspace"])
        assert doc["exitCode"] == 0 and doc["stdout"].startswith("alive\n"), doc
        stray = [n for n in doc["stdout"].split() if n.startswith(STAGING_PREFIX)]
        assert not stray, "staging leftovers in the workspace of %s: %s" % (sid, stray)
    for sid in gone:
        assert sid not in listed, "deleted sandbox %s is still listed" % sid
        expect_error(srv.get("/v1/sandboxes/" + sid), 404)
        assert not os.path.exists(sandbox_dir(srv, sid))
        m = before[sid]
        for d in m.get("cgroupDirs", []):
            assert wait_until(lambda: not os.path.exists(d), 10), \
                "cgroup %s of deleted sandbox %s is still there" % (d, sid)
        if m.get("holderPid"):
            assert wait_until(lambda: not pid_alive(m["holderPid"]), 10), \
                "holder %d of deleted sandbox %s still runs" % (m["holderPid"], sid)

    # Processes: besides the server, only the holders of live sandboxes
    # hold anything under the test's directory.
    holders = {meta(srv, sid).get("holderPid") for sid in live}
    others = [p for p in holder_processes(srv.tmp) if p != srv.proc.pid and p not in holders]
    assert not others, "processes other than the live sandboxes' holders hold files under %s: " \
        "%s" % (srv.tmp, others)
    for sid in live:
        pid = meta(srv, sid).get("holderPid")
        assert pid and pid_alive(pid), "the holder of %s does not run" % sid
    assert not mounts_under(srv.tmp), "mounts left under %s: %s" % (srv.tmp, mounts_under(srv.tmp))

    # Leftovers, once the restarted server has swept.
    live_slots = {meta(srv, sid).get("uidSlot") for sid in live}
    found = leftovers(srv, live_slots)
    if found:
        print("    left by the kill, for the sweep: %s" % ", ".join(
            n if len(n) < 60 else n[:57] + "..." for n in found))
    age_leftovers(srv)
    left = wait_until(lambda: not leftovers(srv, live_slots), 15 * slow_factor())
    assert left, "left after the sweep: %s" % leftovers(srv, live_slots)


def delete_checked(srv, sid):
    """Deletes @sid and checks that its holder, processes and cgroups went
    with it (also for one whose holder and cgroups were made again after a
    restart)."""
    m = meta(srv, sid)
    r = srv.delete(sid)
    assert r.status == 204, "delete %s: %r" % (sid, r)
    for d in m.get("cgroupDirs", []):
        assert wait_until(lambda: not os.path.exists(d), 10), "cgroup %s of %s is left" % (d, sid)
    assert wait_until(lambda: not pid_alive(m["holderPid"]), 10), "holder of %s left" % sid


def make_many_files(srv, sid, n):
    doc = srv.exec(sid, ["sh", "-c", "mkdir -p /workspace/many && cd /workspace/many && "
                         "seq 1 %d | xargs touch && ls | wc -l" % n], timeoutSeconds=120)
    assert doc["exitCode"] == 0 and int(doc["stdout"]) == n, doc


def start_busy_tree(srv, sid, n, tag):
    """@n background processes that outlive the exec that started them;
    returns their pids (on the host). @tag makes their command line this
    test's own."""
    marker = "1000.%d%d" % (os.getpid(), tag)
    doc = srv.exec(sid, ["sh", "-c", "for i in $(seq %d); do sleep %s </dev/null >/dev/null "
                         "2>&1 & done; echo started" % (n, marker)])
    assert doc["exitCode"] == 0, doc
    pids = wait_until(lambda: len(processes_with(marker)) == n and processes_with(marker), 10)
    assert pids, "the busy tree of %s did not start" % sid
    return pids


# ---------------------------------------------------------------- killed mid-operation


def test_kill_during_upload_stream(srv):
    """SIGKILL while the archive is still arriving: the extraction is half
    way through its staging directory, nothing has moved into place. After
    the restart the workspace holds the old files, all of them."""
    sid, n = "kstream", 300
    srv.create(sid)
    r = upload(srv, sid, archive(versioned("old", n)))
    assert r.status == 200, r
    body = archive(versioned("new", n, pad=4096))
    staging = os.path.join(sandbox_dir(srv, sid), "staging")
    before = {sid: meta(srv, sid)}

    s = socket.create_connection((srv.host, srv.port))
    try:
        s.sendall(("POST /v1/sandboxes/%s/files/upload HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n"
                   % (sid, len(body))).encode())
        s.sendall(body[:len(body) // 2])  # then nothing: the upload waits for the rest
        staged = []

        def settled():
            staged.append(files_under(staging))
            return len(staged) > 3 and staged[-1] > 0 and staged[-1] == staged[-4]
        assert wait_until(settled, 20 * slow_factor(), 0.1), \
            "the first half of the archive never reached the staging directory: %s" % staged[-5:]
        kill_server(srv)
    finally:
        s.close()
    k = staged[-1]
    assert 0 < k < n, "phase not reached: %d of %d entries staged" % (k, n)
    print("    killed with %d of %d entries staged" % (k, n))
    ws = os.path.join(sandbox_dir(srv, sid), "workspace")
    assert versions_on_host(ws, n) == {"old": n}, versions_on_host(ws, n)

    srv.start()
    assert versions_in_sandbox(srv, sid, n) == {"old": n}
    check_recovered(srv, [sid], [], before)
    # And the sandbox takes the new version whole.
    assert upload(srv, sid, body).status == 200
    assert versions_in_sandbox(srv, sid, n) == {"new": n}
    delete_checked(srv, sid)


def test_kill_during_upload_merge(srv):
    """SIGKILL after the archive was read whole, while its entries are
    being moved into place: the upload had committed, so the restarted
    server finishes it. Whatever the moment, the files are all old or all
    new, never some of each."""
    sid, n = "kmerge", 3000
    srv.create(sid)
    assert upload(srv, sid, archive(versioned("old", n))).status == 200
    body = archive(versioned("new", n))
    ws = os.path.join(sandbox_dir(srv, sid), "workspace")
    first = os.path.join(ws, "d", "f00000")
    old_ino = os.stat(first).st_ino
    before = {sid: meta(srv, sid)}

    done = {}

    def send():
        try:
            done["r"] = upload(srv, sid, body)
        except OSError as e:
            done["e"] = e
    t = threading.Thread(target=send)
    t.start()
    # The first entry to move is d/f00000 (the merge goes in name order):
    # the moment it is new, the merge has begun.
    deadline = time.time() + 60 * slow_factor()
    while os.stat(first).st_ino == old_ino and time.time() < deadline and "r" not in done:
        pass
    kill_server(srv)
    t.join()
    on_host = versions_on_host(ws, n)
    phase = ("mid-merge (%d of %d moved)" % (on_host.get("new", 0), n)
             if on_host.get("old") and on_host.get("new") else
             "after the merge" if on_host.get("new") == n else "before the merge")
    print("    killed %s" % phase)

    srv.start()
    counts = versions_in_sandbox(srv, sid, n)
    assert counts in ({"old": n}, {"new": n}), \
        "killed %s; after the restart the upload is half there: %s" % (phase, counts)
    if on_host.get("new"):
        assert counts == {"new": n}, "a committed upload was rolled back: %s" % counts
    check_recovered(srv, [sid], [], before)
    delete_checked(srv, sid)


def test_kill_during_exec(srv):
    """SIGKILL while a command runs: the command dies with its connection
    (it does not run on for nobody), the sandbox and its holder live on."""
    sid = "kexec"
    srv.create(sid)
    srv.exec(sid, ["sh", "-c", "echo kept > /workspace/kept"])
    marker = "300.%d" % os.getpid()
    before = {sid: meta(srv, sid)}
    holder = before[sid]["holderPid"]
    result = {}

    def long_exec():
        try:
            result["r"] = srv.request("POST", "/v1/sandboxes/%s/exec" % sid, body={
                "cmd": ["sh", "-c", "sleep %s & while :; do :; done" % marker],
                "timeoutSeconds": 600})
        except OSError as e:
            result["e"] = e
    t = threading.Thread(target=long_exec)
    t.start()
    assert wait_until(lambda: len(processes_with(marker)) >= 2, 20 * slow_factor()), \
        "the command never started"
    kill_server(srv)
    t.join()
    assert "e" in result, "the exec answered although the server was killed: %r" % result
    gone = wait_until(lambda: not processes_with(marker), 10 * slow_factor())
    assert gone, "the command of the exec killed with the server still runs: pids %s" \
        % processes_with(marker)
    assert pid_alive(holder), "the sandbox's holder died with the server"

    srv.start()
    doc = srv.exec(sid, ["cat", "/workspace/kept"])
    assert doc["stdout"] == "kept\n", doc
    assert meta(srv, sid)["holderPid"] == holder, "the holder was restarted, not kept"
    check_recovered(srv, [sid], [], before)
    delete_checked(srv, sid)


def removing(trash, n):
    """True once the removal of the files of a sandbox in @trash has begun
    (fewer than @n left in its workspace/many, or that gone)."""
    for e in os.listdir(trash):
        try:
            if len(os.listdir(os.path.join(trash, e, "workspace", "many"))) < n:
                return True
        except FileNotFoundError:
            return True
    return False


def delete_and_kill(srv, sid, when, n, busy):
    """Sends DELETE for @sid and SIGKILLs the server at @when ("early": as
    soon as anything of the delete shows, the first of the @busy processes
    killed; "late": once the files of the sandbox, moved to the trash, are
    being removed). Returns the phase reached."""
    m = meta(srv, sid)
    sbdir = sandbox_dir(srv, sid)
    trash = os.path.join(srv.state, "trash")
    t = threading.Thread(target=lambda: _quiet(lambda: srv.delete(sid)))
    t.start()
    deadline = time.time() + 30 * slow_factor()
    while time.time() < deadline:
        renamed = not os.path.exists(sbdir)
        if when == "early" and (renamed or not pid_alive(busy[0]) or not pid_alive(busy[-1])):
            break
        if when == "late" and renamed and removing(trash, n):
            break
    kill_server(srv)
    t.join()
    if os.path.exists(sbdir):
        phase = "before the move to the trash, %d of %d processes killed, holder %s" % (
            len([p for p in busy if not pid_alive(p)]), len(busy),
            "still running" if pid_alive(m["holderPid"]) else "stopped")
    else:
        left = [files_under(os.path.join(trash, e)) for e in os.listdir(trash)]
        phase = "moved to the trash, %s of its %d files left" % (left or "none", n + 2)
    return phase


def _quiet(fn):
    try:
        fn()
    except OSError:
        pass


def test_kill_during_delete(srv):
    """SIGKILL during deletes of sandboxes with many files and a busy
    process tree, once as early as possible and once while the files are
    being removed: each is either fully there (listed, runs commands, every
    file intact) or fully gone (no holder, processes, cgroups, uid slot or
    files left)."""
    n = 5000
    sids = ["kdel-early", "kdel-late"]
    before, busy = {}, {}
    for tag, sid in enumerate(sids):
        srv.create(sid)
        make_many_files(srv, sid, n)
        busy[sid] = start_busy_tree(srv, sid, 20, tag)
        before[sid] = meta(srv, sid)
    keeper = "kdel-keeper"
    srv.create(keeper)
    srv.exec(keeper, ["sh", "-c", "echo kept > /workspace/kept"])
    before[keeper] = meta(srv, keeper)

    phases = {}
    for sid, when in zip(sids, ["early", "late"]):
        if not srv.alive():
            srv.start()
        phases[sid] = delete_and_kill(srv, sid, when, n, busy[sid])
        print("    %s: killed with the delete %s" % (sid, phases[sid]))

    srv.start()
    live = [keeper] + [sid for sid in sids if os.path.exists(sandbox_dir(srv, sid))]
    gone = [sid for sid in sids if sid not in live]
    for sid in live:
        if sid == keeper:
            continue
        doc = srv.exec(sid, ["sh", "-c", "ls /workspace/many | wc -l"])
        assert doc["exitCode"] == 0 and int(doc["stdout"]) == n, \
            "%s survived its delete but lost files: %r" % (sid, doc)
    assert "kdel-late" in gone, "the delete killed while removing files came back"
    for sid in gone:
        alive = [p for p in busy[sid] if pid_alive(p)]
        assert not alive, "processes of deleted sandbox %s still run: %s" % (sid, alive)
    assert srv.exec(keeper, ["cat", "/workspace/kept"])["stdout"] == "kept\n"
    check_recovered(srv, live, gone, before)
    for sid in live:
        delete_checked(srv, sid)


# ---------------------------------------------------------------- a state directory of our own


class Tmpfs:
    """A tmpfs of @size mounted in a temporary directory the test made,
    with a noxrunnerd whose state directory is on it. Unmounted (after the
    server's clean-up) however the test ends."""

    def __init__(self, binary, size):
        if os.geteuid() != 0:
            raise Skip("mounting a tmpfs needs root")
        self.dir = tempfile.mkdtemp(prefix="noxrunnerd-faults-")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                            self.mnt], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.mnt)
            os.rmdir(self.dir)
            raise Skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
        self.srv = Server(binary, tmp=self.dir, state=os.path.join(self.mnt, "state"))

    def remount(self, mode):
        r = subprocess.run(["mount", "-o", "remount,%s" % mode, self.mnt], capture_output=True,
                           text=True)
        assert r.returncode == 0, "remount %s %s: %s" % (mode, self.mnt, r.stderr)

    def used(self):
        st = os.statvfs(self.mnt)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def close(self):
        problems = []
        try:
            self.remount("rw")
        except AssertionError as e:
            problems.append(str(e))
        # The server's clean-up deletes its sandboxes and removes the
        # directory, but for the mount point, busy until unmounted.
        problems += self.srv.cleanup()
        r = subprocess.run(["umount", self.mnt], capture_output=True, text=True)
        if r.returncode != 0:
            problems.append("umount %s: %s" % (self.mnt, r.stderr.strip()))
        elif not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        if mounts_under(self.dir):
            problems.append("still mounted: %s" % mounts_under(self.dir))
        return problems

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        problems = self.close()
        if problems and exc[0] is None:
            raise AssertionError("clean-up of %s: %s" % (self.dir, "; ".join(problems)))
        return False


def no_space(resp, status):
    msg = expect_error(resp, status)
    assert "no space left on device" in msg.lower(), "the error does not say the disk is " \
        "full: %r" % msg
    assert "ephemeral storage limit" not in msg, "a full disk blamed on the sandbox's " \
        "limit: %r" % msg
    assert "%s" not in msg, "a format directive left in the message: %r" % msg
    return msg


def test_fs_full_upload_and_exec(srv):
    """An 8 MiB state directory: an upload of more than fits, then a command
    that fills it from inside the sandbox."""
    with Tmpfs(srv.binary, "8m") as fs:
        s = fs.srv.start()
        s.create("full")
        old = {"d/a": b"old a\n", "d/b": b"old b\n"}
        assert upload(s, "full", archive(old)).status == 200
        used = fs.used()

        # More than fits: refused, the old files as they were, nothing staged.
        big = archive({"d/a": b"new a\n", "d/b": b"new b\n", "d/big": os.urandom(12 << 20)})
        r = upload(s, "full", big)
        print("    upload over a full disk: %d %s" % (r.status, r.body.decode()[:200]))
        no_space(r, 413)
        assert s.healthy()
        doc = s.exec("full", ["sh", "-c", "cat /workspace/d/a /workspace/d/b; ls -A /workspace/d"])
        assert doc["stdout"] == "old a\nold b\na\nb\n", doc
        assert not os.listdir(os.path.join(sandbox_dir(s, "full"), "staging"))
        assert fs.used() <= used + 64 * 1024, "the refused upload left %d bytes behind" \
            % (fs.used() - used)

        # A command that fills the disk from inside.
        doc = s.exec("full", ["sh", "-c", "head -c 16M /dev/zero > /workspace/fill"])
        assert doc["exitCode"] != 0 and "no space left" in doc["stderr"].lower(), doc
        assert s.healthy()
        # While it is full: a create fails clearly, uploads too; commands run.
        r = s.request("PUT", "/v1/sandboxes/other", body={"ttlSeconds": 60})
        if r.status != 200:
            print("    create on a full disk: %d %s" % (r.status, r.body.decode()[:200]))
            no_space(r, 500)
            assert not os.path.exists(sandbox_dir(s, "other"))
            assert not os.listdir(os.path.join(s.state, "tmp")), "a failed create left files"
        else:
            s.delete("other")
        no_space(upload(s, "full", archive({"d/c": b"c\n"})), 413)
        assert s.exec("full", ["echo", "still"])["stdout"] == "still\n"
        doc = s.exec("full", ["sh", "-c", "cat /workspace/d/a /workspace/d/b"])
        assert doc["stdout"] == "old a\nold b\n", doc

        # Space freed: everything works again.
        assert s.exec("full", ["rm", "/workspace/fill"])["exitCode"] == 0
        s.create("other")
        doc = s.exec("other", ["sh", "-c", "echo fresh > /workspace/f && cat /workspace/f"])
        assert doc["stdout"] == "fresh\n", doc
        assert upload(s, "full", archive({"d/a": b"new a\n"})).status == 200
        assert s.exec("full", ["cat", "/workspace/d/a"])["stdout"] == "new a\n"
        assert s.alive() and s.healthy()
        s.delete("full")
        s.delete("other")


def test_fs_readonly_state_dir(srv):
    """The state directory's file system goes read-only under a running
    server (as ext4 does on errors): creating fails clearly, existing
    sandboxes still run commands and download, a delete refuses without
    breaking the sandbox, the server keeps going; a server started on it
    refuses to start and says why."""
    with Tmpfs(srv.binary, "16m") as fs:
        s = fs.srv.start()
        s.create("ro")
        assert upload(s, "ro", archive({"keep.txt": b"kept\n"})).status == 200
        fs.remount("ro")

        r = s.request("PUT", "/v1/sandboxes/ro2", body={"ttlSeconds": 60})
        print("    create on a read-only state directory: %d %s" % (r.status, r.body.decode()))
        expect_error(r, 500, "read-only file system")
        doc = s.exec("ro", ["cat", "/workspace/keep.txt"])
        assert doc["exitCode"] == 0 and doc["stdout"] == "kept\n", doc
        r = s.get("/v1/sandboxes/ro/files/download?src=/workspace/keep.txt")
        assert r.status == 200, r
        with tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz") as tar:
            assert tar.extractfile("keep.txt").read() == b"kept\n"
        expect_error(upload(s, "ro", archive({"x": b"x\n"})), 500, "read-only file system")
        expect_error(s.request("DELETE", "/v1/sandboxes/ro"), 500, "read-only file system")
        # The refused delete stopped nothing.
        assert s.exec("ro", ["cat", "/workspace/keep.txt"])["stdout"] == "kept\n"
        r = s.get("/v1/sandboxes")
        assert r.status == 200 and [sb["sessionId"] for sb in r.json()["sandboxes"]] == ["ro"], r
        # Not healthy (it cannot create), but up and answering.
        h = s.get("/healthz")
        expect_error(h, 503, "read-only file system")
        assert s.alive()
        rc = s.stop()
        assert rc == 0, "noxrunnerd exited with %r on a read-only state directory" % rc

        # A server started on it refuses, saying why; --check says it too.
        cmd = [srv.binary, "--listen", "127.0.0.1:0", "--state-dir", s.state]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60 * slow_factor())
        assert r.returncode == 1, "started on a read-only state directory: %r" % r
        assert "read-only file system" in r.stderr.lower() and s.state in r.stderr, r.stderr
        print("    startup: %s" % r.stderr.strip().splitlines()[-1])
        r = subprocess.run([srv.binary, "--check", "--state-dir", s.state],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=120 * slow_factor())
        line = [ln for ln in r.stdout.splitlines() if "local-backend" in ln]
        assert line and "\u2717" in line[0] and "read-only file system" in line[0].lower(), \
            r.stdout

        # Writable again: the same server starts and the sandbox is whole.
        fs.remount("rw")
        s.start()
        assert s.exec("ro", ["cat", "/workspace/keep.txt"])["stdout"] == "kept\n"
        s.delete("ro")


TESTS = [
    test_kill_during_upload_stream,
    test_kill_during_upload_merge,
    test_kill_during_exec,
    test_kill_during_delete,
    test_fs_full_upload_and_exec,
    test_fs_readonly_state_dir,
]

if __name__ == "__main__":
    run(TESTS, "noxrunnerd under faults: killed mid-operation, disk full, read-only state")
