#!/usr/bin/python3
"""A writer on the service's host feeding frames through the local frame socket.

Usage: local_writer.py SOCKET TRANSMISSION_ID WRITER_ID WIDTHxHEIGHT TRANSPORT FRAMES B,G,R [PRIORITY] [RATE]
TRANSPORT: stream | memfd | memfd-unsealed (a memfd without seals, which the service refuses).
Sends FRAMES solid BGR24 frames of colour B,G,R at RATE per second (default 10; 0: as fast as
the service takes them), then hangs up (which closes the
writer). Prints the service's ready line (and any error line it sends later); exits 1 if it
refused the header. Standard library only; memfd needs Linux and Python 3.9+.
"""
import fcntl
import json
import os
import socket
import sys
import time

path, transmission, writer, size, transport, frames, colour = sys.argv[1:8]
priority = int(sys.argv[8]) if len(sys.argv) > 8 else 0
rate = float(sys.argv[9]) if len(sys.argv) > 9 else 10.0
width, height = (int(n) for n in size.split("x"))
pixel = bytes(int(c) for c in colour.split(","))
frame = pixel * (width * height)

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
header = {"transmission_id": transmission, "writer_id": writer, "width": width,
          "height": height, "priority": priority, "transport": transport.split("-")[0]}
sock.sendall((json.dumps(header) + "\n").encode())
answers = sock.makefile("r")
answer = answers.readline()
print(answer.strip(), flush=True)
if json.loads(answer)["type"] != "ready":
    sys.exit(1)

for _ in range(int(frames)):
    if transport.startswith("memfd"):
        # A new sealed memfd per frame: once sealed against writes it is the service's to share.
        fd = os.memfd_create("frame", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        view = memoryview(frame)
        while view:
            view = view[os.write(fd, view):]
        if transport == "memfd":
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK
                        | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        try:
            socket.send_fds(sock, [b"f"], [fd])
        except (BrokenPipeError, ConnectionResetError):
            break
        finally:
            os.close(fd)
    else:
        sock.sendall(frame)
    if rate > 0:
        time.sleep(1 / rate)
try:
    sock.shutdown(socket.SHUT_WR)
except OSError:
    pass
# Whatever the service said after the ready line (an error), until it hangs up too.
for line in answers:
    print(line.strip(), flush=True)
sock.close()
