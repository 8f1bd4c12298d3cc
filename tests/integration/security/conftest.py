from tests.cases.pg import postgres  # noqa: F401 (the session fixture: a throw-away PostgreSQL cluster)
