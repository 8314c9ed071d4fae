"""The Bounceback hub.

Kept free of heavy imports: the agent and the guard import ``bounceback.api.schema``.
"""
