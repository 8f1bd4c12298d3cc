"""Scale-out: stream workers share the cameras through Redis leases.

Each camera a worker runs is a key `<prefix>:lease:<camera>` holding the worker's id with a TTL; the
worker renews its leases every `heartbeat_s` (compare-and-expire in Lua, so it never extends a lease that
expired and was taken by someone else) and announces itself with `<prefix>:worker:<id>` (same TTL). Each
round a worker keeps at most ceil(cameras / live workers) leases: it gives extras back when another worker
joins and claims free cameras (SET NX PX) up to its share. A worker that dies (kill -9) stops renewing;
its leases expire within `lease_ttl_s` and the other workers claim those cameras on their next heartbeat.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Leases:
    def __init__(self, client: Any, worker_id: str, ttl_s: float, prefix: str = "cityeye:streams"):
        self.r = client
        self.worker_id = worker_id
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.prefix = prefix
        self.held: set[str] = set()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def key(self, camera_id: str) -> str:
        return f"{self.prefix}:lease:{camera_id}"

    def owner(self, camera_id: str) -> str | None:
        v = self.r.get(self.key(camera_id))
        return v.decode() if isinstance(v, bytes) else v

    def live_workers(self) -> list[str]:
        start = len(self.prefix) + len(":worker:")
        return sorted(
            (k.decode() if isinstance(k, bytes) else k)[start:]
            for k in self.r.scan_iter(match=f"{self.prefix}:worker:*")
        )

    def _order(self, camera_id: str) -> str:
        # each worker prefers a different order, so joining workers do not all race for the same cameras
        return hashlib.sha1(f"{self.worker_id}|{camera_id}".encode()).hexdigest()

    def balance(self, camera_ids: Iterable[str]) -> set[str]:
        """Heartbeat, renew, give back extras, claim free cameras; returns the cameras this worker holds."""
        cams = sorted(set(camera_ids))
        self.r.set(f"{self.prefix}:worker:{self.worker_id}", "1", px=self.ttl_ms)
        held = {c for c in self.held if self._renew(keys=[self.key(c)], args=[self.worker_id, self.ttl_ms]) == 1}
        for lost in self.held - held:
            log.warning("lease on camera %s lost (expired or taken over)", lost)
        for gone in held - set(cams):
            self._release(keys=[self.key(gone)], args=[self.worker_id])
            held.discard(gone)
        workers = max(1, len(self.live_workers()))
        quota = math.ceil(len(cams) / workers) if cams else 0
        for extra in sorted(held, key=self._order, reverse=True)[: max(0, len(held) - quota)]:
            self._release(keys=[self.key(extra)], args=[self.worker_id])
            held.discard(extra)
            log.info("camera %s given back (share is %d of %d cameras)", extra, quota, len(cams))
        for cid in sorted(cams, key=self._order):
            if len(held) >= quota:
                break
            if cid not in held and self.r.set(self.key(cid), self.worker_id, nx=True, px=self.ttl_ms):
                held.add(cid)
                log.info("camera %s claimed", cid)
        self.held = held
        return set(held)

    def release_all(self) -> None:
        for cid in self.held:
            self._release(keys=[self.key(cid)], args=[self.worker_id])
        self.held = set()
        self.r.delete(f"{self.prefix}:worker:{self.worker_id}")
