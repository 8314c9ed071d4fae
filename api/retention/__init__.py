"""Retention: what the hub keeps of the records that grow with use, and the pruning of the rest."""
