"""A simulated city: months of cases from a known generative process, deterministic for a seed.

It exists to evaluate the scorer and the hotspot forecast against known truth (and to feed the demo).
The process, per category (`CategoryProfile`):

- **True problems** appear at hotspots (Gaussian around a centre, placed in blocks whose zone suits the
  category) and in the background (anywhere, more often in suitable zones), at a daily rate × a weekday
  factor × a seasonal factor (cosine over the year), at local hours drawn from the category's hour profile.
- **False detections** come from sources: each camera makes them at a rate that grows as its quality falls,
  a third of them at two fixed "confuser" spots in its view (a blue tarp, a busy shop front), more at night;
  drones make them anywhere. Each category has its own false-positive rates for cameras and drones.
- **Observations**: a true problem persists (log-normal hours, per category) and is seen more often and by
  more sources than a false detection; per-observation confidences are Beta draws whose means differ for
  true and false detections (and with source quality, night, category) but overlap.
- **Verdicts**: an inspector confirms true problems and dismisses false ones, wrong 3 % of the time, some
  hours after the case was last seen.

The city is a square of `extent_m` around (`lat`, `lon`), divided into 1 km blocks of zone types.
Times are generated in local time (UTC+8) and stored in UTC.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cases.scoring.errors import ScoringError
from cases.scoring.features import ZONES, CaseSnapshot, SourceKind, Verdict, VerdictRecord
from inference.geo import EARTH_RADIUS_M

LOCAL_UTC_OFFSET_H = 8.0


def _profile(*bumps: tuple[float, float, float], floor: float = 0.05) -> tuple[float, ...]:
    """24 hourly weights: a floor plus circular Gaussian bumps (centre hour, width h, weight)."""
    h = np.arange(24.0)
    w = np.full(24, floor)
    for centre, width, weight in bumps:
        d = np.minimum(np.abs(h - centre), 24 - np.abs(h - centre))
        w += weight * np.exp(-0.5 * (d / width) ** 2)
    return tuple(float(v) for v in w / w.sum())


@dataclass(frozen=True, slots=True)
class CategoryProfile:
    hotspots: int  # number of hotspots
    hotspot_rate: float  # true problems per day per hotspot, before weekday/season factors
    hotspot_radius_m: float  # standard deviation of the Gaussian around a hotspot centre
    background_rate: float  # true problems per day anywhere in the city
    zone_affinity: dict[str, float]  # relative chance of a zone hosting this category
    hours: tuple[float, ...]  # 24 local-hour weights of true problems
    weekday: tuple[float, ...]  # 7 factors, Monday first
    season_amplitude: float  # rate × (1 + a·cos(2π(doy − peak)/365))
    season_peak_doy: int
    persistence_h: float  # median hours a true problem stays visible
    fp_persistence_h: float  # median hours a false detection lasts
    size_m2: float  # median ground size of a true object
    fp_size_m2: float  # median ground size of a false detection
    drone_share: float  # chance that a true problem is first seen by a drone survey
    fp_camera_per_day: float  # false detections per day over all cameras
    fp_drone_per_day: float  # false detections per day over all drone surveys
    confidence_offset: float  # the detector is better (+) or worse (−) at this category


DEFAULT_PROFILES: dict[str, CategoryProfile] = {
    "street_stall": CategoryProfile(
        hotspots=6, hotspot_rate=1.2, hotspot_radius_m=120, background_rate=3.5,
        zone_affinity={"market": 4, "commercial": 2, "residential": 1, "industrial": 0.3, "park": 1},
        hours=_profile((8, 1.5, 1.0), (18.5, 2.0, 1.6), (21, 1.5, 0.8), floor=0.02),
        weekday=(0.8, 0.8, 0.85, 0.9, 1.1, 1.5, 1.45), season_amplitude=0.3, season_peak_doy=200,
        persistence_h=2.0, fp_persistence_h=0.6, size_m2=6.0, fp_size_m2=3.0, drone_share=0.08,
        fp_camera_per_day=9.0, fp_drone_per_day=0.8, confidence_offset=0.0,
    ),
    "garbage": CategoryProfile(
        hotspots=8, hotspot_rate=0.8, hotspot_radius_m=100, background_rate=4.5,
        zone_affinity={"market": 3, "commercial": 1, "residential": 2.5, "industrial": 1.5, "park": 1},
        hours=_profile((7, 2.0, 1.2), (13, 3.0, 0.6), (20, 2.0, 1.0), floor=0.03),
        weekday=(1.4, 1.1, 0.95, 0.9, 0.95, 1.0, 1.15), season_amplitude=0.35, season_peak_doy=210,
        persistence_h=8.0, fp_persistence_h=1.5, size_m2=2.5, fp_size_m2=1.8, drone_share=0.1,
        fp_camera_per_day=8.0, fp_drone_per_day=1.0, confidence_offset=0.02,
    ),
    "illegal_construction": CategoryProfile(
        hotspots=4, hotspot_rate=0.2, hotspot_radius_m=120, background_rate=0.6,
        zone_affinity={"market": 0.5, "commercial": 0.5, "residential": 3, "industrial": 2, "park": 0.3},
        hours=_profile((10, 2.0, 1.0), (15, 2.0, 1.0), floor=0.01),
        weekday=(1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.7), season_amplitude=0.4, season_peak_doy=120,
        persistence_h=400.0, fp_persistence_h=30.0, size_m2=40.0, fp_size_m2=25.0, drone_share=0.85,
        fp_camera_per_day=0.6, fp_drone_per_day=1.8, confidence_offset=0.03,
    ),
    "billboard_hazard": CategoryProfile(
        hotspots=5, hotspot_rate=0.35, hotspot_radius_m=40, background_rate=1.0,
        zone_affinity={"market": 1.5, "commercial": 4, "residential": 0.5, "industrial": 0.5, "park": 0.2},
        hours=_profile((12, 5.0, 1.0), floor=0.05),
        weekday=(1.0,) * 7, season_amplitude=0.5, season_peak_doy=250,
        persistence_h=30.0, fp_persistence_h=3.0, size_m2=4.0, fp_size_m2=3.5, drone_share=0.05,
        fp_camera_per_day=5.0, fp_drone_per_day=0.3, confidence_offset=-0.06,
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CityConfig:
    seed: int = 0
    days: int = 180
    start: datetime = datetime(2025, 1, 6, tzinfo=UTC)  # only its date counts: the first local day, a Monday
    lat: float = 31.2304  # Shanghai, People's Square
    lon: float = 121.4737
    extent_m: float = 5000.0  # side of the square city
    block_m: float = 1000.0  # zone blocks
    cameras: int = 60
    drones: int = 3
    inspector_error: float = 0.03
    profiles: dict[str, CategoryProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))

    def __post_init__(self) -> None:
        if self.days < 1 or self.extent_m <= 0 or self.cameras < 1 or self.drones < 1:
            raise ScoringError("days, extent_m, cameras and drones must be positive")
        if self.start.tzinfo is None:
            raise ScoringError("start must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Hotspot:
    category: str
    lat: float
    lon: float
    radius_m: float
    rate_per_day: float


@dataclass(frozen=True, slots=True)
class SimSource:
    source_id: str
    kind: SourceKind
    lat: float
    lon: float
    quality: float  # 0..1; cameras below ~0.6 are old, badly placed or dirty


@dataclass(frozen=True, slots=True)
class SimCase:
    """A simulated case: what the scorer may see (`snapshot`) and the truth it must not (the rest)."""

    snapshot: CaseSnapshot
    is_true: bool  # ground truth: a real problem
    verdict: Verdict  # the inspector's verdict (wrong `inspector_error` of the time)
    verdict_at: datetime
    source_id: str

    @property
    def record(self) -> VerdictRecord:
        s = self.snapshot
        return VerdictRecord(s.case_id, s.category, s.lat, s.lon, self.verdict, self.verdict_at)


@dataclass(frozen=True)
class SimCity:
    config: CityConfig
    cases: tuple[SimCase, ...]  # ordered by first_seen
    hotspots: tuple[Hotspot, ...]
    sources: tuple[SimSource, ...]
    zones: np.ndarray  # (blocks_y, blocks_x) indices into ZONES

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.config.profiles)

    def zone_at(self, lat: float, lon: float) -> str | None:
        x, y = _to_xy(self.config, lat, lon)
        bx, by = int(x // self.config.block_m), int(y // self.config.block_m)
        if 0 <= by < self.zones.shape[0] and 0 <= bx < self.zones.shape[1]:
            return ZONES[int(self.zones[by, bx])]
        return None


def _to_xy(cfg: CityConfig, lat: float, lon: float) -> tuple[float, float]:
    """Metres east/north of the city's south-west corner."""
    k = math.pi / 180.0 * EARTH_RADIUS_M
    x = (lon - cfg.lon) * k * math.cos(math.radians(cfg.lat)) + cfg.extent_m / 2
    y = (lat - cfg.lat) * k + cfg.extent_m / 2
    return x, y


