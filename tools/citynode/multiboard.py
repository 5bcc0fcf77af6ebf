"""Many boards at once: one job per port in its own thread, one progress bar per port, a table at the end.

    results = run_on_ports(ports, job, title="deploy")
    sys.exit(1 if any_failed(results) else 0)

A job is `job(port, progress) -> str` (a one-line summary for the table). It reports progress with
`progress.update(completed=, total=, status=)`; an exception fails that port only, the others carry on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass
class PortResult:
    port: str
    ok: bool
    seconds: float
    summary: str = ""
    error: str | None = None


class PortProgress:
    """What a job sees: a handle on its own progress bar (thread-safe: rich's Progress locks)."""

    def __init__(self, progress, task_id, port: str):
        self._progress = progress
        self._task = task_id
        self.port = port
        self.total: float | None = None

    def update(
        self,
        completed: float | None = None,
        total: float | None = None,
        status: str | None = None,
        advance: float | None = None,
    ):
        kw = {}
        if completed is not None:
            kw["completed"] = completed
        if total is not None:
            kw["total"] = total
            self.total = total
        if advance is not None:
            kw["advance"] = advance
        if status is not None:
            kw["status"] = status
        if self._progress is not None:
            self._progress.update(self._task, **kw)

    def log(self, msg: str):
        if self._progress is not None:
            self._progress.console.print(f"[dim]{self.port}[/]: {msg}", highlight=False)


def _error_text(e: BaseException) -> str:
    msg = getattr(e, "format_message", None)
    if callable(msg):
        return msg()
    text = str(e)
    return text if text else type(e).__name__


def run_on_ports(
    ports: Sequence[str],
    job: Callable[[str, PortProgress], str | None],
    *,
    title: str = "",
    console=None,
    show: bool = True,
    max_workers: int | None = None,
) -> list[PortResult]:
    """Run `job` on every port concurrently; return one PortResult per port, in the order given."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = console or Console(stderr=True)
    results: dict[str, PortResult] = {}
    lock = threading.Lock()
    progress = Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        disable=not show,
        transient=False,
    )
    width = max((len(p) for p in ports), default=4)
    tasks = {
        p: progress.add_task(f"{title} {p.ljust(width)}".strip(), total=None, status="waiting") for p in ports
    }

    def one(port: str):
        handle = PortProgress(progress, tasks[port], port)
        t0 = time.perf_counter()
        try:
            summary = job(port, handle) or "done"
            res = PortResult(port, True, time.perf_counter() - t0, summary=summary)
            done = handle.total or 1
            progress.update(tasks[port], total=done, completed=done, status="[green]ok")
        except BaseException as e:  # noqa: BLE001 - one board's failure must not stop the others
            res = PortResult(port, False, time.perf_counter() - t0, error=_error_text(e))
            progress.update(tasks[port], status="[red]failed")
            if not isinstance(e, Exception):
                raise
        with lock:
            results[port] = res

    with progress:
        with ThreadPoolExecutor(max_workers=max_workers or max(1, len(ports))) as pool:
            futures = [pool.submit(one, p) for p in ports]
            for f in futures:
                f.result()
    return [results[p] for p in ports]


def results_table(results: Sequence[PortResult], title: str = ""):
    from rich.table import Table

    table = Table(title=title or None)
    table.add_column("port")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("details", overflow="fold")
    for r in results:
        table.add_row(
            r.port,
            "[green]ok[/]" if r.ok else "[red]FAILED[/]",
            f"{r.seconds:.1f} s",
            r.summary if r.ok else (r.error or ""),
        )
    return table


def any_failed(results: Sequence[PortResult]) -> bool:
    return any(not r.ok for r in results)


def print_results(results: Sequence[PortResult], title: str = "", console=None) -> None:
    from rich.console import Console

    console = console or Console(stderr=True)
    console.print(results_table(results, title))
    n_bad = sum(not r.ok for r in results)
    if n_bad:
        console.print(f"[red]{n_bad} of {len(results)} boards failed[/]")
    else:
        console.print(f"[green]all {len(results)} boards ok[/]")
