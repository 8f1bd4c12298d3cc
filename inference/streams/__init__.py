"""Camera streams: sources → one batched detector → per-camera tracking, zones and rules → events → cases.

    CameraSource (one decode thread per camera, drop-oldest buffer, fps cap, reconnect, watchdog)
        └─ latest frame of every camera ─> Batcher (one Detector call per round)
              └─ per camera: mask → StationaryTracker → CameraRules (+ CameraGeo) ─ Event ─> CaseService

`cityeye streams` runs them (`inference.streams.worker`); with `redis_url` set, workers share the cameras
through Redis leases (`inference.streams.leases`).
"""
