"""A real RTSP server for the tests: GStreamer's gst-rtsp-server serving an H.264 MP4 file, in real time.

Run by the SYSTEM python3 (Debian's python3-gi + gir1.2-gst-rtsp-server-1.0), not the venv:
    /usr/bin/python3 rtsp_server.py PORT /mount FILE.mp4 [N]
Prints "ready" once it listens. Every client session plays the file from its start. With N, it serves N
independent cameras at /mount0 … /mount{N-1} (one pipeline each), as one server with many cameras does.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, mount, path = sys.argv[1], sys.argv[2], sys.argv[3]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
for name in [f"{mount}{i}" for i in range(count)] if count else [mount]:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{path}" ! qtdemux ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    factory.set_shared(True)
    server.get_mount_points().add_factory(name, factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()
