"""A real receiving RTSP server (GStreamer's gst-rtsp-server in RECORD mode) for publishers.

Usage: /usr/bin/python3 rtsp_record_server.py PORT PATH [PATH ...]
Accepts one H.264 publisher (ANNOUNCE/RECORD, as FFmpeg's `-f rtsp` does) on each path and
discards what it receives. Prints "ready" once listening. Unlike FFmpeg's listen mode it takes
many publishers at once, so benchmarks can run several outputs against it.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, paths = sys.argv[1], sys.argv[2:]
server = GstRtspServer.RTSPServer()
server.set_service(port)
mounts = server.get_mount_points()
for path in paths:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
    factory.set_launch("( rtph264depay name=depay0 ! fakesink sync=false )")
    mounts.add_factory(f"/{path}", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
