"""`yunheng serve --workers N`: N server processes, each listening on a socket of its own.

uvicorn's own `--workers` shares one listening socket among the processes: whichever wakes
first accepts, and a burst of new connections (a client or proxy opening its pool at once)
mostly lands in one process, where keep-alive keeps it. Measured with bench.load (32
connections, two processes): 25 to 7 was common, and then one process ran at its core's
limit while the other idled: p99 at 200 requests/s anywhere from 47 ms to a second from
run to run. Here each process gets its own socket bound with SO_REUSEPORT, and the kernel
hashes every new connection to one of them, so each process gets its share.

Supervision follows uvicorn's (its Process class: the worker's health ping, graceful
terminate): a worker that dies or stops answering is replaced on the same socket, whose
backlog holds the connections that arrive meanwhile; SIGINT/SIGTERM stop all gracefully.
Linux-only (SO_REUSEPORT), like the rest of the deployment.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from types import FrameType

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("uvicorn.error")

CHECK_SECONDS = 0.5  # how often the supervisor looks at its workers


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port that other SO_REUSEPORT sockets may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)  # the worker listens on it
    return sock


class Workers:
    """Runs `count` copies of the server in `config`, one socket each, until told to stop."""

    def __init__(self, config: Config, count: int) -> None:
        if config.port == 0:
            raise ValueError("--workers needs a fixed port: every worker binds the same one")
        self.config = config
        self.count = count
        self._stop = threading.Event()

    def run(self) -> None:
        if _answers(self.config.host, self.config.port):
            # Another `yunheng serve` (same user) could share the port through SO_REUSEPORT
            # without a word, splitting the traffic between two installations.
            raise SystemExit(f"port {self.config.port} is already served by another process")
        sockets = [reuse_port_socket(self.config.host, self.config.port) for _ in range(self.count)]
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        workers: list[Process] = []
        failed = False
        try:
            workers.extend(self._start(sock) for sock in sockets)
            log.info(
                "Serving on http://%s:%d with %d worker processes (SO_REUSEPORT)",
                self.config.host,
                self.config.port,
                self.count,
            )
            while not self._stop.wait(CHECK_SECONDS):
                for i, worker in enumerate(workers):
                    healthy = worker.is_alive(timeout=self.config.timeout_worker_healthcheck)
                    if healthy or self._stop.is_set():
                        continue
                    worker.kill()
                    worker.join()
                    if worker.exitcode == STARTUP_FAILURE:
                        # Broken settings, app or TLS: every replacement would fail alike.
                        log.error("worker %s failed to start; stopping", worker.pid)
                        failed = True
                        self._stop.set()
                        break
                    log.error("worker %s died or stopped answering; starting another", worker.pid)
                    workers[i] = self._start(sockets[i])
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.join()
            for sock in sockets:
                sock.close()
        if failed:
            raise SystemExit(STARTUP_FAILURE)

    def _start(self, sock: socket.socket) -> Process:
        worker = Process(self.config, [sock])
        worker.start()
        return worker

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("Received %s; stopping the workers", signal.Signals(signum).name)
        self._stop.set()


def _answers(host: str, port: int) -> bool:
    """Whether something already accepts connections on host:port."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 (not a bind)
    target = wildcard.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=1.0):
            return True
    except OSError:
        return False
