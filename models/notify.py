"""Tell running workers that the production model changed (Redis pub/sub; embedded workers poll instead)."""

from __future__ import annotations

import logging

CHANNEL = "cityeye:models:production"
log = logging.getLogger(__name__)


def publish_production(redis_url: str | None, version: str) -> int:
    """Publish `version` as the new production model; returns how many subscribers heard it (0 without Redis)."""
    if not redis_url:
        return 0
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return int(client.publish(CHANNEL, version))
    except redis.RedisError as exc:  # workers still poll the registry: a lost notice delays, never loses, a reload
        log.warning("could not notify workers of production model %s: %s", version, exc)
        return 0
    finally:
        client.close()
