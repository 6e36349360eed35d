"""Run the real Twisted reactor in a daemon thread for a test session, and call into it.

Use the ``reactor_thread`` fixture (session scoped; import it into the test module) and
``run_in_reactor`` / ``run_coroutine`` to execute code on the reactor thread and wait for
its result. The reactor cannot be restarted, so it is stopped once, at session end; that
also stops its thread pool, whose non-daemon worker threads would otherwise block exit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

T = TypeVar("T")

THREAD_NAME = "plexus-test-reactor"
DEFAULT_TIMEOUT = 20.0
_lock = threading.Lock()


def _get_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _running_thread() -> threading.Thread | None:
    """The reactor thread, found by name so that a second import of this module shares it."""
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME and thread.is_alive():
            return thread
    return None


def start_reactor() -> Any:
    """Start the reactor in a daemon thread (once per process) and return it."""
    reactor = _get_reactor()
    with _lock:
        if _running_thread() is not None:
            return reactor
        if reactor.running:
            raise RuntimeError("the reactor is already running outside reactor_thread")
        started = threading.Event()
        reactor.callWhenRunning(started.set)
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                  name=THREAD_NAME, daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the reactor did not start within 10s")
    return reactor


def stop_reactor(timeout: float = 10.0) -> None:
    """Stop the reactor (runs shutdown triggers: thread pool, open ports) and join its thread."""
    reactor = _get_reactor()
    with _lock:
        thread = _running_thread()
        if thread is None:
            return
        if reactor.running:
            reactor.callFromThread(reactor.stop)
        thread.join(timeout)


def run_in_reactor(fn: Callable[..., Any], *args: Any, timeout: float = DEFAULT_TIMEOUT,
                   **kwargs: Any) -> Any:
    """Call fn on the reactor thread; wait for its (Deferred) result; re-raise its error."""
    reactor = _get_reactor()
    results: queue.Queue[Any] = queue.Queue()

    def call() -> None:
        d = defer.maybeDeferred(fn, *args, **kwargs)
        d.addBoth(results.put)

    reactor.callFromThread(call)
    try:
        result = results.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"no result from the reactor thread within {timeout}s") from None
    if isinstance(result, Failure):
        result.raiseException()
    return result


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]],
                  timeout: float = DEFAULT_TIMEOUT) -> T:
    """Run the coroutine made by factory() on the reactor thread and return its result."""
    return run_in_reactor(lambda: defer.ensureDeferred(factory()), timeout=timeout)


@pytest.fixture(scope="session")
def reactor_thread() -> Iterator[Any]:
    """The running reactor (in a background thread) for the whole test session."""
    reactor = start_reactor()
    yield reactor
    stop_reactor()
