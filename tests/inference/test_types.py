from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inference.detections import Detections
from inference.event import Event, EvidenceImage
from inference.frame import Frame, GeoContext


def make_dets(n: int = 3) -> Detections:
    xyxy = np.array([[10 * i, 10 * i, 10 * i + 5, 10 * i + 8] for i in range(n)], np.float32)
    return Detections(xyxy, np.linspace(0.3, 0.9, n), np.arange(n) % 2, names={0: "garbage", 1: "stall"})


def test_detections_validate_lengths_and_boxes():
    with pytest.raises(ValueError, match=r"confidence must have shape \(2,\)"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="x2 >= x1"):
        Detections(np.array([[5, 5, 1, 9]]), [0.5], [0])
    with pytest.raises(ValueError, match="NaN"):
        Detections(np.array([[np.nan, 5, 6, 9]]), [0.5], [0])
    with pytest.raises(ValueError, match="tracker_id"):
        Detections(np.zeros((2, 4)), np.zeros(2), np.zeros(2), tracker_id=np.zeros(1))


def test_detections_indexing_returns_detections():
    d = make_dets(4)
    sub = d[d.confidence > 0.5]
    assert isinstance(sub, Detections) and len(sub) == 2
    assert sub.names == d.names
    assert list(sub.class_name) == ["garbage", "stall"]
    one = d[0]
    assert isinstance(one, Detections) and len(one) == 1
    assert len(Detections.empty()) == 0
    assert [len(x) for x in d] == [1, 1, 1, 1]
    np.testing.assert_allclose(d.area, [40, 40, 40, 40])


def test_frame_validation():
    img = np.zeros((4, 5, 3), np.uint8)
    f = Frame(img, "cam", datetime.now(UTC))
    assert (f.width, f.height) == (5, 4)
    with pytest.raises(ValueError, match="uint8"):
        Frame(np.zeros((4, 5), np.uint8), "cam", datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone"):
        Frame(img, "cam", datetime.now())
    with pytest.raises(ValueError, match="latitude"):
        GeoContext(91, 0)


def test_event_id_is_deterministic_and_validated():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    kw = dict(
        category="garbage",
        class_name="garbage",
        source_id="s",
        start=t,
        end=t + timedelta(seconds=3),
        bbox=(1.0, 2.0, 3.0, 4.0),
        confidence=0.8,
        mean_confidence=0.7,
        frames_seen=3,
        model_version="v1",
    )
    assert Event(**kw).event_id == Event(**kw).event_id
    assert Event(**kw).event_id != Event(**{**kw, "source_id": "other"}).event_id
    with pytest.raises(ValueError, match="before"):
        Event(**{**kw, "end": t - timedelta(seconds=1)})
    with pytest.raises(ValueError, match="kind"):
        EvidenceImage(np.zeros((2, 2, 3), np.uint8), "thumbnail")


def _same(a: Event, b: Event) -> None:
    """Every field equal; evidence compared image by image."""
    for name in Event.__dataclass_fields__:
        if name != "evidence":
            assert getattr(a, name) == getattr(b, name), name
    assert [e.kind for e in a.evidence] == [e.kind for e in b.evidence]
    for x, y in zip(a.evidence, b.evidence, strict=True):
        np.testing.assert_array_equal(x.image, y.image)


def test_event_from_detection_defaults_are_the_detection_and_the_frame():
    from inference.evidence import crop

    t = datetime(2026, 1, 1, tzinfo=UTC)
    img = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    frame = Frame(img, "survey:a:0123", t, uri="a.jpg")
    dets = make_dets(3)
    snapshot = img.copy()
    geo = GeoContext(30.0, 120.0)
    event = Event.from_detection(
        frame, dets, 2, category="garbage", model_version="v1", snapshot=snapshot, geo=geo, uri="survey:1/a.jpg"
    )
    box = tuple(float(v) for v in dets.xyxy[2])
    conf = min(1.0, max(0.0, float(dets.confidence[2])))
    expected = Event(
        category="garbage",
        class_name="garbage",
        source_id="survey:a:0123",
        start=t,
        end=t,
        bbox=(box[0], box[1], box[2], box[3]),
        confidence=conf,
        mean_confidence=conf,
        frames_seen=1,
        model_version="v1",
        evidence=(EvidenceImage(snapshot, "snapshot"), EvidenceImage(crop(img, dets.xyxy[2]), "crop")),
        geo=geo,
        uri="survey:1/a.jpg",
    )
    _same(event, expected)
    assert event.uri == "survey:1/a.jpg" and event.geo == geo
    plain = Event.from_detection(frame, dets, 0, category="garbage", model_version="v1", snapshot=snapshot)
    assert (plain.uri, plain.geo, plain.tracker_id) == ("a.jpg", None, None)


def test_event_from_detection_overrides_a_run_of_frames():
    from inference.evidence import crop

    t = datetime(2026, 1, 1, tzinfo=UTC)
    img = np.full((60, 80, 3), 7, np.uint8)
    frame = Frame(img, "cam", t + timedelta(seconds=2), index=4, uri="rtsp://cam", geo=GeoContext(1.0, 2.0))
    dets = make_dets(3)
    event = Event.from_detection(
        frame,
        dets,
        1,
        category="street_stall",
        class_name="vendor",
        model_version="v2",
        snapshot=img,
        start=t,
        end=t + timedelta(seconds=5),
        confidence=1.3,  # clipped
        mean_confidence=0.42,  # kept as given
        frames_seen=6,
        with_frame=True,
        geo=frame.geo,
        source_id="camera-1",
        tracker_id=9,
    )
    expected = Event(
        category="street_stall",
        class_name="vendor",
        source_id="camera-1",
        start=t,
        end=t + timedelta(seconds=5),
        bbox=tuple(float(v) for v in dets.xyxy[1]),  # type: ignore[arg-type]
        confidence=1.0,
        mean_confidence=0.42,
        frames_seen=6,
        model_version="v2",
        evidence=(
            EvidenceImage(img, "snapshot"),
            EvidenceImage(crop(img, dets.xyxy[1]), "crop"),
            EvidenceImage(img, "frame"),
        ),
        geo=GeoContext(1.0, 2.0),
        tracker_id=9,
        uri="rtsp://cam",
    )
    _same(event, expected)
