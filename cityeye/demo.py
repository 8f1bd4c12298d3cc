"""`cityeye demo`: make sample media with the synthetic scene generator, detect, build cases, summarise.

Everything it shows is produced here: the media by the project's own generator, the detections by the
bundled default model. Nothing is downloaded and nothing is read from ../shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2


@dataclass(frozen=True)
class DemoMedia:
    stills: list[Path]
    aerial: list[Path]
    video: Path

    @property
    def folder(self) -> Path:
        return self.video.parent


def make_demo_media(out: Path, seed: int = 2026) -> DemoMedia:
    """Street stills, drone stills and a street video with a timeline, written under `out` (idempotent)."""
    from datasets.synthetic import generate_scene, generate_video

    out.mkdir(parents=True, exist_ok=True)
    stills, aerial = [], []
    for i in range(4):
        p = out / f"street_{i}.jpg"
        if not p.exists():
            cv2.imwrite(
                str(p),
                generate_scene("street", seed=seed + i, size=(960, 720)).image,
                [cv2.IMWRITE_JPEG_QUALITY, 92],
            )
        stills.append(p)
    for i in range(2):
        p = out / f"drone_{i}.jpg"
        if not p.exists():
            cv2.imwrite(
                str(p),
                generate_scene("aerial", seed=seed + 100 + i, size=(960, 720)).image,
                [cv2.IMWRITE_JPEG_QUALITY, 92],
            )
        aerial.append(p)
    video = out / "street_camera.mp4"
    if not video.exists():
        generate_video(video, seed=seed, duration_s=20, fps=10, size=(960, 720))
    return DemoMedia(stills, aerial, video)
