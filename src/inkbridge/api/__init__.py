"""HTTP: thin routes and one error mapping; the webhook hot path as a lean endpoint."""
