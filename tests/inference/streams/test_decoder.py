"""The ffmpeg pipe decoder: PPM frames are read exactly, garbage and truncation end the stream cleanly, the fps
cap drops frames and never duplicates them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from inference.streams.decoder import DecoderError, FfmpegDecoder, ffmpeg_command
from tests.inference.streams.helpers import pattern_video


def writer(payload: bytes) -> list[str]:
    """A child that writes `payload` to stdout and exits (stands in for ffmpeg)."""
    return [sys.executable, "-c", f"import sys; sys.stdout.buffer.write({payload!r})"]


def test_ppm_frames_are_read_as_bgr() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    frame = b"P6\n3 2\n255\n" + rgb.tobytes()
    dec = FfmpegDecoder(writer(frame + frame))
    try:
        for _ in range(2):
            img = dec.read()
            assert img is not None and img.shape == (2, 3, 3)
            assert (img[..., 2] == 200).all() and (img[..., 0] == 0).all()  # BGR
        assert dec.read() is None
    finally:
        assert dec.close() == 0


@pytest.mark.parametrize(
    "payload",
    [b"GIF89a garbage", b"P6\n99999 2\n255\n", b"P6\n3 2\n65535\n", b"P6\n" + b"9" * 20],
)
def test_garbage_is_a_decoder_error(payload: bytes) -> None:
    dec = FfmpegDecoder(writer(payload))
    try:
        with pytest.raises(DecoderError):
            dec.read()
    finally:
        dec.close()


def test_truncated_frame_ends_the_stream() -> None:
    dec = FfmpegDecoder(writer(b"P6\n3 2\n255\n" + b"\x00" * 7))
    try:
        assert dec.read() is None
    finally:
        dec.close()


def test_fps_cap_in_ffmpeg_drops_frames(tmp_path: Path) -> None:
    video = pattern_video(tmp_path / "p.mp4", duration_s=4, fps=10, size=(64, 48))
    dec = FfmpegDecoder(ffmpeg_command(f"file://{video}", 2.0))
    try:
        n = 0
        while (img := dec.read()) is not None:
            assert img.shape == (48, 64, 3)
            n += 1
    finally:
        assert dec.close() == 0
    assert 7 <= n <= 9  # 4 s at 2 fps (of 40 frames at 10 fps)


def test_network_sources_get_a_short_probe_and_no_file_protocol() -> None:
    cmd = ffmpeg_command("rtsp://cam.example/live", 5.0)
    assert cmd[cmd.index("-analyzeduration") + 1] == "500000" and cmd[cmd.index("-probesize") + 1] == "100000"
    assert "file" not in cmd[cmd.index("-protocol_whitelist") + 1].split(",")
    http = ffmpeg_command("http://cam.example/x.m3u8", 5.0)
    assert "file" not in http[http.index("-protocol_whitelist") + 1].split(",")
