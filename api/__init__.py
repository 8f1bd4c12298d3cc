"""The HTTP API (FastAPI). `api.main.create_app` wires it over the process's services (`api.deps.Services`);
one router per resource in `api.routes`; domain errors map to HTTP in `api.errors`."""
