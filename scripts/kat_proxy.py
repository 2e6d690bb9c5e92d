#!/usr/bin/env python3
"""A recording TCP proxy for one TLS session (used by scripts/record-kat.sh).

    kat_proxy.py LISTEN_PORT TARGET_PORT OUT_DIR

Listens on 127.0.0.1:LISTEN_PORT (0: a port the system picks), accepts
exactly one connection, connects to 127.0.0.1:TARGET_PORT and copies bytes
both ways unchanged, appending everything the client sent to
OUT_DIR/c2s.bin and everything the server sent to OUT_DIR/s2c.bin. When one side closes (or resets), the proxy
half-closes the other side's write direction and keeps copying the other
way until that side closes too, then exits 0. It prints "LISTENING <port>"
on stdout once the socket is bound, so the caller knows where and when to
start the client. It gives up after TIMEOUT seconds without traffic (exit 2).

Nothing is parsed or changed: the files are the raw TCP byte streams, TLS
records and all.
"""

import os
import select
import socket
import sys

TIMEOUT = 20.0


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 64
    listen_port, target_port, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(1)
    print("LISTENING", listener.getsockname()[1], flush=True)
    listener.settimeout(TIMEOUT)
    client, _ = listener.accept()
    listener.close()
    server = socket.create_connection(("127.0.0.1", target_port), timeout=TIMEOUT)

    # (source socket, destination socket, recording file)
    with open(os.path.join(out_dir, "c2s.bin"), "wb") as c2s, open(
        os.path.join(out_dir, "s2c.bin"), "wb"
    ) as s2c:
        routes = {client: (server, c2s), server: (client, s2c)}
        open_sources = [client, server]
        while open_sources:
            ready, _, _ = select.select(open_sources, [], [], TIMEOUT)
            if not ready:
                print("kat_proxy: no traffic for %ss, giving up" % TIMEOUT, file=sys.stderr)
                return 2
            for src in ready:
                dst, record = routes[src]
                try:
                    data = src.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    record.write(data)
                    record.flush()
                    try:
                        dst.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    open_sources.remove(src)
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
    client.close()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
