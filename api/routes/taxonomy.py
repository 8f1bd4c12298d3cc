from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceDep
from models.taxonomy import Taxonomy

router = APIRouter(tags=["taxonomy"])


@router.get("/taxonomy", response_model=Taxonomy)
def taxonomy(service: ServiceDep) -> Taxonomy:
    """The categories (code, Chinese and English names, severity, merge radius, SLA hours per step) and the
    detector-class mapping this server uses. Open: it is configuration, not case data."""
    return service.taxonomy
