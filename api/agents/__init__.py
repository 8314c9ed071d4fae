"""The hub side of the agent protocol: reports in, commands out, and what the fleet looks like."""
