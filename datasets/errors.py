"""The datasets package's exceptions, on the error kinds of `models.errors`.

DatasetError
├── DatasetBuildError     the recipe or a source cannot be built into a dataset version (Invalid; a ValueError)
├── DatasetFormatError    an annotation file, or the image it points at, cannot be read (Invalid; a ValueError)
├── LabelError            a YOLO label file or line is malformed, naming file and line (Invalid; a ValueError)
└── LabelingFormatError   a labelling tool's export cannot be read (Invalid; a ValueError)
"""

from __future__ import annotations

from models.errors import CityeyeError, Invalid


class DatasetError(CityeyeError):
    """Base class of the datasets package's errors."""


class DatasetBuildError(DatasetError, Invalid, ValueError):
    """The recipe or a source cannot be built into a dataset version."""


class DatasetFormatError(DatasetError, Invalid, ValueError):
    """An annotation file (or the image it points at) cannot be read; the message names it."""


class LabelError(DatasetError, Invalid, ValueError):
    """A label file or line is malformed; the message names the file and line."""


class LabelingFormatError(DatasetError, Invalid, ValueError):
    """A labelling tool's file that cannot be read."""
