"""Issue 7 figure: four emulated boards flashed at once in <= 1.5x the time of one.

Each board is a fake ROM loader in its own process (`python -m hil.rom_loader`), flashed by the real esptool
through `citynode.flash.flash_esp`, the boards run concurrently by `citynode.multiboard.run_on_ports` as
`citynode flash --all-ports` does. The image is the size of a MicroPython ESP32-S3 build (1.5 MB).

Two measurements, side by side:
- link-paced: the fake ROM paces received bytes at the UART's baud rate (921600 after the stub's baud
  change), as a real board's serial link does; this is the figure that says what a tray of boards costs.
- unpaced: a pty has no baud rate, so this is pure CPU (host esptool + four fake ROMs on this machine's
  cores); it says how much the host side costs, not the boards.
- flash then deploy: each board flashed (link-paced ROM) then given the ClassAir bundle by `citynode.deploy`
  over an emulated MicroPython board (`citynode emulator serve`), four boards at once against one. On real
  hardware the ROM and the MicroPython REPL are the same chip before and after its reset; here they are two
  emulations, one per stage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOARD = "heltec-wifi-lora32-v3"
IMAGE_BYTES = 1536 * 1024


def _flash_many(n: int, image: Path, work: Path, paced: bool) -> float:
    from citynode import boards
    from citynode.flash import flash_esp, forget_compressed_images
    from citynode.multiboard import any_failed, run_on_ports

    roms = _Roms(work, n, paced, f"f{n}")
    try:
        board = boards.load(BOARD)
        data = image.read_bytes()
        forget_compressed_images()  # as in a new `citynode flash` process
        t0 = time.perf_counter()
        results = run_on_ports(
            roms.ports, lambda port, prog: flash_esp(port, board, image, data).summary(), show=False
        )
        dt = time.perf_counter() - t0
        if any_failed(results):
            raise RuntimeError("; ".join(r.error or "" for r in results if not r.ok))
        for i, f in enumerate(roms.files):
            if f.read_bytes()[: len(data)] != data:
                raise RuntimeError(f"board {i}: the flash does not hold the image")
        return dt
    finally:
        roms.close()


class _Roms:
    def __init__(self, work: Path, n: int, paced: bool, tag: str):
        self.procs = []
        self.files = [work / f"flash-{tag}-{i}.bin" for i in range(n)]
        for f in self.files:
            cmd = [sys.executable, "-m", "hil.rom_loader", "--chip", "esp32s3", "--size", "8MB", "--quiet",
                   "--flash-file", str(f)]  # fmt: skip
            if paced:
                cmd.append("--uart-timing")
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        self.ports = [p.stdout.readline().strip() for p in self.procs]

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)


class _Served:
    """MicroPython boards served on ptys by one `citynode emulator serve --count N` process."""

    def __init__(self, work: Path, n: int, tag: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citynode", "emulator", "serve", "--count", str(n),
             "--flash-dir", str(work / f"served-{tag}"), "--max-sleep", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, CITYNODE_EMULATED_PORTS=str(work / f"reg-{tag}")),
        )  # fmt: skip
        self.ports = [self.proc.stdout.readline().split()[0] for _ in range(n)]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _flash_and_deploy(n: int, image: Path, bundle, work: Path) -> float:
    from citynode import boards
    from citynode.deploy import deploy
    from citynode.flash import flash_esp, forget_compressed_images
    from citynode.multiboard import any_failed, run_on_ports

    roms, served = _Roms(work, n, True, f"fd{n}"), _Served(work, n, f"fd{n}")
    try:
        board = boards.load(BOARD)
        data = image.read_bytes()
        pair = dict(zip(roms.ports, served.ports, strict=True))

        def job(rom_port, prog):
            flashed = flash_esp(rom_port, board, image, data)
            deployed = deploy(bundle, pair[rom_port])
            return f"{flashed.summary()}; {deployed.summary()}"

        forget_compressed_images()
        t0 = time.perf_counter()
        results = run_on_ports(roms.ports, job, show=False)
        dt = time.perf_counter() - t0
        if any_failed(results):
            raise RuntimeError("; ".join(r.error or "" for r in results if not r.ok))
        return dt
    finally:
        roms.close()
        served.close()


def run():
    from hil.rom_image import make_firmware_image

    rows = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        image = work / "ESP32_GENERIC_S3.bin"
        image.write_bytes(make_firmware_image("esp32s3", IMAGE_BYTES))
        _flash_many(1, image, work, paced=False)  # warm imports and caches outside the measurement
        for paced in (True, False):
            tries = 1 if paced else 3  # the unpaced run is short and noisy: best of three
            one = min(_flash_many(1, image, work, paced) for _ in range(tries))
            four = min(_flash_many(4, image, work, paced) for _ in range(tries))
            ratio = four / one
            what = (
                "921600-baud link modelled" if paced else f"unpaced pty, CPU bound on {os.cpu_count()} cores"
            )
            rows.append((f"flash 1.5 MB: one board ({what})", f"{one:.2f} s", "reference", True))
            if paced:
                rows.append((f"flash 1.5 MB: four boards at once ({what})", f"{four:.2f} s = {ratio:.2f}x",
                             "<= 1.5x one", ratio <= 1.5))  # fmt: skip
            else:
                rows.append((f"flash 1.5 MB: four boards at once ({what})", f"{four:.2f} s = {ratio:.2f}x",
                             "(host cost, information)", True))  # fmt: skip
        from citynode.build import build

        app = "classair"
        bundle = build(BOARD, app, work / "bundle")
        one = _flash_and_deploy(1, image, bundle, work)
        four = _flash_and_deploy(4, image, bundle, work)
        rows.append((f"flash 1.5 MB + deploy {app}: one board (921600-baud link modelled)", f"{one:.2f} s",
                     "reference", True))  # fmt: skip
        rows.append((f"flash 1.5 MB + deploy {app}: four boards at once", f"{four:.2f} s = {four / one:.2f}x",
                     "<= 1.5x one", four / one <= 1.5))  # fmt: skip
    return rows
