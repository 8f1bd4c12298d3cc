"""The stream fixtures (scene video, camera configs) are shared with the unit tests in tests/inference/streams."""

from tests.inference.streams.conftest import scene

__all__ = ["scene"]