def _to_latlon(cfg: CityConfig, x: float, y: float) -> tuple[float, float]:
    k = math.pi / 180.0 * EARTH_RADIUS_M
    lat = cfg.lat + (y - cfg.extent_m / 2) / k
    lon = cfg.lon + (x - cfg.extent_m / 2) / (k * math.cos(math.radians(cfg.lat)))
    return lat, lon


class _Builder:
    def __init__(self, cfg: CityConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        nb = max(1, int(math.ceil(cfg.extent_m / cfg.block_m)))
        self.zones = self.rng.choice(len(ZONES), size=(nb, nb), p=[0.4, 0.25, 0.12, 0.13, 0.1])
        self.cases: list[SimCase] = []

    def clip(self, x: float, y: float) -> tuple[float, float]:
        e = self.cfg.extent_m - 1e-6
        return min(max(x, 0.0), e), min(max(y, 0.0), e)

    def zone_idx(self, x: float, y: float) -> int:
        b = self.cfg.block_m
        return int(self.zones[min(int(y // b), self.zones.shape[0] - 1), min(int(x // b), self.zones.shape[1] - 1)])

    def affinity(self, prof: CategoryProfile, x: float, y: float) -> float:
        return prof.zone_affinity.get(ZONES[self.zone_idx(x, y)], 1.0)

    def place(self, prof: CategoryProfile) -> tuple[float, float]:
        """A point anywhere, accepted in proportion to the zone's affinity for the category."""
        top = max(prof.zone_affinity.values(), default=1.0)
        while True:
            x, y = self.rng.uniform(0, self.cfg.extent_m, 2)
            if self.rng.random() * top <= self.affinity(prof, x, y):
                return float(x), float(y)

    def sources(self) -> list[SimSource]:
        out = []
        for i in range(self.cfg.cameras):
            x, y = self.rng.uniform(0, self.cfg.extent_m, 2)
            lat, lon = _to_latlon(self.cfg, x, y)
            out.append(SimSource(f"cam-{i:03d}", "camera", lat, lon, float(self.rng.uniform(0.3, 1.0))))
        for i in range(self.cfg.drones):
            c = self.cfg
            out.append(SimSource(f"drone-{i}", "drone", c.lat, c.lon, float(self.rng.uniform(0.65, 0.95))))
        return out


def _season(prof: CategoryProfile, t: datetime) -> float:
    doy = t.timetuple().tm_yday
    return 1.0 + prof.season_amplitude * math.cos(2 * math.pi * (doy - prof.season_peak_doy) / 365.0)


def simulate_city(config: CityConfig | None = None) -> SimCity:
    """Generate the city and its cases. Same config (seed included) → the same city, case for case."""
    cfg = config or CityConfig()
    b = _Builder(cfg)
    rng = b.rng
    sources = b.sources()
    cameras = [s for s in sources if s.kind == "camera"]
    drones = [s for s in sources if s.kind == "drone"]
    cam_xy = np.array([_to_xy(cfg, s.lat, s.lon) for s in cameras])
    cam_q = np.array([s.quality for s in cameras])
    # two confuser spots per camera, around 50 m from it
    confusers = cam_xy[:, None, :] + rng.normal(0, 35, size=(len(cameras), 2, 2))

    hotspots: list[Hotspot] = []
    for cat, prof in cfg.profiles.items():
        for _ in range(prof.hotspots):
            x, y = b.place(prof)
            lat, lon = _to_latlon(cfg, x, y)
            rate = prof.hotspot_rate * float(rng.lognormal(0, 0.4))
            hotspots.append(Hotspot(cat, lat, lon, prof.hotspot_radius_m, rate))

    raw: list[tuple[datetime, str, float, float, bool, SimSource]] = []
    for day in range(cfg.days):
        # local_midnight: the local wall-clock time written as if it were UTC; `- LOCAL_UTC_OFFSET_H` makes it UTC
        local_midnight = datetime.combine(cfg.start.date(), datetime.min.time(), UTC) + timedelta(days=day)
        weekday = local_midnight.weekday()
        for cat, prof in cfg.profiles.items():
            factor = prof.weekday[weekday] * _season(prof, local_midnight)
            hours = np.array(prof.hours)
            # true problems at hotspots and in the background
            points: list[tuple[float, float]] = []
            for h in hotspots:
                if h.category != cat:
                    continue
                hx, hy = _to_xy(cfg, h.lat, h.lon)
                for _ in range(rng.poisson(h.rate_per_day * factor)):
                    points.append(b.clip(hx + rng.normal(0, h.radius_m), hy + rng.normal(0, h.radius_m)))
            for _ in range(rng.poisson(prof.background_rate * factor)):
                points.append(b.place(prof))
            for x, y in points:
                hour = float(rng.choice(24, p=hours) + rng.random())
                t = local_midnight + timedelta(hours=hour - LOCAL_UTC_OFFSET_H)
                if rng.random() < prof.drone_share:
                    src = drones[int(rng.integers(len(drones)))]
                else:
                    src = cameras[int(np.argmin(((cam_xy - (x, y)) ** 2).sum(axis=1)))]
                lat, lon = _to_latlon(cfg, x, y)
                raw.append((t, cat, lat, lon, True, src))
            # false detections: cameras (more from poor ones, a third at their confusers, more at night)
            weights = (1.15 - cam_q) ** 2
            n_fp = rng.poisson(prof.fp_camera_per_day)
            for cam_i in rng.choice(len(cameras), size=n_fp, p=weights / weights.sum()):
                if rng.random() < 0.35:
                    x, y = confusers[cam_i, int(rng.integers(2))] + rng.normal(0, 20, 2)
                else:
                    x, y = cam_xy[cam_i] + rng.normal(0, 120, 2)
                x, y = b.clip(float(x), float(y))
                hour = float(rng.uniform(0, 24) if rng.random() < 0.5 else rng.uniform(19, 30) % 24)
                t = local_midnight + timedelta(hours=hour - LOCAL_UTC_OFFSET_H)
                lat, lon = _to_latlon(cfg, x, y)
                raw.append((t, cat, lat, lon, False, cameras[int(cam_i)]))
            for _ in range(rng.poisson(prof.fp_drone_per_day)):
                x, y = rng.uniform(0, cfg.extent_m, 2)
                t = local_midnight + timedelta(hours=float(rng.uniform(9, 17)) - LOCAL_UTC_OFFSET_H)
                lat, lon = _to_latlon(cfg, float(x), float(y))
                raw.append((t, cat, lat, lon, False, drones[int(rng.integers(len(drones)))]))

    raw.sort(key=lambda r: r[0])
    cases = [_observe(cfg, rng, i + 1, *r, zone=ZONES[b.zone_idx(*_to_xy(cfg, r[2], r[3]))]) for i, r in enumerate(raw)]
    return SimCity(cfg, tuple(cases), tuple(hotspots), tuple(sources), b.zones)


def _observe(
    cfg: CityConfig,
    rng: np.random.Generator,
    case_id: int,
    t: datetime,
    category: str,
    lat: float,
    lon: float,
    is_true: bool,
    src: SimSource,
    zone: str,
) -> SimCase:
    """How the detector and the inspector see one problem (or non-problem)."""
    prof = cfg.profiles[category]
    q = src.quality
    local_hour = (t + timedelta(hours=LOCAL_UTC_OFFSET_H)).hour
    night = src.kind == "camera" and (local_hour >= 20 or local_hour < 6)
    if is_true:
        hours = float(rng.lognormal(math.log(prof.persistence_h), 1.1))
        rate = 1.2 if src.kind == "camera" else 0.02  # observations per hour (drones revisit rarely)
        n_obs = 1 + int(rng.poisson(min(hours, 72.0) * rate))
        n_src = 1 + int(rng.poisson(0.3 + 0.25 * math.log1p(hours)))
        mu = 0.42 + 0.2 * q + prof.confidence_offset - (0.08 if night else 0.0)
        size = float(rng.lognormal(math.log(prof.size_m2), 0.6))
    else:
        hours = float(rng.lognormal(math.log(prof.fp_persistence_h), 1.1))
        rate = 1.0 if src.kind == "camera" else 0.02
        n_obs = 1 + int(rng.poisson(min(hours, 72.0) * rate))
        n_src = 1 + int(rng.poisson(0.15))
        mu = 0.38 + 0.12 * q + prof.confidence_offset + (0.05 if night else 0.0)
        size = float(rng.lognormal(math.log(prof.fp_size_m2), 0.7))
    n_src = min(n_src, n_obs)
    end = datetime.combine(cfg.start.date(), datetime.min.time(), UTC) + timedelta(
        days=cfg.days, hours=-LOCAL_UTC_OFFSET_H
    )
    hours = max(0.0, min(hours, (end - t).total_seconds() / 3600.0))  # nothing is seen after the history ends
    mu = min(max(mu, 0.05), 0.95)
    kappa = 6.0
    conf = rng.beta(mu * kappa, (1 - mu) * kappa, size=min(n_obs, 50))
    conf = np.clip(conf, 0.25, 0.999)  # the detector's threshold is 0.25
    kind: SourceKind = src.kind if n_src == 1 else ("mixed" if rng.random() < 0.3 else src.kind)
    last = t + timedelta(hours=hours)
    snapshot = CaseSnapshot(
        case_id=case_id,
        category=category,
        lat=lat,
        lon=lon,
        first_seen=t,
        last_seen=last,
        observation_count=n_obs,
        source_count=n_src,
        source_kind=kind,
        max_confidence=round(float(conf.max()), 4),
        mean_confidence=round(float(conf.mean()), 4),
        object_size_m2=round(size, 2),
        source_quality=round(q, 3),
        zone=zone,
    )
    wrong = rng.random() < cfg.inspector_error
    verdict = Verdict.CONFIRMED if is_true != wrong else Verdict.FALSE_POSITIVE
    verdict_at = last + timedelta(hours=float(rng.exponential(6.0)) + 0.25)
    return SimCase(snapshot, is_true, verdict, verdict_at, src.source_id)


# ---- JSON Lines on disk: one SimCase per line -----------------------------------------------------------


def write_cases(path: Path, cases: Iterable[SimCase]) -> int:
    """Write cases as JSON Lines; returns how many."""
    n = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for c in cases:
            s = c.snapshot
            row = {
                "case_id": s.case_id,
                "category": s.category,
                "lat": s.lat,
                "lon": s.lon,
                "first_seen": s.first_seen.isoformat(),
                "last_seen": s.last_seen.isoformat(),
                "observation_count": s.observation_count,
                "source_count": s.source_count,
                "source_kind": s.source_kind,
                "max_confidence": s.max_confidence,
                "mean_confidence": s.mean_confidence,
                "object_size_m2": s.object_size_m2,
                "source_quality": s.source_quality,
                "zone": s.zone,
                "is_true": c.is_true,
                "verdict": c.verdict.value,
                "verdict_at": c.verdict_at.isoformat(),
                "source_id": c.source_id,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_cases(path: Path) -> list[SimCase]:
    """Read cases written by `write_cases`; a bad line is an error naming the file and line."""
    out: list[SimCase] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                snap = CaseSnapshot(
                    case_id=int(r["case_id"]),
                    category=str(r["category"]),
                    lat=float(r["lat"]),
                    lon=float(r["lon"]),
                    first_seen=datetime.fromisoformat(r["first_seen"]),
                    last_seen=datetime.fromisoformat(r["last_seen"]),
                    observation_count=int(r["observation_count"]),
                    source_count=int(r["source_count"]),
                    source_kind=r["source_kind"],
                    max_confidence=float(r["max_confidence"]),
                    mean_confidence=float(r["mean_confidence"]),
                    object_size_m2=r["object_size_m2"],
                    source_quality=r["source_quality"],
                    zone=r["zone"],
                )
                out.append(
                    SimCase(
                        snap,
                        bool(r["is_true"]),
                        Verdict(r["verdict"]),
                        datetime.fromisoformat(r["verdict_at"]),
                        str(r["source_id"]),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ScoringError(f"{path}:{lineno}: not a simulated case ({exc})") from exc
    return out


def records(cases: Sequence[SimCase]) -> list[VerdictRecord]:
    return [c.record for c in cases]
