#!/usr/bin/python3
"""A real RTSP test camera for tests: GStreamer's RTSP server serving a moving test pattern.

Usage: /usr/bin/python3 rtsp_test_camera.py PORT [WIDTHxHEIGHT] [FPS] [h264|h265] [PATTERN]
PATTERN: `ball` (default; a ball on black) or `pan` (colour bars panning past, a busier picture).
Serves rtsp://127.0.0.1:PORT/cam (h264 by default). Prints "ready" once listening. Stop it =
camera offline. Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and
gstreamer1.0-plugins-{base,good,ugly} (and -bad for h265).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port = sys.argv[1]
width, height = (sys.argv[2] if len(sys.argv) > 2 else "640x360").split("x")
fps = sys.argv[3] if len(sys.argv) > 3 else "10"
codec = sys.argv[4] if len(sys.argv) > 4 else "h264"
pattern = "pattern=smpte horizontal-speed=3" if sys.argv[5:] == ["pan"] else "pattern=ball"
if codec == "h265":
    encode = f"videoconvert ! video/x-raw,format=I420 ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph265pay name=pay0 pt=96"
else:
    encode = f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph264pay name=pay0 pt=96"

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( videotestsrc is-live=true {pattern} ! video/x-raw,width={width},height={height},framerate={fps}/1 "
    f"! {encode} )"
)
# One pipeline per client: GStreamer 1.22's shared media aborts the whole server
# (gst_rtsp_media_get_rates assertion) about once in 25 cold starts when two clients probe and
# then play at once, which is what a camera with two bypassed views sees.
factory.set_shared(False)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()
