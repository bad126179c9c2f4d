#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 that can hold back what the server sends.

pause_proxy.py PORT_FILE TARGET_PORT PAUSE_FILE LIFETIME [PAUSE_AFTER]
Writes its port to PORT_FILE and relays every connection to 127.0.0.1:TARGET_PORT. While
PAUSE_FILE exists nothing goes from the server to the client (the client waits, as for a slow
server). With PAUSE_AFTER it makes PAUSE_FILE itself once that many bytes went to the clients.
Ends after LIFETIME seconds."""
import os
import select
import socket
import sys
import time

port_file, target, pause, life = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
after = int(sys.argv[5]) if len(sys.argv) > 5 else -1
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
pairs = {}  # socket -> (its peer, True when it is the server's side)
down = 0
end = time.time() + life
while time.time() < end:
    held = os.path.exists(pause)
    rd = [ls] + [s for s, (_, server) in pairs.items() if not (server and held)]
    r, _, _ = select.select(rd, [], [], 0.05)
    for s in r:
        if s is ls:
            c, _ = ls.accept()
            u = socket.create_connection(("127.0.0.1", target))
            pairs[c] = (u, False)
            pairs[u] = (c, True)
            continue
        if s not in pairs:
            continue
        peer, server = pairs[s]
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if not d:
            for x in (s, peer):
                pairs.pop(x, None)
                x.close()
            continue
        try:
            peer.sendall(d)
        except OSError:
            continue
        if server:
            down += len(d)
            if 0 <= after <= down:
                open(pause, "w").close()
                after = -1
