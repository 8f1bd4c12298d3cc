"""A small city for the console tests: real cases (synthetic street/drone pictures as evidence, positions in two
districts, every status, some overdue) stored through the real CaseService, and one API key per role.

Run it by hand to look at the console: `python -m tests.integration.console.seed DATA_DIR`, then
`cityeye --config DATA_DIR/cityeye.yaml serve` and open http://127.0.0.1:8000/console/ with a printed key.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import yaml
from sqlalchemy.orm import Session, sessionmaker

from cases.auth import ApiKeys
from cases.cameras import SqlCameraStore
from cases.db import make_engine, migrate, session_factory
from cases.lifecycle import Action, Actor, Role, Verdict
from cases.service import CaseService
from cityeye.config import Settings, load_settings
from datasets.synthetic import generate_scene
from inference.event import Event, EvidenceImage
from inference.evidence import crop
from inference.frame import GeoContext
from inference.streams.config import CameraConfig, CameraGeoConfig, Zone
from inference.streams.runner import snapshot_path
from inference.streams.source import SourceStatus
from models.registry import Registry
from models.taxonomy import load_taxonomy

BASE_LAT, BASE_LON = 31.2304, 121.4737  # Shanghai, People's Square
DISTRICTS = {
    "huangpu": (121.455, 31.215, 121.4737, 31.245),
    "jingan": (121.4737, 31.215, 121.492, 31.245),
}
# detector class -> category, for the objects the synthetic scenes contain
CATEGORY_OF = {
    "stall": "street_stall",
    "garbage": "garbage",
    "signboard": "billboard_hazard",
    "construction": "illegal_construction",
}
ADMIN = Actor("seed", Role.ADMIN)


@dataclass
class City:
    settings: Settings
    config_file: Path
    keys: dict[str, str]  # role (and crew-huangpu, a department key of one district) -> API key
    case_ids: list[int]


def _scene_event(i: int, now: datetime) -> Event | None:
    kind = "aerial" if i % 4 == 3 else "street"
    scene = generate_scene(kind, seed=500 + i, size=(640, 480))
    objects = [o for o in scene.objects if o.class_name in CATEGORY_OF]
    if not objects:
        return None
    obj = max(objects, key=lambda o: (o.xyxy[2] - o.xyxy[0]) * (o.xyxy[3] - o.xyxy[1]))
    box = np.array(obj.xyxy, dtype=np.float32)
    # two rings of positions around the square, inside the two districts
    angle = i * 2.4
    radius = 0.002 + 0.0011 * (i % 9)
    geo = GeoContext(lat=BASE_LAT + radius * np.sin(angle), lon=BASE_LON + 1.2 * radius * np.cos(angle))
    start = now - timedelta(minutes=5 + 13 * i)
    return Event(
        category=CATEGORY_OF[obj.class_name],
        class_name=obj.class_name,
        source_id=f"{'drone' if kind == 'aerial' else 'cam'}-{i % 5 + 1}",
        start=start,
        end=start + timedelta(seconds=40),
        bbox=tuple(float(v) for v in obj.xyxy),  # type: ignore[arg-type]
        confidence=0.55 + 0.4 * ((i * 7) % 10) / 10,
        mean_confidence=0.5 + 0.3 * ((i * 3) % 10) / 10,
        frames_seen=3 + i % 6,
        model_version="v1",
        evidence=(EvidenceImage(scene.image, "snapshot"), EvidenceImage(crop(scene.image, box), "crop")),
        geo=geo,
    )


def _seed_cameras(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """Two cameras as a stream worker leaves them: one streaming (latest snapshot written), one reconnecting."""
    store = SqlCameraStore(sessions)
    store.create(
        CameraConfig(
            id="cam-1",
            name="Nanjing Road east",
            url="rtsp://10.0.0.5/stream1",
            geo=CameraGeoConfig(lat=BASE_LAT + 0.004, lon=BASE_LON + 0.001),
            zones=[Zone(name="sidewalk", kind="no_vending", points=[(100, 400), (900, 400), (900, 700), (100, 700)])],
        )
    )
    store.create(CameraConfig(id="cam-2", name="People's Square", url="http://10.0.0.6/mjpeg"))
    snapshot = snapshot_path(settings.data_dir, "cam-1")
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(snapshot), generate_scene("street", seed=3, size=(960, 720)).image)
    now = datetime.now(UTC)
    statuses = [
        SourceStatus("cam-1", state="streaming", fps=2.0, frames=120, last_frame_at=now, reconnects=1),
        SourceStatus("cam-2", state="reconnecting", reconnects=4, last_error="connection refused"),
    ]
    store.write_status("worker-a", {st.camera_id: st.as_dict() for st in statuses})


def _seed_candidate_model(settings: Settings) -> None:
    """A candidate next to the bundled production model: the same weights, registered with metrics measured on
    the same val split (so the promotion gate compares them), a little better on every category."""
    registry = Registry(settings.models_dir)
    production = registry.get("production")
    metrics = {k: round(min(v + 0.01, 1.0), 4) for k, v in production.metrics.items()}
    registry.register(
        registry.weights("production"),
        production.model_copy(
            update={
                "version": "v2",
                "metrics": metrics,
                "parent": production.version,
                "notes": "",
                "promoted_at": None,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        ),
    )


def seed_city(data_dir: Path, port: int = 8000, n: int = 16) -> City:
    """Cases, keys and a config file (`<data_dir>/cityeye.yaml`) for `cityeye serve`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config_file = data_dir / "cityeye.yaml"
    config = {
        "data_dir": str(data_dir),
        "api": {"host": "127.0.0.1", "port": port},
        "auth": {"open_read": False},
        "lifecycle": {"districts": {k: list(v) for k, v in DISTRICTS.items()}},
    }
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    settings = load_settings(config_file)
    engine = make_engine(settings)
    try:
        migrate(settings, engine)
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        # some cases are stored with a clock 3 hours back: their first deadline has passed (overdue)
        past = CaseService(sessions, settings, load_taxonomy(), clock=lambda: now - timedelta(hours=3))
        present = CaseService(sessions, settings, load_taxonomy())
        ids: list[int] = []
        for i in range(n):
            event = _scene_event(i, now)
            if event is None:
                continue
            if i == n - 1:  # a picture without GPS: a case with no position
                event = dataclasses.replace(event, geo=None)
            result = (past if i % 4 in (0, 1) else present).ingest(event)
            ids.append(result.case_id)
        # move some cases along the lifecycle so every status shows up
        for j, case_id in enumerate(ids):
            step = j % 6
            case = present.get_case(case_id).case
            if step >= 1:
                case = present.act(case_id, Action.REGISTER, ADMIN, version=case.version)
            if step >= 2 and step != 5:
                case = present.act(case_id, Action.DISPATCH, ADMIN, version=case.version, department="sanitation")
            if step >= 3 and step != 5:
                case = present.act(case_id, Action.HANDLED, ADMIN, version=case.version, note="cleared")
            if step == 4:
                case = present.act(case_id, Action.VERIFY, ADMIN, version=case.version, verdict=Verdict.CONFIRMED)
        _seed_cameras(settings, sessions)
        _seed_candidate_model(settings)
        keys = ApiKeys(sessions)
        tokens = {role.value: keys.create(f"{role.value}-1", role).token for role in Role}
        # the phone console's field crew: a department key bound to one district
        tokens["crew-huangpu"] = keys.create("crew-huangpu", Role.DEPARTMENT, ["huangpu"]).token
    finally:
        engine.dispose()
    return City(settings, config_file, tokens, ids)


if __name__ == "__main__":
    city = seed_city(Path(sys.argv[1]).resolve())
    print(f"{len(city.case_ids)} cases; config {city.config_file}")
    for role, token in city.keys.items():
        print(f"{role:<11} {token}")
