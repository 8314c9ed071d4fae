"""A test that hangs is reported, not waited for: past BOUNCEBACK_TEST_HANG_SECONDS (default 300)
the stacks of every thread and every pending asyncio task go to stderr and the run is
interrupted, so CI fails with the place it hung instead of at its own time limit."""

from __future__ import annotations

import _thread
import asyncio
import gc
import os
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

LIMIT = float(os.environ.get("BOUNCEBACK_TEST_HANG_SECONDS", "300"))
_config: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _config.append(config)


def report(name: str) -> None:
    capture = _config[0].pluginmanager.getplugin("capturemanager") if _config else None
    if capture is not None:
        capture.suspend_global_capture(in_=False)  # the dump goes to the real stderr
    out = sys.stderr
    print(f"\n=== {name} still running after {LIMIT:g} s: stacks follow", file=out)
    for thread_id, frame in sys._current_frames().items():
        print(f"\n--- thread {thread_id}", file=out)
        traceback.print_stack(frame, file=out)
    for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]:
        print(f"\n--- task {task.get_name()}: {task.get_coro()!r}", file=out)
        awaiting: Any = task.get_coro()
        while awaiting is not None:  # the chain of awaits, outermost first
            top: Any = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
            if top is not None:
                traceback.print_stack(top, limit=1, file=out)
            awaiting = getattr(awaiting, "cr_await", None) or getattr(
                awaiting, "gi_yieldfrom", None
            )
    out.flush()
    _thread.interrupt_main()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    timer = threading.Timer(LIMIT, report, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    try:
        return (yield)
    finally:
        timer.cancel()
