"""Probes and metrics: `/health` (liveness, always open), `/ready` (readiness: database, Redis, model), `/metrics`.

`/ready` and `/metrics` tell which model, queues and case counts run here: they need a key once any key exists,
unless `ops.public` lists them (e.g. a Kubernetes readiness probe or a Prometheus without credentials).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import metrics
from api.auth import public_or_key
from api.deps import ApiConfig, DetectorsDep, ServiceDep, SettingsDep
from api.schemas import Health
from cases.metrics import refresh_store_gauges
from inference.metrics import loaded_models
from models.metrics import exposition
from models.registry import Registry, RegistryError

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class Check(BaseModel):
    ok: bool
    detail: str


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    version: str
    checks: dict[str, Check]
    reasons: list[str]


@router.get("/health", response_model=Health)
def health(service: ServiceDep, request: Request) -> Health:
    """Liveness: 200 while the process serves requests. `database` is informational; `/ready` gates traffic."""
    db_ok = service.ping()
    return Health(
        status="ok" if db_ok else "degraded",
        version=request.app.version,
        database="ok" if db_ok else "unavailable",
    )


def _check_redis(url: str, timeout_s: float) -> Check:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
        return Check(ok=True, detail="ok")
    except redis.RedisError as exc:
        return Check(ok=False, detail=f"redis unreachable: {type(exc).__name__}: {exc}")
    finally:
        client.close()


def _check_model(settings: ApiConfig, detectors: Registry) -> Check:
    """The configured detector resolves to a weights file (the API does not load it; workers do)."""
    spec = settings.detector.model
    if Path(spec).suffix in {".pt", ".onnx"}:
        path = Path(spec)
        version = path.name
    else:
        try:
            mv = detectors.get(spec)
        except (RegistryError, OSError) as exc:
            return Check(ok=False, detail=f"model {spec!r} not loadable: {exc}")
        path, version = detectors.weights(mv.version, "pt"), mv.version
    if not path.is_file():
        return Check(ok=False, detail=f"model {spec!r}: weights file {path} missing")
    loaded = loaded_models()
    state = f"loaded here ({', '.join(sorted(loaded))})" if loaded else "loadable (not loaded in this process)"
    return Check(ok=True, detail=f"{version}: {state}")


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}}, dependencies=[public_or_key("ready")])
def ready(
    service: ServiceDep, settings: SettingsDep, detectors: DetectorsDep, request: Request, response: Response
) -> Ready:
    """Readiness: the database answers, Redis answers (when `redis_url` is set), the model is loadable
    (`ops.ready_model`). 503 with the reasons when any check fails."""
    checks = {
        "database": Check(ok=True, detail="ok") if service.ping() else Check(ok=False, detail="database unreachable")
    }
    if settings.redis_url:
        checks["redis"] = _check_redis(settings.redis_url, min(settings.ops.outbound_timeout_s, 2.0))
    if settings.ops.ready_model:
        checks["model"] = _check_model(settings, detectors)
    for name, check in checks.items():
        metrics.READY.labels(check=name).set(1 if check.ok else 0)
    reasons = [f"{name}: {c.detail}" for name, c in checks.items() if not c.ok]
    if reasons:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Ready(
        status="not_ready" if reasons else "ready", version=request.app.version, checks=checks, reasons=reasons
    )


@router.get(
    "/metrics",
    dependencies=[public_or_key("metrics")],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def prometheus_metrics(service: ServiceDep, settings: SettingsDep) -> Response:
    """Prometheus metrics of this API process, with the case store's and Redis' state read now."""
    if not settings.ops.metrics:
        return JSONResponse({"detail": "metrics are off (ops.metrics: false)"}, status_code=404)
    try:
        refresh_store_gauges(service.sessions, service.now())
    except Exception:  # a scrape must still answer when the database does not
        log.warning("metrics: the case store did not answer", exc_info=True)
        metrics.READY.labels(check="database").set(0)
    if settings.redis_url:
        try:
            metrics.refresh_queue_gauges(settings.redis_url, min(settings.ops.outbound_timeout_s, 2.0))
        except Exception as exc:
            log.warning("metrics: Redis did not answer (%s)", exc)
            metrics.READY.labels(check="redis").set(0)
    body, content_type = exposition()
    return Response(body, media_type=content_type)
