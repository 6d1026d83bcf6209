"""Stages as generators on one thread, their slow steps on worker threads.

A stage yields ``Work`` (a function for a worker: a RUN, a COPY) or ``Wait``
(another stage's result) and is resumed with the answer, or with the
exception the work raised. Stages that wait on nothing run side by side; the
first error ends every stage (work already running finishes, its output is
thrown away). All database and bookkeeping code stays on the calling thread.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator

from dockyard.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class Work:
    run: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class Wait:
    stage: int


class Scheduler:
    def __init__(self, stages: dict[int, Generator[Work | Wait, Any, Any]], workers: int) -> None:
        self.stages = stages
        self.workers = workers
        self.results: dict[int, Any] = {}
        self.waiting: dict[int, int] = {}  # stage -> the stage it waits for
        self.ready: deque[tuple[int, Any, BaseException | None]] = deque((i, None, None) for i in stages)
        self.futures: dict[Future[Any], int] = {}

    def run(self) -> dict[int, Any]:
        """Each stage's return value; raises the first error."""
        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="build") as pool:
                self._drive(pool)
        finally:
            self._discard_unconsumed()
        if self.waiting:
            raise InvalidArgumentError("circular dependency detected on stage")
        return self.results

    def _drive(self, pool: ThreadPoolExecutor) -> None:
        try:
            while self.ready or self.futures:
                while self.ready:
                    self._resume(pool)
                if not self.futures:
                    break
                done, _ = wait(self.futures, return_when=FIRST_COMPLETED)
                for future in done:
                    i = self.futures.pop(future)
                    error = future.exception()
                    self.ready.append((i, None if error else future.result(), error))
        finally:
            for stage in self.stages.values():
                stage.close()

    def _resume(self, pool: ThreadPoolExecutor) -> None:
        i, value, exc = self.ready.popleft()
        try:
            item = self.stages[i].throw(exc) if exc is not None else self.stages[i].send(value)
        except StopIteration as stop:
            self.results[i] = stop.value
            for j in [j for j, on in self.waiting.items() if on == i]:
                del self.waiting[j]
                self.ready.append((j, stop.value, None))
            return
        if isinstance(item, Wait):
            if item.stage in self.results:
                self.ready.append((i, self.results[item.stage], None))
            else:
                self.waiting[i] = item.stage
        else:
            self.futures[pool.submit(item.run)] = i

    def _discard_unconsumed(self) -> None:
        """After a failure: layer tars finished work produced that no stage will take."""
        values = [v for _, v, _ in self.ready]
        values += [f.result() for f in self.futures if f.done() and not f.cancelled() and f.exception() is None]
        for value in values:
            if isinstance(value, Path):
                value.unlink(missing_ok=True)
