"""Every metric of cityeye, by its old names: each package defines its own (`inference/metrics.py`,
`cases/metrics.py`, `api/metrics.py`, plumbing in `models/metrics.py`); this module re-exports them for the shell.
"""

from api.metrics import *  # noqa: F403
from cases.metrics import *  # noqa: F403
from inference.metrics import *  # noqa: F403
from models.metrics import *  # noqa: F403
