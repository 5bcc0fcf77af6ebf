"""`citynode deploy`: put a bundle on a board over the raw REPL: incremental, verified, switched atomically.

On the board (see build.LOADER):
    /main.py      the loader, the same for every version
    /board.json   the board file
    /fw/a, /fw/b  two firmware slots; /fw/active names the one that boots

A deploy: one round trip reads every hash on the board; the inactive slot is made equal to the bundle (files
already there are kept, files equal in the active slot are copied on the board, only the others cross the
cable, base64 in raw-paste scripts of a few KB); one round trip reads the slot's hashes back and checks them
against the manifest; then `fw/active` is switched with a rename. A cable pulled at any point before that rename
leaves the previous slot active and complete; after it, the new one. Then a soft reset and the node's boot line
`citynode boot v=<version> ...` confirm what runs.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from citynode.build import Bundle
from citynode.transport import BOOT_RE, HELPERS, PROBE, RawRepl, ReplError

SLOTS = ("a", "b")
CHUNK = 4096  # payload bytes per raw-paste script (decoded); keeps the board's heap use small


class DeployError(Exception):
    pass


@dataclass
class DeployResult:
    port: str
    version: str
    sent_files: int = 0
    sent_bytes: int = 0
    copied_on_board: int = 0
    removed: int = 0
    slot: str = ""
    unchanged: bool = False
    boot_line: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        if self.unchanged:
            what = "up to date, nothing written"
        else:
            what = (
                f"{self.sent_files} files ({self.sent_bytes} B) sent, {self.copied_on_board} copied on board"
            )
        return f"v={self.version} slot {self.slot}: {what}; booted in {self.seconds:.1f} s"


def _slot_files(manifest: dict) -> dict[str, str]:
    return {k[3:]: v for k, v in manifest["files"].items() if k.startswith("fw/")}


def _root_files(manifest: dict) -> dict[str, str]:
    return {k: v for k, v in manifest["files"].items() if k in ("main.py", "board.json")}


def _check_compat(manifest: dict, info: dict):
    mpy = info.get("mpy") or 0
    if mpy and (mpy & 0xFF) != manifest.get("mpy_version", 6):
        raise DeployError(
            f"the board runs MicroPython with .mpy version {mpy & 0xFF}, the bundle needs {manifest['mpy_version']} "
            f"(MicroPython {manifest['micropython']}): reflash it with `citynode flash`"
        )


def _install_packages(port: str, packages: list[str], lib: list[str], note: Callable[[str], None]) -> None:
    have = {Path(p).name.split(".")[0] for p in lib}
    wanted = {
        "lora-sync": "sync_modem",
        "lora-sx126x": "sx126x",
        "lora-sx127x": "sx127x",
        "lora-stm32wl5": "stm32wl5",
    }
    missing = [p for p in packages if wanted.get(p, p) not in have]
    if not missing:
        return
    exe = shutil.which("mpremote") or str(Path(sys.executable).with_name("mpremote"))
    r = subprocess.run(
        [exe, "connect", port, "mip", "install", *missing], capture_output=True, text=True, timeout=300
    )
    if r.returncode:
        raise DeployError(
            f"could not install {', '.join(missing)} with mip ({(r.stderr or r.stdout).strip().splitlines()[-1:]}); "
            f"run `mpremote connect {port} mip install {' '.join(missing)}` from a machine with internet access"
        )
    note(f"installed {', '.join(missing)} with mip")


def deploy(
    bundle: Bundle,
    port: str,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    wait_boot_s: float = 20.0,
    install_packages: bool = True,
    connect_timeout: float = 8.0,
    force: bool = False,
) -> DeployResult:
    """Deploy `bundle` to the board on `port` (a resolved device path or URL): probe, diff, transfer, verify,
    switch, packages (mip), boot check."""
    t0 = time.perf_counter()
    manifest = bundle.manifest
    res = DeployResult(port, manifest["version"])
    prog = progress or (lambda done, total, status: None)
    prog(0, 1, "connecting")
    repl = RawRepl(port)
    try:
        repl.enter(connect_timeout)
        info = _probe(repl, manifest, port, force)
        plan = _diff(info, manifest, bundle.out)
        res.slot, res.unchanged = plan.target, plan.unchanged
        if not plan.unchanged:
            _transfer(repl, bundle.out, plan, res, prog)
            _verify(repl, plan, prog)
            _switch(repl, plan)
        if manifest.get("packages") and install_packages:
            repl = _packages(repl, port, manifest, info, res.notes)
        prog(1, 1, "rebooting")
        res.boot_line = _boot_check(repl, manifest["version"], wait_boot_s)
    except ReplError as e:
        raise DeployError(str(e)) from None
    except TimeoutError as e:
        raise DeployError(f"{port}: the board stopped answering ({e})") from None
    finally:
        repl.close()
    res.seconds = time.perf_counter() - t0
    return res


def _probe(repl: RawRepl, manifest: dict, port: str, force: bool) -> dict:
    """Every hash on the board in one round trip; refuses a board the bundle cannot run on."""
    info = repl.eval_json("_D = ('fw/a', 'fw/b')\n" + PROBE)
    _check_compat(manifest, info)
    if info.get("board") and info["board"] != manifest["board"] and not force:
        raise DeployError(
            f"the board on {port} is a {info['board']} (its board.json), not a {manifest['board']}: firmware "
            "for another board drives the wrong pins; use --force to replace it anyway"
        )
    return info


@dataclass
class _Plan:
    """What the deploy does to the board, from its probe and the manifest."""

    target: str  # the slot that will boot: the active one if unchanged, else the other
    unchanged: bool = False
    active: str | None = None
    want_slot: dict[str, str] = field(default_factory=dict)  # path in the slot -> sha256
    want_root: dict[str, str] = field(default_factory=dict)  # main.py, board.json -> sha256
    send: list[str] = field(
        default_factory=list
    )  # bundle paths that cross the cable (slot files, then roots)
    root_send: list[str] = field(default_factory=list)
    copy: list[str] = field(default_factory=list)  # slot paths copied from the active slot on the board
    extra: list[str] = field(default_factory=list)  # slot paths on the target the bundle does not have
    total: int = 1  # bytes to send (at least 1, for progress bars)

    def slot_path(self, rel: str) -> str:
        return f"fw/{self.target}/{rel}"


def _slot_state(files: dict[str, str], slot: str) -> dict[str, str]:
    return {k[len(f"fw/{slot}/") :]: v for k, v in files.items() if k.startswith(f"fw/{slot}/")}


def _diff(info: dict, manifest: dict, out: Path) -> _Plan:
    """The inactive slot made equal to the bundle: files already there are kept, files equal in the active slot
    are copied on the board, only the others are sent."""
    files = info["files"]
    want_slot, want_root = _slot_files(manifest), _root_files(manifest)
    # The slot that boots now (the loader falls back to fw/active.new if a switch on FAT was cut short).
    active = next((x for x in (info["active"], info["active_new"]) if x in SLOTS), None)
    roots_ok = all(files.get(k) == v for k, v in want_root.items())
    if active and _slot_state(files, active) == want_slot and roots_ok and info["active"] == active:
        return _Plan(active, unchanged=True, active=active)
    plan = _Plan("b" if active == "a" else "a", active=active, want_slot=want_slot, want_root=want_root)
    have_t = _slot_state(files, plan.target)
    have_a = _slot_state(files, active) if active else {}
    for rel, h in sorted(want_slot.items()):
        if have_t.get(rel) == h:
            continue
        if have_a.get(rel) == h:
            plan.copy.append(rel)
        else:
            plan.send.append(f"fw/{rel}")
    plan.extra = [rel for rel in have_t if rel not in want_slot]
    plan.root_send = [k for k, v in want_root.items() if files.get(k) != v]
    plan.send += plan.root_send
    plan.total = sum((out / p).stat().st_size for p in plan.send) or 1
    return plan


def _transfer(repl: RawRepl, out: Path, plan: _Plan, res: DeployResult, prog) -> None:
    """Removes and on-board copies in one script, then the files to send, base64 in scripts of about CHUNK bytes.
    Root files go next to theirs as `<name>.new` until the switch."""
    prog(0, plan.total, "writing")
    repl.exec(HELPERS)
    script = [f"_rm({plan.slot_path(rel)!r})" for rel in plan.extra]
    script += [f"_cp({f'fw/{plan.active}/{rel}'!r},{plan.slot_path(rel)!r})" for rel in plan.copy]
    if script:
        repl.exec("\n".join(script))
    res.copied_on_board, res.removed = len(plan.copy), len(plan.extra)
    pending: list[str] = []
    pending_size = done = 0

    def flush():
        nonlocal pending, pending_size, done
        if pending:
            repl.exec("\n".join(pending))
            done += pending_size
            prog(done, plan.total, "writing")
        pending, pending_size = [], 0

    for path in plan.send:
        data = (out / path).read_bytes()
        dest = plan.slot_path(path[3:]) if path.startswith("fw/") else path + ".new"
        pending.append(f"_mk({dest!r})")
        for i in range(0, max(1, len(data)), CHUNK):
            part = data[i : i + CHUNK]
            if pending_size + len(part) > CHUNK:
                flush()
            pending.append(f"_w({dest!r},{'ab' if i else 'wb'!r},{base64.b64encode(part).decode()!r})")
            pending_size += len(part)
        res.sent_files += 1
        res.sent_bytes += len(data)
    flush()


def _verify(repl: RawRepl, plan: _Plan, prog) -> None:
    """The target slot and the new root files read back and checked before anything points at them."""
    prog(plan.total, plan.total, "verifying")
    after = repl.eval_json(f"_D = ('fw/{plan.target}',)\n" + PROBE)["files"]
    got = _slot_state(after, plan.target)
    bad = [rel for rel, h in plan.want_slot.items() if got.get(rel) != h]
    bad += [k for k in plan.root_send if after.get(k + ".new") != plan.want_root[k]]
    bad += [rel for rel in got if rel not in plan.want_slot]
    if bad:
        raise DeployError(f"read-back hashes differ from the manifest for {', '.join(sorted(bad)[:5])}")


def _switch(repl: RawRepl, plan: _Plan) -> None:
    """Root files by rename, then the slot pointer by rename: the commit point."""
    switch = [f"os.rename({(k + '.new')!r},{k!r})" for k in plan.root_send]
    switch += [
        f"_w('fw/active.new','wb',{base64.b64encode(plan.target.encode()).decode()!r})",
        "try:\n    os.rename('fw/active.new','fw/active')\nexcept OSError:\n"
        "    _rm('fw/active')\n    os.rename('fw/active.new','fw/active')",
    ]
    repl.exec("\n".join(switch))


def _packages(repl: RawRepl, port: str, manifest: dict, info: dict, notes: list[str]) -> RawRepl:
    """The micropython-lib packages the bundle needs, with mip (the port is handed to mpremote meanwhile);
    returns the session to go on with."""
    if info.get("emulated"):
        notes.append(
            f"emulated board: {', '.join(manifest['packages'])} not installed (no internet; the emulator "
            "provides the lora modem)"
        )
        return repl
    repl.close()
    _install_packages(port, manifest["packages"], info.get("lib", []), notes.append)
    repl = RawRepl(port)
    repl.enter()
    return repl


def _boot_check(repl: RawRepl, version: str, timeout: float) -> str:
    """Soft reset; the node's boot line, which must name `version`."""
    repl.soft_reset_and_run()
    line = _wait_boot(repl, timeout)
    m = BOOT_RE.search(line)
    if m is None or m.group(1) != version:
        raise DeployError(f"the board booted version {m.group(1) if m else '?'}, expected {version}")
    return line


def _wait_boot(repl: RawRepl, timeout: float) -> str:
    line = repl.wait_line(BOOT_RE, timeout)
    if line is None:
        raise DeployError(
            f"no boot line within {timeout:.0f} s after the reset; the board printed: {repl.tail() or '(nothing)'}"
        )
    return line
