"""bounceback-guard: the deployment guard that runs in CI (arrives with issue 4)."""
