"""A verdict's numbers as table cells, the same in the guard's job summary and the dashboard's
deployment page (pure: the guard imports it without any of the hub's dependencies)."""

from __future__ import annotations

import math

from bounceback.api.deployment_wire import MetricVerdict


def number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    if value == 0:
        return "0"
    if abs(value) >= 10_000 or abs(value) < 0.001:
        return f"{value:.3g}"
    return f"{value:.4g}"


def statistics_cell(metric: MetricVerdict) -> str:
    parts: list[str] = []
    if metric.p_value is not None:
        level = f" (alpha={number(metric.alpha)})" if metric.alpha is not None else ""
        parts.append(f"p={number(metric.p_value)}{level}")
    if metric.effect_lower is not None or metric.effect_upper is not None:
        parts.append(f"[{number(metric.effect_lower)}, {number(metric.effect_upper)}]")
    return " ".join(parts) or "—"


def with_n(value: float | None, n: int | None) -> str:
    return number(value) + (f" (n={n})" if n is not None else "")
