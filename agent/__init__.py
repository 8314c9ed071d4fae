"""bounceback-agent: health checks and self-healing on each server (arrives with issue 3)."""
