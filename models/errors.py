"""The error kinds every cityeye package builds its exceptions on, and the models package's own errors.

Each package has one `errors.py` with its base class (`models.errors.ModelsError`, `inference.errors.InferenceError`,
`cases.errors.CaseError`, `datasets.errors.DatasetError`, `training.errors.TrainingFailure`). A concrete error
derives from its package's base and from one *kind* below; callers that only care about what went wrong catch the
kind, and the API maps kinds (not classes) to HTTP statuses in one place, `api.errors`. An error without a kind is
a fault of the server (HTTP 500). Where a subclass changes its parent's kind, it names the new kind first
(`class VersionRequired(PreconditionRequired, InvalidAction)`), so that the kind comes first in its MRO.

CityeyeError
├── NotFound              the thing named does not exist                                   (HTTP 404)
├── Conflict              not possible in the current state, or the state changed meanwhile  (HTTP 409)
├── Invalid               the input cannot be used as given                                (HTTP 422)
│   └── InvalidParameter  one named request parameter is wrong          (HTTP 422, shaped like validation errors)
├── Malformed             the request cannot even be parsed                                (HTTP 400)
├── TooLarge              the input is over a size limit                                   (HTTP 413)
├── UnsupportedMedia      the input is of a type that is not accepted                      (HTTP 415)
├── PreconditionRequired  a required precondition (e.g. the version read) is missing       (HTTP 428)
├── Unauthenticated       no credentials, or unknown or revoked ones                       (HTTP 401)
├── Forbidden             the caller may not do this                                       (HTTP 403)
├── RateLimited           too many attempts; `retry_after` says when to try again          (HTTP 429)
├── Unavailable           something the request needs is missing, corrupt or down          (HTTP 503)
└── ModelsError           the models package (configuration, model registry, legacy checkpoints)
    ├── ConfigError              a configuration file or value is invalid (no kind: found at start; a ValueError)
    ├── LegacyCheckpointError    not a readable YOLOv5 checkpoint (Invalid; a ValueError)
    └── RegistryError            a version registry: unknown version, no production version, unreadable index
        │                        (NotFound; a ValueError)
        ├── PromotionRefused     the validation hook found reasons not to promote the candidate (Conflict)
        └── NothingToRollBack    no earlier production version to go back to (Conflict)
"""

from __future__ import annotations


class CityeyeError(Exception):
    """Base class of every cityeye error."""


# ---- kinds ---------------------------------------------------------------------------------------------------
class NotFound(CityeyeError):
    """The thing named does not exist (or the caller may not know that it does)."""


class Conflict(CityeyeError):
    """The request is not possible in the current state of the thing, or that state changed meanwhile."""


class Invalid(CityeyeError):
    """The input cannot be used as given; the message says why."""


class InvalidParameter(Invalid):
    """One named request parameter is wrong: `field` names it, `value` is what was given, `message` says why."""

    location = "query"

    def __init__(self, field: str, value: object, message: str):
        self.field = field
        self.value = value
        self.message = message
        super().__init__(f"{field}: {message}")


class Malformed(CityeyeError):
    """The request cannot even be parsed (a broken multipart body, say)."""


class TooLarge(CityeyeError):
    """The input is over a size limit."""


class UnsupportedMedia(CityeyeError):
    """The input is of a type that is not accepted."""


class PreconditionRequired(CityeyeError):
    """A precondition the request must state (e.g. the version the caller read) is missing."""


class Unauthenticated(CityeyeError):
    """No credentials, or unknown or revoked ones."""


class Forbidden(CityeyeError):
    """The caller is known but may not do this."""


class RateLimited(CityeyeError):
    """Too many attempts (failed authentications, say); `retry_after` is the seconds to wait."""

    def __init__(self, message: str, retry_after: float):
        self.retry_after = retry_after
        super().__init__(message)


class Unavailable(CityeyeError):
    """Something the request needs (a stored file, a service) is missing, corrupt or down; retrying later may help."""


KINDS: tuple[type[CityeyeError], ...] = (
    NotFound,
    Conflict,
    Invalid,
    Malformed,
    TooLarge,
    UnsupportedMedia,
    PreconditionRequired,
    Unauthenticated,
    Forbidden,
    RateLimited,
    Unavailable,
)


def kind_of(exc: BaseException) -> type[CityeyeError] | None:
    """The kind of `exc`: the first of `KINDS` in its MRO; None if it has none (a fault of the server)."""
    for cls in type(exc).__mro__:
        if cls in KINDS:
            return cls
    return None


# ---- the models package -------------------------------------------------------------------------------------
class ModelsError(CityeyeError):
    """Base class of the models package's errors."""


class LegacyCheckpointError(ModelsError, Invalid, ValueError):
    """The file is not a readable YOLOv5 checkpoint, or holds something other than tensors and layers."""


class RegistryError(ModelsError, NotFound, ValueError):
    """Unknown version, no production version, or a broken registry file (`models.versions`)."""


class PromotionRefused(Conflict, RegistryError):
    """The validation hook found reasons not to promote the candidate."""


class NothingToRollBack(Conflict, RegistryError):
    """There is no earlier production version to go back to."""
