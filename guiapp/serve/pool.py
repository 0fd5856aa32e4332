"""A bounded pool of worker threads for model work, off the event loop.

Threads, not processes: the model is loaded once and shared, and torch releases the GIL
in its kernels. At most `workers` tasks run and `max_queue` wait; beyond that `submit`
raises QueueFull with a Retry-After estimated from how long recent tasks took.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy: retry after {retry_after} s")
        self.retry_after = retry_after


class PoolClosed(Exception):
    """The server is shutting down."""


class WorkerPool:
    def __init__(self, workers: int, max_queue: int, name: str, typical_seconds: float) -> None:
        self.workers = workers
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"guiapp-{name}")
        self._lock = threading.Lock()
        self._pending = 0  # queued + running
        self._mean_seconds = typical_seconds  # a prior, replaced by the first measurement
        self._measured = False
        self._closed = False
        self._futures: set[Future] = set()  # submitted and not done

    @property
    def pending(self) -> int:
        return self._pending

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue drained at the recent task rate."""
        waves = max(self._pending - self.workers + 1, 1) / self.workers
        return max(1, math.ceil(waves * self._mean_seconds))

    def check_capacity(self) -> None:
        """Raise QueueFull/PoolClosed now, before the caller reads a large upload."""
        if self._closed:
            raise PoolClosed()
        if self._pending >= self.workers + self.max_queue:
            raise QueueFull(self.retry_after())

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            self.check_capacity()
            self._pending += 1

        def timed() -> T:
            start = time.perf_counter()
            try:
                return fn()
            finally:
                self._record(time.perf_counter() - start)

        try:
            future = self._executor.submit(timed)
        except RuntimeError:  # executor shut down between the check and here
            self._release()
            raise PoolClosed() from None
        with self._lock:
            self._futures.add(future)
        # Runs when the task finishes *or* is cancelled while still queued.
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)
        self._release()

    def _record(self, seconds: float) -> None:
        with self._lock:
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds if self._measured else seconds
            self._measured = True

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        """Refuse new tasks (the server is stopping); running ones finish."""
        self._closed = True

    def shutdown(self, wait_s: float | None = None) -> bool:
        """Drop queued tasks and wait for the running ones (the caller has cancelled them:
        they end with their current step) up to `wait_s` seconds (None: no limit). True if
        none is left running; the threads of those that are end with them."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = set(self._futures)
        _done, left = concurrent.futures.wait(running, timeout=wait_s)
        return not left
