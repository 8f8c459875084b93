"""The alert loop and scheduled jobs in a process of their own, beside `serve --workers N`.

With one server process the loop runs in it (a thread). With several, it gets a process
of its own, started and watched by `yunheng serve`: a loop cycle (500 firing alerts, 2,000
hosts) is hundreds of milliseconds of Python, and in a serving process it holds the GIL
against that process's requests; measured under load, that was the p99 tail. The jobs
process contends for the same lease as any other replica's (alerts.leader), so HA across
machines is unchanged: one holder in the whole installation runs the jobs.

Lifecycle: `JobsProcess.start()` spawns it; a watcher thread starts it again (after a pause)
if it dies, since nothing else would run the alert loop on this machine; `stop()` asks it
to stop (SIGTERM: the loop finishes its job and releases the lease) and waits. If `serve`
itself is killed (SIGKILL), the jobs process notices its parent is gone within a second
and stops too, so it never runs the loop for a server that no longer exists.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.context import SpawnProcess

log = logging.getLogger(__name__)

RESTART_PAUSE = 5.0  # seconds before a dead jobs process is started again
STOP_WAIT = 30.0  # a running job (a cycle, a report) gets this long to finish on stop
PARENT_CHECK = 1.0  # seconds between looks at whether `serve` is still there


def main(parent: int) -> None:
    """The jobs process: the alert loop until SIGTERM/SIGINT or until `parent` is gone."""
    from alerts.loop import AlertLoop
    from console.app import configure_logging, freeze_startup_objects
    from inventory.crypto import SecretBox
    from inventory.db import engine_from_settings
    from inventory.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = engine_from_settings(settings)
    loop = AlertLoop(engine, SecretBox.from_settings(settings), settings)
    loop.start()
    freeze_startup_objects()
    try:
        while not stop.wait(PARENT_CHECK):
            if os.getppid() != parent:
                log.warning("jobs: `yunheng serve` (pid %d) is gone; stopping", parent)
                break
    finally:
        loop.stop()
        engine.dispose()


class JobsProcess:
    """The jobs process of one `yunheng serve`, started again if it dies."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._process: SpawnProcess | None = None
        self._stopping = threading.Event()
        # stop() and the watcher's restart take turns: without it, a restart decided just
        # before stop() could start a jobs process after stop() returned.
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="jobs-watcher", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            process = self._context.Process(target=main, args=(os.getpid(),), name="yunheng-jobs")
            process.start()
            self._process = process
        log.info("jobs process started (pid %s)", process.pid)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is not None:
                process.join(timeout=1.0)
                if process.exitcode is None or self._stopping.is_set():
                    continue
                log.error(
                    "jobs process %s exited (code %s); starting it again in %.0f s",
                    process.pid,
                    process.exitcode,
                    RESTART_PAUSE,
                )
            if not self._stopping.wait(RESTART_PAUSE):
                self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.exitcode is not None:
            return
        process.terminate()  # SIGTERM: main() stops the loop, which releases the lease
        process.join(STOP_WAIT)
        if process.exitcode is None:
            log.error("jobs process %s did not stop in %.0f s; killing it", process.pid, STOP_WAIT)
            process.kill()
            process.join()
