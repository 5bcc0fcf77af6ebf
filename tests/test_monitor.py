"""`citynode monitor` follows the node's log across an unplug/replug (the port vanishes and comes back)."""

import os
import subprocess
import sys
import time

from hil.serial_bridge import SerialBridge


def test_monitor_reconnects_after_the_port_comes_back(tmp_path, monkeypatch):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("import machine\nprint('hello from the node')\nmachine.deepsleep(60000)\n")
    env = dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp_path / "reg"))
    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", env["CITYNODE_EMULATED_PORTS"])
    b = SerialBridge("heltec-wifi-lora32-v3", flash_dir=flash, serial_number="emu-mon", max_sleep_s=0.4)
    mon = None
    try:
        b.start()
        mon = subprocess.Popen(
            [sys.executable, "-m", "citynode", "monitor", "--port", "id:emu-mon", "--for", "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        time.sleep(2.0)
        b.unplug()
        time.sleep(0.5)
        b.replug()
        time.sleep(2.0)
        mon.terminate()
        out, err = mon.communicate(timeout=10)
        assert "port went away" in err and "reconnected" in err, err
        assert out.count("hello from the node") >= 2, out
    finally:
        if mon is not None and mon.poll() is None:
            mon.kill()
            mon.wait()
        b.close()


def test_monitor_until_a_line_and_errors(tmp_path, monkeypatch):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("import machine\nprint('node says hi')\nmachine.deepsleep(60000)\n")
    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", str(tmp_path / "reg"))
    b = SerialBridge("heltec-wifi-lora32-v3", flash_dir=flash, serial_number="emu-until", max_sleep_s=0.3)
    try:
        b.start()
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "citynode",
                "monitor",
                "-p",
                "id:emu-until",
                "--until",
                "says hi",
                "--for",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=os.environ,
        )
        assert r.returncode == 0 and "node says hi" in r.stdout
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "citynode",
                "monitor",
                "-p",
                "id:emu-until",
                "--until",
                "never",
                "--for",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=os.environ,
        )
        assert r.returncode == 2 and "no line containing 'never' within 1.0 s" in r.stderr
    finally:
        b.close()
