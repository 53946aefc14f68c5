#!/usr/bin/python3
"""A writer on the service's host feeding frames through the local frame socket.

Usage: local_writer.py SOCKET TRANSMISSION_ID WRITER_ID WIDTHxHEIGHT TRANSPORT FRAMES B,G,R [PRIORITY] [RATE]
TRANSPORT: stream | memfd | memfd_ring[:SLOTS] (default 4 slots, each filled only after the
service freed it) |
memfd-unsealed (a memfd without seals, which the service refuses) | memfd_ring-eager (names
slot 0 twice without waiting for it, which the service refuses).
Sends FRAMES solid BGR24 frames of colour B,G,R at RATE per second (default 10; 0: as fast as
the service takes them), then hangs up (which closes the
writer). Prints the service's ready line (and any error line it sends later); exits 1 if it
refused the header or not every frame could be sent. Standard library only; memfd needs Linux and Python 3.9+.
"""
import fcntl
import json
import mmap
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
          "height": height, "priority": priority,
          "transport": transport.split("-")[0].split(":")[0]}
ring = transport.startswith("memfd_ring")
if ring:
    header["slots"] = int(transport.split(":")[1]) if ":" in transport else 4
sock.sendall((json.dumps(header) + "\n").encode())
answers = sock.makefile("r")
answer = answers.readline()
print(answer.strip(), flush=True)
if json.loads(answer)["type"] != "ready":
    sys.exit(1)

slots, free = [], []
if ring:
    # The ring: memfds of one frame each, sealed only against shrinking (the writer rewrites
    # them), passed once; then each frame is the byte naming the slot just filled.
    for index in range(header["slots"]):
        fd = os.memfd_create("slot", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, len(frame))
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        slots.append(mmap.mmap(fd, len(frame)))
        socket.send_fds(sock, [b"s"], [fd])
        os.close(fd)
        free.append(index)

def service_line():
    """The service's next line after the ready one: a slot freed (returned), or the end."""
    line = answers.readline()
    if not line:
        return None
    message = json.loads(line)
    if message["type"] == "free":
        return message["slot"]
    print(line.strip(), flush=True)
    return None

sent = 0
for _ in range(int(frames)):
    if ring:
        if transport.endswith("-eager"):
            index = 0
        else:
            while not free:
                returned = service_line()
                if returned is None:
                    break
                free.append(returned)
            if not free:
                break
            index = free.pop(0)
        slots[index][:] = frame
        try:
            sock.sendall(bytes([index]))
        except (BrokenPipeError, ConnectionResetError):
            break
    elif transport.startswith("memfd"):
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
    sent += 1
    if rate > 0:
        time.sleep(1 / rate)
try:
    sock.shutdown(socket.SHUT_WR)
except OSError:
    pass
# Whatever the service said after the ready line (an error), until it hangs up too; slots
# freed now are of no use.
for line in answers:
    if json.loads(line)["type"] != "free":
        print(line.strip(), flush=True)
sock.close()
if sent < int(frames):
    sys.exit(f"sent {sent} of {frames} frames")
