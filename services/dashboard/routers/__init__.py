"""The dashboard's routes: ``read`` (GET /api/...), ``control`` (POST, token), ``stream`` (SSE)."""
