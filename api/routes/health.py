from __future__ import annotations

from fastapi import APIRouter, Response, status

import cityeye
from api.deps import ServiceDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(service: ServiceDep, response: Response) -> Health:
    """Liveness and database reachability; 503 when the database does not answer."""
    if service.ping():
        return Health(status="ok", version=cityeye.__version__, database="ok")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="degraded", version=cityeye.__version__, database="unavailable")
