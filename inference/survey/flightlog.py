"""Flight logs for survey videos: DJI subtitle files (`.SRT`, one block per frame or per second) and CSV exports
(a time column in seconds from the video's start, position, height, gimbal). `pose_at(t)` gives the camera
pose for a video frame, from the log entry nearest in time (within `MAX_GAP_S`).

DJI SRT blocks look like

    12
    00:00:00,367 --> 00:00:00,400
    <font size="28">FrameCnt: 12, DiffTime: 33ms
    2026-11-20 11:02:03.456
    [iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [focal_len: 24.00] [latitude: 31.230412]
    [longitude: 121.473711] [rel_alt: 100.000 abs_alt: 112.000] [gb_yaw: 30.0 gb_pitch: -90.0 gb_roll: 0.0]</font>

(`focal_len` is the 35 mm equivalent). Keys are matched by name, so field order and extra fields do not matter.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from inference.errors import GeoError
from inference.survey.georef import CameraPose, focal_px

MAX_GAP_S = 1.0
MAX_LOG_BYTES = 64 << 20
_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[,.](\d{1,3})\s*-->")
_KV = re.compile(r"\b(latitude|longitude|rel_alt|abs_alt|gb_yaw|gb_pitch|focal_len)\s*[:=]\s*(-?\d+(?:\.\d+)?)")
CSV_COLUMNS = {
    "t": ("time_s", "t", "time", "offset_s", "seconds"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon", "lng"),
    "height": ("rel_alt", "height_m", "height", "altitude_agl"),
    "pitch": ("gimbal_pitch", "gb_pitch", "pitch"),
    "yaw": ("gimbal_yaw", "gb_yaw", "yaw", "heading"),
    "focal35": ("focal_len", "focal35_mm", "focal35"),
}


@dataclass(frozen=True)
class LogEntry:
    t_s: float
    lat: float
    lon: float
    height_m: float | None
    pitch: float | None = None
    yaw: float | None = None
    focal35_mm: float | None = None


class FlightLog:
    """Entries sorted by time; `pose_at(t, w, h)` → the camera pose at `t` seconds into the video, or None."""

    def __init__(self, entries: list[LogEntry]):
        self.entries = sorted(entries, key=lambda e: e.t_s)
        self._times = [e.t_s for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def nearest(self, t_s: float) -> LogEntry | None:
        if not self.entries:
            return None
        i = bisect.bisect_left(self._times, t_s)
        best = min((j for j in (i - 1, i) if 0 <= j < len(self.entries)), key=lambda j: abs(self._times[j] - t_s))
        return self.entries[best] if abs(self._times[best] - t_s) <= MAX_GAP_S else None

    def pose_at(
        self, t_s: float, width: int, height: int, height_m: float | None = None, focal35_mm: float | None = None
    ) -> CameraPose | None:
        e = self.nearest(t_s)
        if e is None:
            return None
        h = e.height_m if e.height_m is not None else height_m
        f35 = e.focal35_mm or focal35_mm
        if h is None or not f35:
            return None
        try:
            f = focal_px(width, height, None, f35, None)
            pitch = e.pitch if e.pitch is not None else -90.0
            return CameraPose(e.lat, e.lon, h, e.yaw or 0.0, pitch, f, width / 2, height / 2)
        except GeoError:
            return None


def _finite(v: str | None) -> float | None:
    try:
        f = float(v) if v is not None and v.strip() else None
    except ValueError:
        return None
    return f if f is not None and math.isfinite(f) else None


def parse_srt(text: str) -> FlightLog:
    entries = []
    for block in re.split(r"\r?\n\s*\r?\n", text):
        m = _TIME.search(block)
        if not m:
            continue
        t = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + int(m[4].ljust(3, "0")) / 1000
        kv = {k: float(v) for k, v in _KV.findall(block)}
        lat, lon = kv.get("latitude"), kv.get("longitude")
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
            continue
        entries.append(
            LogEntry(t, lat, lon, kv.get("rel_alt"), kv.get("gb_pitch"), kv.get("gb_yaw"), kv.get("focal_len"))
        )
    return FlightLog(entries)


def parse_csv(text: str) -> FlightLog:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return FlightLog([])
    lower = {name.strip().lower(): name for name in reader.fieldnames if name}
    cols = {key: next((lower[c] for c in names if c in lower), None) for key, names in CSV_COLUMNS.items()}
    if not (cols["t"] and cols["lat"] and cols["lon"]):
        return FlightLog([])
    entries = []
    for row in reader:
        vals = {k: _finite(row.get(c)) if c else None for k, c in cols.items()}
        t, lat, lon = vals["t"], vals["lat"], vals["lon"]
        if t is None or lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            continue
        entries.append(LogEntry(t, lat, lon, vals["height"], vals["pitch"], vals["yaw"], vals["focal35"]))
    return FlightLog(entries)


def read_flight_log(path: Path, kind: str) -> FlightLog:
    """An SRT or CSV flight log (up to 64 MiB); entries that lack a valid position are skipped."""
    with open(path, "rb") as fh:
        text = fh.read(MAX_LOG_BYTES).decode("utf-8", "replace")
    return parse_srt(text) if kind == "srt" else parse_csv(text)
