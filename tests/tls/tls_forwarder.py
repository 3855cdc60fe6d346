#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TLS-terminating forwarder for the tests: accepts TLS connections and
relays the decrypted bytes to a plain TCP server (noxrunnerd), both ways,
as a reverse proxy in front of noxrunnerd would (docs/server.md).

    tls_forwarder.py --target 127.0.0.1:PORT --serve CERT KEY PORT_FILE [--serve ...]

Each --serve opens a listener on 127.0.0.1 on a port of the kernel's
choosing with that certificate, and writes the port to PORT_FILE (by
rename: a reader never sees it half written) once it listens. It relays
bytes, so keep-alive, chunked bodies and streamed downloads pass as they
are. A handshake the client refuses just closes that connection. Runs
until SIGTERM or SIGINT, or until its parent process goes away, so that a
test that crashed leaves nothing behind. Standard library only.
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
            pass


def handler(target_host, target_port):
    async def handle(client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))
    return handle


def quiet_handshake_failures(loop, context):
    # A client that refuses our certificate is what some tests are about;
    # asyncio would report each such handshake on stderr.
    exc = context.get("exception")
    if isinstance(exc, (ssl.SSLError, ConnectionError, OSError)):
        return
    loop.default_exception_handler(context)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="HOST:PORT of the plain server")
    ap.add_argument("--serve", nargs=3, action="append", required=True,
                    metavar=("CERT", "KEY", "PORT_FILE"))
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(quiet_handshake_failures)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    servers = []
    for cert, key, port_file in args.serve:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv = await asyncio.start_server(handler(host, int(port)), "127.0.0.1", 0, ssl=ctx)
        servers.append(srv)
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.sockets[0].getsockname()[1])
        os.rename(tmp, port_file)

    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            break
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
    for srv in servers:
        srv.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
