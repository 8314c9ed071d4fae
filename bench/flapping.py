"""A metric flapping around its threshold every cycle for a simulated day, through the real pure
decisions (``track`` + ``check``) with an injected clock: how many recovery actions start per
hour, ours (hold for the duration + cooldowns) vs a naive trigger (every breaching sample).

Run ``python bench/flapping.py`` (a day at 10 s samples) or ``--quick`` (under 60 s: 6 hours).
The last line is JSON; the target is at most one action per cooldown window.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from bounceback.api.clock import FakeClock
from bounceback.api.recovery.decide import Safety, breached, check, track
from bounceback.api.recovery.models import PREDEFINED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="simulate 6 hours instead of 24")
    args = parser.parse_args()
    hours = 6 if args.quick else 24
    action = PREDEFINED[0].model_copy(update={"cooldown_period": 10})
    threshold = action.conditions.metric_thresholds["memory_percent"]
    step = timedelta(seconds=10)
    clock = FakeClock()
    start = clock.now()
    since = None
    last_start = None
    ours = naive = 0
    cycle = 0
    while clock.now() - start < timedelta(hours=hours):
        cycle += 1
        # Above for 6 minutes, below for one sample: the duration (5 min) is met every cycle.
        value = threshold + 5 if cycle % 37 else threshold - 5
        now = clock.now()
        is_breached = breached(action.conditions.metric_thresholds, {"memory_percent": value})
        naive += is_breached
        hold = track(since, is_breached, now, timedelta(minutes=action.conditions.duration))
        since = hold.since
        if hold.fire:
            verdict = check(
                Safety(
                    enabled=True,
                    manual=False,
                    action=action,
                    open_for_pair=False,
                    last_episode_of_pair=last_start,
                    last_episode_on_target=last_start,
                    active=0,
                    max_concurrent=5,
                    global_cooldown=timedelta(minutes=5),
                ),
                now,
            )
            if verdict.allowed:
                ours += 1
                last_start = now
        clock._now = now + step  # the fake clock, advanced without an event loop
    limit = 60 / action.cooldown_period
    print(f"simulated {hours} h, a sample every {step.total_seconds():g} s")
    print(f"ours: {ours / hours:.2f} actions/h, naive: {naive / hours:.2f}, limit {limit:g}")
    print(
        json.dumps(
            {
                "bench": "flapping",
                "ours_actions_per_hour": round(ours / hours, 3),
                "naive_actions_per_hour": round(naive / hours, 3),
                "cooldown_limit_per_hour": limit,
            }
        )
    )


if __name__ == "__main__":
    main()
