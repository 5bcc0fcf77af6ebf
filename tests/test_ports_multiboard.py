"""Many boards at once: concurrent, isolated failures, results in port order."""

import io
import threading

from citynode.multiboard import any_failed, print_results, run_on_ports
from rich.console import Console


def test_jobs_run_concurrently_and_one_failure_spares_the_others():
    started = []
    barrier = threading.Barrier(3, timeout=60)  # only passes if the three jobs run at the same time

    def job(port, progress):
        progress.update(total=10, completed=0, status="working")
        started.append(port)
        barrier.wait()
        if port == "b":
            raise RuntimeError("board b fell off the desk")
        progress.update(completed=10)
        return f"{port} fine"

    buf = io.StringIO()
    console = Console(file=buf, width=120)
    res = run_on_ports(["a", "b", "c"], job, title="test", console=console)
    assert [r.port for r in res] == ["a", "b", "c"]
    assert [r.ok for r in res] == [True, False, True]
    assert res[1].error == "board b fell off the desk" and res[0].summary == "a fine"
    assert any_failed(res)
    print_results(res, console=console)
    out = buf.getvalue()
    assert "FAILED" in out and "board b fell off the desk" in out and "1 of 3 boards failed" in out
