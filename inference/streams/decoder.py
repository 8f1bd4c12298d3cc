"""One `ffmpeg` process per camera, decoding into a pipe: the isolation layer of the camera sources.

Each camera's open, probe and reads happen in its own process, so a camera that hangs (a port that accepts
and never answers, a server that stops sending) blocks only its own pipe; its watchdog kills that process
and nothing else waits. OpenCV's FFmpeg backend, by contrast, opens one capture at a time per process, so
one slow or dead camera held every other camera's open (docs/streams.md has the measurements).

ffmpeg writes PPM frames (`P6 W H 255` + RGB bytes) to stdout: every frame carries its own size, so nothing
has to be probed twice and a camera that changes resolution keeps working. The fps cap is applied inside
ffmpeg (`-r N -fps_mode vfr` drops, never duplicates), so only the frames that will be analysed cross the pipe.
Probing is kept short (`-analyzeduration`, `-probesize`): a camera's stream description comes with the
RTSP SDP, the default 5 s probe only delays the first frame.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import deque
from typing import IO
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

# short probe: RTSP carries SPS/PPS in the SDP; HTTP MJPEG/HLS need at least one whole picture (≈ 1 MB)
PROBE = {"rtsp": (500_000, 100_000), "rtsps": (500_000, 100_000)}
PROBE_DEFAULT = (1_000_000, 2_000_000)  # (analyzeduration µs, probesize bytes)
# what a network camera may make ffmpeg open: never file: (an HLS playlist naming local files), pipes, etc.
PROTOCOLS = {
    "rtsp": "rtsp,rtp,srtp,udp,tcp",
    "rtsps": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
    "http": "http,https,tcp,tls,crypto,httpproxy",
    "https": "http,https,tcp,tls,crypto,httpproxy",
}
MAX_SIDE = 8192


class DecoderError(ConnectionError):
    pass


def ffmpeg_binary() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise DecoderError("ffmpeg is not installed (apt-get install ffmpeg)")
    return path


def ffmpeg_command(
    url: str,
    fps: float,
    *,
    rtsp_transport: str = "tcp",
    open_timeout_s: float = 10.0,
    realtime: bool = False,
) -> list[str]:
    """The ffmpeg command line that decodes `url` to PPM frames on stdout at most `fps` per second."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    timeout_us = str(int(open_timeout_s * 1_000_000))
    if scheme == "device":
        cmd += ["-f", "v4l2", "-i", f"/dev/video{int(parts.netloc or parts.path)}"]
    elif scheme == "file":
        cmd += (["-re"] if realtime else []) + ["-i", unquote(parts.path)]
    else:
        analyze, probe = PROBE.get(scheme, PROBE_DEFAULT)
        cmd += ["-analyzeduration", str(analyze), "-probesize", str(probe), "-fflags", "nobuffer"]
        cmd += ["-protocol_whitelist", PROTOCOLS.get(scheme, "tcp")]
        if scheme in {"rtsp", "rtsps"}:
            cmd += ["-rtsp_transport", rtsp_transport, "-timeout", timeout_us]
        else:  # http(s): MJPEG or HLS
            cmd += ["-rw_timeout", timeout_us]
        cmd += ["-i", url]
    cmd += ["-map", "0:v:0", "-an", "-sn", "-dn", "-r", f"{fps:g}", "-fps_mode", "vfr"]
    cmd += ["-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:1"]
    return cmd


class FfmpegDecoder:
    """A running ffmpeg process; `read()` blocks for the next frame (BGR) and returns None at the end."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self._errors: deque[str] = deque(maxlen=4)
        self._err_thread = threading.Thread(target=self._drain, name="ffmpeg-stderr", daemon=True)
        self._err_thread.start()
        assert self.proc.stdout is not None
        self._out: IO[bytes] = self.proc.stdout

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._errors.append(line[:300])

    @property
    def last_error(self) -> str | None:
        return self._errors[-1] if self._errors else None

    def _exact(self, n: int) -> bytes | None:
        chunks, got = [], 0
        while got < n:
            b = self._out.read(n - got)
            if not b:
                return None
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def _header(self) -> tuple[int, int] | None:
        tokens: list[bytes] = []
        tok = b""
        while len(tokens) < 4:
            c = self._out.read(1)
            if not c:
                return None
            if c.isspace():
                if tok:
                    tokens.append(tok)
                    tok = b""
                    if tokens[0] != b"P6":
                        raise DecoderError("ffmpeg wrote something that is not a PPM frame")
            else:
                tok += c
                if len(tok) > 8:
                    raise DecoderError("ffmpeg wrote something that is not a PPM frame")
        if tokens[0] != b"P6" or tokens[3] != b"255" or not (tokens[1].isdigit() and tokens[2].isdigit()):
            raise DecoderError("ffmpeg wrote something that is not a PPM frame")
        w, h = int(tokens[1]), int(tokens[2])
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise DecoderError(f"frame size {w}x{h} out of range")
        return w, h

    def read(self) -> np.ndarray | None:
        size = self._header()
        if size is None:
            return None
        w, h = size
        data = self._exact(w * h * 3)
        if data is None:
            return None
        rgb = np.frombuffer(data, np.uint8).reshape(h, w, 3)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def kill(self) -> None:
        """Stop the process now (a blocked `read()` then returns None); safe from any thread, repeatable."""
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def close(self) -> int | None:
        self.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._out.close()
        self._err_thread.join(timeout=1)
        return self.proc.returncode

    @property
    def exited_cleanly(self) -> bool:
        return self.proc.poll() == 0
