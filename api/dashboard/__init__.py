"""The hub's web dashboard: server-rendered pages behind a cookie session, live over SSE."""
