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
