#!/usr/bin/env python3
"""no_uidnext_proxy.py UPSTREAM_PORT PORTFILE: a loopback proxy to the test Dovecot that drops the
server's `* OK [UIDNEXT n]` lines (an EXAMINE answered as RFC 2060 servers do); the port it listens
on goes to PORTFILE. Line-based: for tests whose messages hold no such line."""
import os
import socket
import sys
import threading


def pump(src, dst, keep):
    try:
        for line in src.makefile("rb"):
            if keep(line):
                dst.sendall(line)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main():
    up, portfile = int(sys.argv[1]), sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(300)  # stops by itself
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        u = socket.create_connection(("127.0.0.1", up))
        threading.Thread(target=pump, args=(c, u, lambda ln: True), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, lambda ln: not ln.startswith(b"* OK [UIDNEXT ")),
                         daemon=True).start()


main()
