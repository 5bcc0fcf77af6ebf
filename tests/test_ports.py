"""Port listing and --port resolution, against real ptys advertised as emulated boards."""

import json
import os
import subprocess
import sys
import threading

import pytest
from citynode import ports
from citynode.base import emulated_ports
from citynode.ports import PortError, open_serial, resolve_port


@pytest.fixture
def registry(tmp_path, monkeypatch):
    d = tmp_path / "reg"
    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", str(d))
    if any(p.vid is not None for p in ports.list_ports()):
        pytest.skip("real USB serial boards attached: auto-resolution results would differ")
    opened = []

    def add(serial, board="heltec-wifi-lora32-v3"):
        m, s = os.openpty()
        opened.extend([m, s])
        path = os.ttyname(s)
        emulated_ports.register_emulated(path, board, serial)
        return path

    yield add
    for fd in opened:
        os.close(fd)


def test_auto_with_no_board_says_so(registry):
    with pytest.raises(PortError, match="no board found.*data cable"):
        resolve_port("auto")


def test_auto_picks_the_only_board(registry):
    path = registry("emu-1")
    assert resolve_port("auto") == path
    assert resolve_port(None) == path


def test_auto_with_several_lists_them_and_never_prompts(registry):
    registry("emu-1")
    registry("emu-2")
    with pytest.raises(PortError) as e:
        resolve_port("auto", interactive=True)  # stdin is not a terminal under pytest: still no prompt
    msg = str(e.value)
    assert "2 boards attached" in msg and "id:emu-1" in msg and "id:emu-2" in msg and "--all-ports" in msg


def test_id_selects_by_usb_serial(registry):
    registry("emu-1")
    p2 = registry("emu-2")
    assert resolve_port("id:emu-2") == p2
    with pytest.raises(PortError, match=r"no port with USB serial 'nope' \(attached: id:emu-1, id:emu-2\)"):
        resolve_port("id:nope")


def test_paths_and_urls(registry, tmp_path):
    p = registry("emu-1")
    assert resolve_port(p) == p
    assert resolve_port("port:" + p) == p
    assert resolve_port("socket://localhost:1234") == "socket://localhost:1234"
    with pytest.raises(PortError, match="/dev/ttyNOPE: no such port"):
        resolve_port("/dev/ttyNOPE")


def test_wait_for_a_port_that_comes_back(registry):
    notes = []
    waiting = threading.Event()

    def plug_in_once_waiting():  # the board comes once the command is waiting for it
        waiting.wait(30)
        registry("emu-late")

    t = threading.Thread(target=plug_in_once_waiting)
    t.start()

    def on_wait(note):
        notes.append(note)
        waiting.set()

    path = resolve_port("id:emu-late", wait_s=60, on_wait=on_wait)
    t.join()
    assert path.startswith("/dev/")
    assert notes, "the user is told what is being waited for"
    with pytest.raises(PortError, match=r"waited 1 s"):
        resolve_port("id:never", wait_s=1)


def test_dead_server_entries_are_ignored(registry, tmp_path):
    d = emulated_ports.registry_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / "999999-x.json").write_text(
        json.dumps({"device": "/dev/null", "board": "b", "serial_number": "x", "pid": 999999999})
    )
    assert [p for p in ports.list_ports() if p.emulated] == []


def test_listing_says_which_board(registry):
    registry("emu-7")
    out = subprocess.run(
        [sys.executable, "-m", "citynode", "ports", "--json"],
        capture_output=True,
        text=True,
        env=os.environ,
        check=True,
    ).stdout
    (entry,) = [p for p in json.loads(out) if p["emulated"]]
    assert entry["serial_number"] == "emu-7" and entry["board"] == "heltec-wifi-lora32-v3"


def test_busy_port_names_the_holder(registry):
    path = registry("emu-1")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import serial,sys; s=serial.Serial(sys.argv[1], exclusive=True); print('ok', flush=True); sys.stdin.read()",
            path,
        ],
        stdin=subprocess.PIPE,  # it holds the port until the test ends
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(PortError, match=rf"{path} is busy: it is open by .*\(pid {holder.pid}\)"):
            open_serial(path)
    finally:
        holder.kill()
        holder.wait()


def test_permission_error_points_at_the_group():
    e = ports.explain(PermissionError(13, "Permission denied"), "/dev/null")
    assert "no permission to open /dev/null" in str(e) and "usermod -aG" in str(e)


def test_a_board_that_re_enumerates_is_followed_by_its_serial(served):
    b = served(serial_number="emu-s3", replug_after_s=1.0)
    (before,) = [p for p in ports.list_ports() if p.serial_number == "emu-s3"]
    before.vid = 0x303A  # as an ESP32-S3's native USB port: it goes away on reset
    b.unplug()  # the reset: the port goes, and the board plugs itself back in a second later
    new = ports.wait_reenumerated(before, timeout=60)
    # It came back (maybe under the same name: pty numbers, like ttyACM numbers, get reused) after going away.
    assert new == b.path and b.plugged
    b.replug_after_s = None
    b.unplug()
    with pytest.raises(PortError, match="did not come back within 1 s"):
        ports.wait_reenumerated(before, timeout=1)
