"""CircuitBreaker as applications and the agent use it: decorator, context managers, probes."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bounceback.agent.breaker import (
    CircuitBreaker,
    CircuitOpenError,
    SlidingWindow,
    State,
    WindowKind,
)


class ManualClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Boom(Exception):
    pass


class NotFound(Exception):
    pass


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def breaker(manual_clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("db", clock=manual_clock)


def current(breaker: CircuitBreaker) -> State:
    return breaker.state  # read through a call: mypy would keep an asserted property narrowed


def fail_through(breaker: CircuitBreaker, times: int, error: type[Exception] = Boom) -> None:
    @breaker
    def broken() -> None:
        raise error

    for _ in range(times):
        with pytest.raises(error):
            broken()


def succeed_through(breaker: CircuitBreaker, times: int) -> None:
    @breaker
    def healthy() -> int:
        return 1

    assert sum(healthy() for _ in range(times)) == times


def test_decorated_function_opens_after_five_failures_and_refuses_calls(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    fail_through(breaker, 5)
    manual_clock.advance(20)
    with pytest.raises(CircuitOpenError) as refused:
        succeed_through(breaker, 1)
    assert (refused.value.name, refused.value.state) == ("db", State.OPEN)
    assert refused.value.remaining == pytest.approx(40.0)
    assert "'db' is open" in str(refused.value)


def test_recovery_timeout_then_three_successes_close_the_circuit(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    fail_through(breaker, 5)
    manual_clock.advance(60)
    assert current(breaker) is State.HALF_OPEN
    assert breaker.snapshot().state == "half_open"
    succeed_through(breaker, 2)
    assert current(breaker) is State.HALF_OPEN
    succeed_through(breaker, 1)
    assert current(breaker) is State.CLOSED


def test_a_failing_trial_reopens_the_circuit(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    fail_through(breaker, 5)
    manual_clock.advance(60)
    fail_through(breaker, 1)
    assert breaker.snapshot().open_remaining == 60.0


def test_excluded_exceptions_pass_through_without_counting(manual_clock: ManualClock) -> None:
    breaker = CircuitBreaker("api", exclude=[NotFound], clock=manual_clock)
    fail_through(breaker, 10, error=NotFound)
    assert current(breaker) is State.CLOSED
    assert breaker.snapshot().consecutive_failures == 0


def test_only_included_exceptions_count_as_failures(manual_clock: ManualClock) -> None:
    breaker = CircuitBreaker("api", include=[Boom], clock=manual_clock)
    fail_through(breaker, 5, error=NotFound)
    assert current(breaker) is State.CLOSED
    fail_through(breaker, 5, error=Boom)
    assert current(breaker) is State.OPEN


def test_a_failure_between_successes_of_concurrent_calls_is_forgotten(
    breaker: CircuitBreaker,
) -> None:
    # A call that entered before another one failed still resets the count when it succeeds.
    @breaker
    def long_call() -> None:
        fail_through(breaker, 1)
        assert breaker.snapshot().consecutive_failures == 1

    long_call()
    assert breaker.snapshot().consecutive_failures == 0
    with breaker:
        fail_through(breaker, 1)
    assert breaker.snapshot().consecutive_failures == 0


def test_decorator_keeps_the_function_identity(breaker: CircuitBreaker) -> None:
    @breaker
    def lookup(key: str, *, default: int = 0) -> int:
        """Find a key."""
        return len(key) + default

    assert lookup("abc", default=1) == 4
    assert (lookup.__name__, lookup.__doc__) == ("lookup", "Find a key.")


@pytest.mark.anyio
async def test_decorated_coroutine_function_is_awaited_and_guarded(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    @breaker
    async def fetch(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise Boom
        return "ok"

    assert await fetch(False) == "ok"
    for _ in range(5):
        with pytest.raises(Boom):
            await fetch(True)
    with pytest.raises(CircuitOpenError):
        await fetch(False)
    manual_clock.advance(60)
    for _ in range(3):
        assert await fetch(False) == "ok"
    assert current(breaker) is State.CLOSED


@pytest.mark.anyio
async def test_cancelling_a_trial_call_returns_its_permit(
    manual_clock: ManualClock,
) -> None:
    breaker = CircuitBreaker("cache", permitted_half_open_calls=3, clock=manual_clock)
    fail_through(breaker, 5)
    manual_clock.advance(60)
    started = asyncio.Event()

    @breaker
    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(hang())
    await started.wait()
    assert breaker.snapshot().half_open_in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.half_open_in_flight) == (State.HALF_OPEN, 0)
    succeed_through(breaker, 3)
    assert current(breaker) is State.CLOSED


def test_context_manager_records_success_failure_and_refusal(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    with breaker:
        pass
    for _ in range(5):
        with pytest.raises(Boom), breaker:
            raise Boom
    with pytest.raises(CircuitOpenError), breaker:
        pytest.fail("a refused block must not run")


def test_nested_context_managers_settle_their_own_breaker(manual_clock: ManualClock) -> None:
    outer = CircuitBreaker("outer", failure_threshold=1, clock=manual_clock)
    inner = CircuitBreaker("inner", failure_threshold=1, clock=manual_clock)
    with outer, pytest.raises(Boom), inner:
        raise Boom
    assert (outer.state, inner.state) == (State.CLOSED, State.OPEN)


def test_blocks_may_end_out_of_order(manual_clock: ManualClock) -> None:
    first = CircuitBreaker("first", failure_threshold=1, clock=manual_clock)
    second = CircuitBreaker("second", failure_threshold=1, clock=manual_clock)
    first.__enter__()
    second.__enter__()
    first.__exit__(Boom, Boom(), None)
    second.__exit__(None, None, None)
    assert (current(first), current(second)) == (State.OPEN, State.CLOSED)
    with pytest.raises(RuntimeError, match="never entered"):
        second.__exit__(None, None, None)


@pytest.mark.anyio
async def test_concurrent_tasks_in_one_async_block_settle_their_own_outcome(
    breaker: CircuitBreaker,
) -> None:
    both_inside = asyncio.Barrier(2)
    fail_first = asyncio.Event()

    async def guarded(fail: bool) -> None:
        async with breaker:
            await both_inside.wait()
            if fail:
                fail_first.set()
                raise Boom
            await fail_first.wait()

    results = await asyncio.gather(guarded(True), guarded(False), return_exceptions=True)
    assert [type(result) for result in results] == [Boom, type(None)]
    assert breaker.snapshot().consecutive_failures == 0  # the later success reset the count


@pytest.mark.anyio
async def test_async_context_manager_records_failures(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    for _ in range(5):
        with pytest.raises(Boom):
            async with breaker:
                await asyncio.sleep(0)
                raise Boom
    with pytest.raises(CircuitOpenError):
        async with breaker:
            pytest.fail("a refused block must not run")


def test_slow_calls_through_the_wrapper_are_timed_with_the_injected_clock(
    manual_clock: ManualClock,
) -> None:
    window = SlidingWindow(kind=WindowKind.TIME, size=30, minimum_calls=2, slow_call_duration=5.0)
    breaker = CircuitBreaker("storage", window=window, clock=manual_clock)
    for _ in range(2):
        with breaker:
            manual_clock.advance(5.0)
    assert current(breaker) is State.OPEN


def test_listeners_hear_every_transition_in_order(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    heard: list[tuple[str, State, State]] = []
    breaker.add_listener(lambda *change: heard.append(change))
    fail_through(breaker, 5)
    manual_clock.advance(60)
    succeed_through(breaker, 3)
    assert heard == [
        ("db", State.CLOSED, State.OPEN),
        ("db", State.OPEN, State.HALF_OPEN),
        ("db", State.HALF_OPEN, State.CLOSED),
    ]


def test_a_raising_listener_is_logged_and_the_others_still_hear(
    breaker: CircuitBreaker, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(name: str, old: State, new: State) -> None:
        raise RuntimeError("listener bug")

    heard: list[State] = []
    breaker.add_listener(broken)
    breaker.add_listener(lambda name, old, new: heard.append(new))
    fail_through(breaker, 5)
    assert heard == [State.OPEN]
    assert current(breaker) is State.OPEN
    assert "listener" in caplog.text and "'db'" in caplog.text
    breaker.remove_listener(broken)
    breaker.reset()
    assert heard == [State.OPEN, State.CLOSED]


def test_probes_drive_the_breaker_without_a_protected_call(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    for _ in range(5):
        breaker.record_failure()
    assert not breaker.allow_request()
    manual_clock.advance(60)
    for _ in range(3):
        assert breaker.allow_request()
        breaker.record_success(duration=0.01)
    assert current(breaker) is State.CLOSED


def test_half_open_allows_only_the_permitted_number_of_trial_requests(
    breaker: CircuitBreaker, manual_clock: ManualClock
) -> None:
    fail_through(breaker, 5)
    manual_clock.advance(60)
    assert [breaker.allow_request() for _ in range(4)] == [True, True, True, False]
    with pytest.raises(CircuitOpenError) as refused:
        succeed_through(breaker, 1)
    assert (refused.value.state, refused.value.remaining) == (State.HALF_OPEN, 0.0)
    assert breaker.snapshot().rejected_calls == 2


def test_force_open_refuses_until_reset(breaker: CircuitBreaker, manual_clock: ManualClock) -> None:
    breaker.force_open()
    manual_clock.advance(1e6)
    with pytest.raises(CircuitOpenError, match="until reset"):
        succeed_through(breaker, 1)
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.forced) == (State.OPEN, True)
    breaker.reset()
    succeed_through(breaker, 1)
    assert breaker.snapshot().rejected_calls == 1


def test_reset_forgets_failures(breaker: CircuitBreaker) -> None:
    fail_through(breaker, 4)
    breaker.reset()
    fail_through(breaker, 4)
    assert current(breaker) is State.CLOSED


@pytest.mark.parametrize(
    "window",
    [
        pytest.param(None, id="consecutive"),
        pytest.param(SlidingWindow(size=10, minimum_calls=10), id="window"),
    ],
)
def test_concurrent_calls_run_together_not_one_at_a_time(window: SlidingWindow | None) -> None:
    threads = 8
    inside = threading.Barrier(threads, timeout=10)
    breaker = CircuitBreaker("svc", window=window)

    @breaker
    def meet() -> int:
        # Serialized calls would never all reach the barrier: it would break after its timeout.
        return inside.wait()

    with ThreadPoolExecutor(threads) as pool:
        arrivals = sorted(pool.map(lambda _: meet(), range(threads)))
    assert arrivals == list(range(threads))


def test_concurrent_failures_open_the_circuit_exactly_once() -> None:
    breaker = CircuitBreaker("svc", failure_threshold=50)
    opened: list[State] = []
    breaker.add_listener(lambda name, old, new: opened.append(new))
    start = threading.Barrier(8, timeout=10)
    ran: list[None] = []

    @breaker
    def broken() -> None:
        ran.append(None)
        raise Boom

    def hammer() -> None:
        start.wait()
        for _ in range(200):
            with pytest.raises((Boom, CircuitOpenError)):
                broken()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: hammer(), range(8)))
    assert opened == [State.OPEN]
    # Calls already admitted when the 50th failure lands still run; every later one is refused.
    assert 50 <= len(ran) < 50 + 8
    assert breaker.snapshot().rejected_calls == 8 * 200 - len(ran)


def test_every_concurrent_outcome_lands_in_the_window() -> None:
    breaker = CircuitBreaker("svc", window=SlidingWindow(size=100_000, minimum_calls=100_000))
    succeed_all = breaker(lambda: None)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: [succeed_all() for _ in range(500)], range(8)))
    assert breaker.snapshot().window_calls == 4000
