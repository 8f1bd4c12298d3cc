"""Frame sources for files: a still image, a directory of media, a video file.

Each bad file raises `MediaError` with one line that names it (truncated or corrupt image, a non-image
with an image extension, a pixel bomb, an unreadable video), so callers can report it and go on.
Camera streams (RTSP/HTTP) live in their own module with reconnection; they yield the same `Frame`s.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

# FFmpeg inside OpenCV writes its own lines to stderr for a broken video ("moov atom not found"); the error
# reported is ours (one line naming the file). OPENCV_FFMPEG_LOGLEVEL=32 (or any level) in the environment wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from inference.errors import MediaError  # noqa: E402
from inference.frame import Frame  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
MAX_PIXELS = 80_000_000  # a 4000×3000 drone photo is 12 MP; 80 MP leaves room for orthomosaic tiles
# the most bytes a decoded raster may take: what an 8-bit RGB image of MAX_PIXELS does (240 MB); a GeoTIFF counts
# pixels × bands × bytes per sample, plus 4 bytes per sample (float32) when it must be scaled to 8 bits
MAX_RASTER_BYTES = MAX_PIXELS * 3
MAX_VIDEO_FPS = 240  # slow-motion drone video; a header claiming more is lying (every frame is decoded)
LIMITS = "persistence.video_max_s, persistence.video_max_frames"


def source_id_for(path: Path) -> str:
    """A stable id for a file source: its name plus a short hash of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"file:{path.name}:{digest}"


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file fully into BGR uint8; refuse truncated, corrupt, non-image and oversized files."""
    return decode_image(path, str(path), max_pixels)


def decode_image(src: Path | IO[bytes], name: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image (a path or a binary stream) into BGR uint8; errors are `MediaError` naming `name`."""
    try:
        with Image.open(src) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise MediaError(
                    f"{name}: image too large ({w}×{h} = {w * h / 1e6:.0f} MP > {max_pixels / 1e6:.0f} MP)"
                )
            im.load()  # decodes everything: a truncated file raises here
            rgb = np.asarray(im.convert("RGB"))
    except MediaError:
        raise
    except UnidentifiedImageError as exc:
        raise MediaError(f"{name}: not an image (unrecognised content)") from exc
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{name}: image too large (decompression bomb guard)") from exc
    except OSError as exc:
        raise MediaError(f"{name}: corrupt or truncated image ({exc})") from exc
    if rgb.size == 0:
        raise MediaError(f"{name}: empty image")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def file_time(path: Path) -> datetime:
    """When a file's media was captured, as far as the file says: its modification time (UTC).

    Using it (not the processing time) makes re-processing the same file give the same event ids.
    """
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def image_frames(path: Path, timestamp: datetime | None = None) -> Iterator[Frame]:
    image = read_image(path)
    yield Frame(image=image, source_id=source_id_for(path), timestamp=timestamp or file_time(path), uri=str(path))


def video_frames(
    path: Path,
    sample_fps: float,
    start: datetime | None = None,
    *,
    max_s: float = float("inf"),
    max_frames: int | None = None,
) -> Iterator[Frame]:
    """Frames of a video file sampled at `sample_fps`, timestamped by their position in the video.

    MediaError for a video longer than `max_s` seconds (by its own frame rate: up front when its header says so,
    else once it is read that far), one that would give more than `max_frames` sampled frames, or one whose header
    claims more than MAX_VIDEO_FPS frames per second (each frame is decoded, sampled or not)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaError(f"{path}: unreadable video (no decoder could open it)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or not np.isfinite(fps) or fps <= 0:
            fps = 25.0
        if fps > MAX_VIDEO_FPS:
            raise MediaError(f"{path}: video declares {fps:g} frames per second; at most {MAX_VIDEO_FPS} are read")
        declared = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        if declared and np.isfinite(declared) and declared / fps > max_s:
            raise MediaError(f"{path}: video is {declared / fps:.0f} s long; the limit is {max_s:g} s ({LIMITS})")
        step = max(1, round(fps / sample_fps))
        t0 = start or file_time(path)
        sid = source_id_for(path)
        index = 0
        emitted = 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index / fps > max_s:
                raise MediaError(f"{path}: video is longer than {max_s:g} s ({LIMITS})")
            if index % step == 0:
                if max_frames is not None and emitted >= max_frames:
                    raise MediaError(f"{path}: video gives more than {max_frames} sampled frames ({LIMITS})")
                ok, image = cap.retrieve()
                if ok and image is not None and image.ndim == 3:
                    emitted += 1
                    yield Frame(
                        image=image,
                        source_id=sid,
                        timestamp=t0 + timedelta(seconds=index / fps),
                        index=index,
                        uri=str(path),
                    )
            index += 1
        if emitted == 0:
            raise MediaError(f"{path}: unreadable video (no frame could be decoded)")
    finally:
        cap.release()


def media_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise MediaError(
        f"{path}: unsupported file type {suffix or '(none)'}; images: "
        f"{', '.join(sorted(IMAGE_SUFFIXES))}; videos: {', '.join(sorted(VIDEO_SUFFIXES))}"
    )


def list_media(path: Path) -> list[Path]:
    """The media files a path names: itself, or the images and videos inside a directory (sorted)."""
    if not path.exists():
        raise MediaError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
        )
        if not files:
            raise MediaError(f"{path}: no images or videos in this directory")
        return files
    media_kind(path)
    return [path]
