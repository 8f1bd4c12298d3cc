"""An HLS camera over HTTP (ffmpeg-made segments served by a loopback HTTP server) delivers frames; a playlist
that names a local file as a segment gets nothing from the disk (network cameras may open network protocols only)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from inference.streams.source import CameraSource, SourceOptions
from tests.inference.streams.helpers import pattern_video, wait_for


@contextmanager
def http_dir(root: Path) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def hls_dir(tmp_path: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is not installed (check.sh installs it)"
    video = pattern_video(tmp_path / "pattern.mp4", duration_s=20, fps=5, size=(320, 240))
    out = tmp_path / "hls"
    out.mkdir()
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-i", str(video), "-c", "copy", "-f", "hls", "-hls_time", "1",
         "-hls_list_size", "0", str(out / "index.m3u8")],
        check=True,
    )  # fmt: skip
    return out


def test_hls_camera_delivers_frames(hls_dir: Path) -> None:
    with http_dir(hls_dir) as base:
        src = CameraSource("hls", f"{base}/index.m3u8", SourceOptions(fps=5, open_timeout_s=10))
        src.start()
        try:
            wait_for(lambda: src.status().frames >= 5, 30, "frames over HLS")
            frame = src.latest()
            assert frame is not None and frame.image.shape == (240, 320, 3)
        finally:
            src.stop()


def test_hls_playlist_cannot_make_a_camera_read_local_files(hls_dir: Path, tmp_path: Path) -> None:
    segment = next(hls_dir.glob("*.ts"))
    (hls_dir / "evil.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nfile://{segment}\n#EXT-X-ENDLIST\n"
    )
    with http_dir(hls_dir) as base:
        src = CameraSource("evil", f"{base}/evil.m3u8", SourceOptions(fps=5, open_timeout_s=5, reconnect_min_s=0.2))
        src.start()
        try:
            wait_for(lambda: src.status().reconnects >= 1, 20, "the open to fail")
            st = src.status()
            assert st.frames == 0 and st.last_error
        finally:
            src.stop()
