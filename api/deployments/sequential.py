"""How much of the false-rollback budget alpha one look of the stabilization watch may spend.

The watch judges the deployment at planned looks 1 ... K (one per interval). Testing every look
at the full alpha would let repeated peeking roll back healthy deployments far more often than
alpha. We spend alpha with a Lan-DeMets spending function alpha(t) over the information fraction
t = k / K and test look k at the increment alpha(t_k) - alpha(t_{k-1}). The increments sum to
alpha, so by the union bound the chance of any false rejection over the whole watch is at most
alpha, whatever the correlation between looks (slightly conservative: it ignores that
correlation).

Why alpha-spending rather than guard.md's anytime-valid Poisson SPRT (§6.2): the SPRT there is
for an open-ended continuous watch and for counts only; its alternative lambda1 = 2 lambda0
= 2 rho0 x UCB(baseline) makes it weak exactly at the 2x regressions we must catch, and it has
no counterpart for Mann-Whitney. Our watch has a planned number of looks (the stabilization
duration / interval), which is guard.md's "otherwise ... split alpha across looks" case, and
spending works the same for every test the judge runs.

O'Brien-Fleming spending (the default) keeps early looks very strict: right after warm-up a
before/after comparison is at its noisiest, and Google's SRE workbook warns that time itself moves
metrics, so early rollbacks should need overwhelming evidence. Pocock spending spreads alpha
more evenly for watches that must react early.
"""

from __future__ import annotations

import math
from enum import StrEnum
from statistics import NormalDist

_NORMAL = NormalDist()


class Spending(StrEnum):
    OBRIEN_FLEMING = "obrien_fleming"
    POCOCK = "pocock"


def spent(alpha: float, fraction: float, spending: Spending = Spending.OBRIEN_FLEMING) -> float:
    """Cumulative alpha spent by information fraction `fraction` in [0, 1]."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return alpha
    if spending is Spending.POCOCK:
        return alpha * math.log1p((math.e - 1) * fraction)
    # one-sided O'Brien-Fleming-type: 2 - 2Φ(z_{1-alpha/2} / √t), equal to alpha at t = 1
    z = _NORMAL.inv_cdf(1 - alpha / 2)
    return min(alpha, math.erfc(z / math.sqrt(fraction) / math.sqrt(2.0)))


def look_alpha(
    alpha: float, look: int, max_looks: int, spending: Spending = Spending.OBRIEN_FLEMING
) -> float:
    """Nominal level for look `look` of `max_looks`: the alpha spent since the previous look."""
    if max_looks < 1:
        raise ValueError(f"max_looks must be at least 1, got {max_looks}")
    if not 1 <= look <= max_looks:
        raise ValueError(f"look must be between 1 and max_looks={max_looks}, got {look}")
    before = spent(alpha, (look - 1) / max_looks, spending)
    return spent(alpha, look / max_looks, spending) - before
