"""The HTTP API (FastAPI). `api.main.create_app` builds the app; one router per resource in `api.routes`."""
