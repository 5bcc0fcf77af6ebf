"""`emulator serve` against the real mpremote CLI: REPL, files, soft reset, Ctrl-C, deep sleep, unplug."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kit import read_until, stopped, wait_until

MPREMOTE = shutil.which("mpremote") or str(Path(sys.executable).with_name("mpremote"))


def mpr(port, *args, timeout=20):
    r = subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_mpremote_exec_files_and_soft_reset(served, tmp_path):
    b = served()
    assert mpr(b.path, "exec", "print(6*7)").strip() == "42"
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello board\n" * 300)
    out = mpr(
        b.path,
        "fs",
        "mkdir",
        "lib",
        "+",
        "fs",
        "cp",
        str(src),
        ":lib/hello.txt",
        "+",
        "fs",
        "sha256sum",
        ":lib/hello.txt",
    )
    import hashlib

    assert hashlib.sha256(src.read_bytes()).hexdigest() in out
    # The flash is the sandbox directory: the file is there, nothing escaped to the host's /lib.
    assert (b.flash / "lib" / "hello.txt").read_bytes() == src.read_bytes()
    assert not Path("/lib/hello.txt").exists()
    boots = b.boots
    mpr(b.path, "soft-reset")
    assert b.boots == boots + 1
    assert "hello.txt" in mpr(b.path, "fs", "ls", ":lib")


def test_main_runs_at_boot_and_ctrl_c_interrupts_it(served):
    b = served()
    # A main.py that never ends: mpremote's Ctrl-C must still reach the REPL.
    (b.flash / "main.py").write_text("open('started', 'w').close()\nwhile True:\n    pass\n")
    mpr(b.path, "reset")  # reboot so main.py runs
    wait_until((b.flash / "started").exists, what="main.py to start")
    assert mpr(b.path, "exec", "print('interrupted ok')").strip() == "interrupted ok"


def test_ctrl_c_stops_running_code_at_its_next_call_into_the_board(served, tmp_path):
    """A Ctrl-C for a running main.py is raised where it next calls the board's hardware, as a board's UART
    interrupt is, never from a signal in the middle of a compile: the unix port raised it mid-compile with the
    qstr lock held, and the next compile hung (a board that enters the raw REPL and then never answers)."""
    import serial

    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(
        "import machine\ni2c = machine.I2C(0, scl=machine.Pin(18), sda=machine.Pin(17))\nn = 0\n"
        "print('running')\n"
        "while True:\n    n += 1\n    for k in range(100):\n"
        "        exec('v%d = n' % (k + n % 200))  # names interned, under the interpreter's qstr lock\n"
        "    i2c.scan()  # the board's hardware\n"
    )
    b = served(flash_dir=flash)  # main.py is there at the first boot
    s = serial.Serial(b.path, timeout=0.1)
    try:
        s.write(b"\x03")  # to the REPL, whatever the board was doing
        read_until(s, lambda o: o.endswith(b">>> "), what="the REPL prompt")
        for _ in range(3):
            s.write(b"\x04")  # soft reset at the REPL: main.py runs again
            read_until(s, lambda o: b"running" in o, what="main.py to run")
            # What is tested is a Ctrl-C that lands while main.py is busy compiling: give it a moment to be.
            time.sleep(0.1)
            s.write(b"\x03")
            out = read_until(s, lambda o: o.endswith(b">>> "), what="the prompt after Ctrl-C")
            assert b"KeyboardInterrupt" in out and b'"_hil"' in out, (
                out
            )  # raised in the call, not mid-compile
            s.write(b"print(6 * 7)\r")
            read_until(s, lambda o: b"42\r\n" in o, what="the REPL to answer")
    finally:
        s.close()


def test_deep_sleep_reboots_main_and_prints_the_boot_line_again(served):
    import serial

    b = served(max_sleep_s=0.3)
    (b.flash / "main.py").write_text(
        "import machine\nprint('wake', machine.reset_cause())\nmachine.deepsleep(900000)\n"
    )
    mpr(b.path, "reset")
    s = serial.Serial(b.path, timeout=0.1)
    try:
        # 4 = DEEPSLEEP_RESET, as on an ESP32
        read_until(s, lambda o: o.count(b"wake 4\r\n") >= 2, what="two wakes from deep sleep")
    finally:
        s.close()


def test_unplug_closes_the_port_and_replug_powers_on(served, tmp_path):
    import serial

    link = tmp_path / "board-link"
    b = served(link=link)
    assert os.path.realpath(link) == b.path
    client = serial.Serial(b.path, timeout=0.2)  # a tool connected when the cable comes out
    try:
        b.unplug()
        assert not link.exists() and not b.plugged
        with pytest.raises(serial.SerialException):
            client.write(b"\r\x03")
            client.read(10)
    finally:
        client.close()
    b.replug()
    assert link.exists()
    assert mpr(str(link), "exec", "print(2)").strip() == "2"


def test_unplug_after_bytes_cuts_a_transfer(served, tmp_path):
    b = served(unplug_after_bytes=600)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(8000))
    r = subprocess.run(
        [MPREMOTE, "connect", b.path, "fs", "cp", str(src), ":big.bin"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode != 0
    assert not b.plugged and b.bytes_from_host == 600


def test_bridge_death_kills_the_interpreter(tmp_path):
    env = dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp_path / "reg"))
    p = subprocess.Popen(
        [sys.executable, "-m", "citynode", "emulator", "serve", "--flash-dir", str(tmp_path / "f")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        path = p.stdout.readline().split()[0]
        assert mpr(path, "exec", "print(1)").strip() == "1"
        children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        assert children
        p.kill()
        p.wait()

        def gone(pid):
            try:
                return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # a zombie: dead, not reaped
            except FileNotFoundError:
                return True

        wait_until(lambda: all(gone(c) for c in children), what="the interpreters to die with the bridge")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_serve_cli_unplug_and_replug_by_signal(tmp_path):
    import signal

    env = dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp_path / "reg"))
    link = tmp_path / "ttyEMU"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citynode",
            "emulator",
            "serve",
            "--flash-dir",
            str(tmp_path / "f"),
            "--link",
            str(link),
            "--serial",
            "emu-sig",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert p.stdout.readline().split() == [str(link), "emu-sig"]
        assert mpr(str(link), "exec", "print(3)").strip() == "3"
        p.send_signal(signal.SIGUSR1)
        wait_until(lambda: not link.exists(), what="the link to go on SIGUSR1 (unplug)")
        p.send_signal(signal.SIGUSR2)
        wait_until(link.exists, what="the link to come back on SIGUSR2 (replug)")
        assert mpr(str(link), "exec", "print(4)").strip() == "4"
    finally:
        stopped(p)
    assert p.returncode == 0
