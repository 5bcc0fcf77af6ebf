"""esptool's output, per flashing job. esptool has one global logger; while jobs run, a router stands in for it
and hands each call to the calling thread's `Sink`, so concurrent jobs (`--all-ports`, one thread each) keep
their own log lines and progress."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from citynode.flash.result import Progress


class Sink:
    """Where one flashing job's esptool output goes: its log lines and its progress."""

    _WRITING = re.compile(r"Writing at 0x([0-9a-fA-F]+)")

    def __init__(self, offset: int, size: int, progress: Progress | None, log: Callable[[str], None] | None):
        self.offset, self.size = offset, size
        self.progress, self.log_cb = progress, log
        self.lines: list[str] = []
        self.partial = ""
        self.phase = "connect"
        self.written = 0  # bytes the board confirmed (uncompressed)

    def text(self, s: str, end: str = "\n"):
        self.partial += s + end
        while "\n" in self.partial:
            line, self.partial = self.partial.split("\n", 1)
            line = re.sub(r"\[/?[a-z ]+\]", "", line).rstrip()  # rich markup esptool uses
            if line.strip():
                self.lines.append(line)
                if self.log_cb:
                    self.log_cb(line)

    def set_phase(self, phase: str, done: int = 0, total: int | None = None):
        self.phase = phase
        if self.progress:
            self.progress(phase, done, self.size if total is None else total)

    def bar(self, cur: int, total: int, prefix: str):
        m = self._WRITING.search(prefix)
        if m:
            # esptool names the flash address the board has acknowledged up to: uncompressed bytes written
            done = int(m.group(1), 16) - self.offset
        else:
            done = int(self.size * cur / total) if total else 0
        self.written = max(0, min(done, self.size))
        if self.progress and self.phase == "write":
            self.progress("write", self.written, self.size)


_local = threading.local()
_router_lock = threading.Lock()
_router_users = 0
_saved_logger = None


def _current_sink() -> Sink | None:
    return getattr(_local, "sink", None)


def _make_router():
    from esptool.logger import TemplateLogger

    class Router(TemplateLogger):
        """esptool has one global logger; concurrent jobs each get their own output through a thread-local."""

        def print(self, *args, **kwargs):
            sink = _current_sink()
            if sink is not None:
                sink.text(" ".join(str(a) for a in args), kwargs.get("end", "\n"))

        def note(self, message):
            self.print(f"Note: {message}")

        def warning(self, message):
            self.print(f"Warning: {message}")

        def error(self, message):
            self.print(f"Error: {message}")

        def stage(self, finish=False):
            pass

        def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
            sink = _current_sink()
            if sink is not None:
                sink.bar(cur_iter, total_iters, prefix)

        def set_verbosity(self, verbosity):
            pass

    return Router()


class RoutedLogging:
    """Install the routing logger while at least one job runs; put esptool's own back afterwards."""

    def __init__(self, sink: Sink):
        self.sink = sink

    def __enter__(self):
        global _router_users, _saved_logger
        from esp_pylib.logger import EspLog
        from esptool.logger import log

        with _router_lock:
            if _router_users == 0:
                _saved_logger = EspLog.instance
                log.set_logger(_make_router())
            _router_users += 1
        _local.sink = self.sink
        return self.sink

    def __exit__(self, *exc):
        global _router_users
        from esp_pylib.logger import EspLog

        _local.sink = None
        with _router_lock:
            _router_users -= 1
            if _router_users == 0:
                EspLog.instance = _saved_logger
