"""The inference package's exceptions, on the error kinds of `models.errors` (the API maps kinds to HTTP statuses).

InferenceError
├── MediaError          a media file cannot be read; the message names the file and why (Invalid; a ValueError)
├── GeoError            a position cannot be computed from the metadata (Invalid; a ValueError)
├── DetectorError       the model file cannot be loaded or exported (Unavailable; a RuntimeError)
├── CameraNotFound      no camera with that id (NotFound; a LookupError)
├── CameraExists        a camera with that id exists already (Conflict; a ValueError)
└── CameraConfigError   an invalid camera configuration, one `path: message` line per problem (Invalid; a ValueError)
"""

from __future__ import annotations

from models.errors import CityeyeError, Conflict, Invalid, NotFound, Unavailable


class InferenceError(CityeyeError):
    """Base class of the inference package's errors."""


class MediaError(InferenceError, Invalid, ValueError):
    """A media file cannot be read; the message names the file and the reason."""


class GeoError(InferenceError, Invalid, ValueError):
    """A position cannot be computed: missing or impossible metadata, unknown CRS. The message says which."""


class DetectorError(InferenceError, Unavailable, RuntimeError):
    """The model file cannot be loaded or exported."""


class CameraNotFound(InferenceError, NotFound, LookupError):
    pass


class CameraExists(InferenceError, Conflict, ValueError):
    pass


class CameraConfigError(InferenceError, Invalid, ValueError):
    """Invalid camera configuration; `errors` holds one `path: message` line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))
