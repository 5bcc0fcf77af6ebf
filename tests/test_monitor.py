"""`citynode monitor` follows the node's log across an unplug/replug (the port vanishes and comes back)."""

import subprocess
import sys
import threading

from kit import citynode, stopped, wait_until


def node_printing(tmp_path, line: str):
    """A flash whose main.py prints `line` at every boot, then sleeps."""
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(f"import machine\nprint({line!r})\nmachine.deepsleep(60000)\n")
    return flash


def lines_of(stream) -> list[str]:
    """The lines of a process's stream, as they come (a reader thread fills the list)."""
    got: list[str] = []
    threading.Thread(target=lambda: got.extend(stream), daemon=True).start()
    return got


def test_monitor_reconnects_after_the_port_comes_back(tmp_path, served):
    b = served(
        flash_dir=node_printing(tmp_path, "hello from the node"), serial_number="emu-mon", max_sleep_s=0.4
    )
    mon = subprocess.Popen(
        [sys.executable, "-m", "citynode", "monitor", "--port", "id:emu-mon", "--for", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = lines_of(mon.stdout), lines_of(mon.stderr)

        def hellos():
            return sum("hello from the node" in ln for ln in out)

        wait_until(hellos, what="the monitor to show the node's line")
        b.unplug()
        wait_until(lambda: any("port went away" in ln for ln in err), what="the monitor to see the port go")
        seen = hellos()
        b.replug()
        wait_until(lambda: any("reconnected" in ln for ln in err), what="the monitor to reconnect")
        wait_until(lambda: hellos() > seen, what="the node's line after the replug")
    finally:
        stopped(mon)


def test_monitor_until_a_line_and_errors(tmp_path, served):
    served(flash_dir=node_printing(tmp_path, "node says hi"), serial_number="emu-until", max_sleep_s=0.3)
    r = citynode("monitor", "-p", "id:emu-until", "--until", "says hi", "--for", "10", timeout=30)
    assert "node says hi" in r.stdout
    r = citynode("monitor", "-p", "id:emu-until", "--until", "never", "--for", "1", ok=False, timeout=30)
    assert r.returncode == 2 and "no line containing 'never' within 1.0 s" in r.stderr
