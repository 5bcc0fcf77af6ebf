"""node.store under the real MicroPython on the emulated board: power cuts at every byte of a state write."""

import random
import threading

from hil.emulator import EmulatedBoard
from hil.testing import firmware_with, logs

# Each boot checks the state it finds is whole (every field from one generation), takes a counter value, then
# writes the next generation. The counter reserves 4 values ahead, so its ceiling moves often.
STORE_MAIN = """
import machine
from node.store import Store
s = Store()
g = s.get("gen", 0)
if g == 0:
    whole = s.get("a") is None and s.get("b") is None and s.get("c") is None
else:
    whole = s.get("a") == [g] * 8 and s.get("b") == "v%d" % g * 5 and s.get("c") == {"g": g}
print("found gen=%d whole=%s" % (g, whole))
print("used %d" % s.next("fcnt", 4))
g += 1
s.set("gen", g, durable=True)
s.set("a", [g] * 8, durable=True)
s.set("b", "v%d" % g * 5, durable=True)
s.set("c", {"g": g}, durable=True)
s.save()
print("saved gen=%d" % g)
machine.deepsleep(1000)
"""


def _board(tmp_path, src=STORE_MAIN, **kw):
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    return EmulatedBoard(firmware_dir=fw, flash_dir=tmp_path / "flash", **kw)


def _found(lines):
    return [ln for ln in lines if ln.startswith("found")]


def test_power_cut_at_every_byte_of_a_write_leaves_old_or_new_state(tmp_path):
    with _board(tmp_path) as b:
        b.run(wakes=1)
        # bytes one boot writes: measured by a boot with no cut
        size = sum(p.stat().st_size for p in b.flash.glob("state.*"))
        assert size > 0
        saved = 1
        for budget in range(0, 2 * size + 8):
            b.powercut_after_bytes = budget
            b.boot_once()
            before = len(logs(b))
            b.boot_once()  # a clean boot reads what the cut left
            found = _found(logs(b)[before:])[0]
            gen = int(found.split("gen=")[1].split()[0])
            assert found.endswith("whole=True"), f"mixed state after a cut at byte {budget}: {found}"
            assert gen in (saved, saved + 1), f"cut at byte {budget}: found gen {gen}, saved {saved}"
            saved = gen + 1
        used = [int(ln.split()[1]) for ln in logs(b) if ln.startswith("used")]
        assert len(used) == len(set(used)), "a counter value was used twice"
        assert used == sorted(used)
        assert b.log.of("powercut")


def test_random_sigkills_never_leave_a_mixed_state(tmp_path):
    # The firmware rewrites its state in a loop; the plug is pulled at random wall-clock moments.
    src = STORE_MAIN.replace("machine.deepsleep(1000)", "machine.reset()")
    rng = random.Random(7)
    with _board(tmp_path, src, mode="process") as b:
        for _ in range(12):
            timer = threading.Timer(rng.uniform(0.0, 0.03), b.kill_now)
            timer.start()
            b.run(wakes=rng.randint(1, 30))
            timer.cancel()
        b.run(wakes=1)
        found = _found(logs(b))
        assert found and all(f.endswith("whole=True") for f in found)
        used = [int(ln.split()[1]) for ln in logs(b) if ln.startswith("used")]
        assert len(used) == len(set(used))


def test_counters_survive_deep_sleep_exactly_and_skip_ahead_after_power_loss(tmp_path):
    with EmulatedBoard(flash_dir=tmp_path / "flash") as b:
        b.run(wakes=5)
        b.power_cut()
        b.run(wakes=2)
        wakes = [int(ln.split()[-1]) for ln in logs(b) if " wake " in ln]
    # the counter app reserves 64 ahead: exact through deep sleep, then a jump to the ceiling after the cut
    assert wakes == [0, 1, 2, 3, 4, 64, 65]


def test_flash_is_written_once_per_reservation_not_per_wake(tmp_path):
    with EmulatedBoard(flash_dir=tmp_path / "flash") as b:
        b.run(wakes=200)
        seqs = []
        for p in sorted(b.flash.glob("state.*")):
            raw = p.read_bytes()
            seqs.append(int.from_bytes(raw[4:8], "little"))
    # 200 wakes at 64 values per reservation: 4 flash records, not 200
    assert max(seqs) == 4


def test_corrupt_slots_fall_back_to_the_other_and_garbage_boots_fresh(tmp_path):
    with EmulatedBoard(flash_dir=tmp_path / "flash") as b:
        b.run(wakes=70)  # two reservations: both slots written
        newest = max(b.flash.glob("state.*"), key=lambda p: int.from_bytes(p.read_bytes()[4:8], "little"))
        raw = bytearray(newest.read_bytes())
        raw[12] ^= 0xFF
        newest.write_bytes(bytes(raw))
        b.power_cut()
        b.run(wakes=1)
        for p in b.flash.glob("state.*"):
            p.write_bytes(b"\x00garbage")
        b.power_cut()
        r = b.run(wakes=1)
        wakes = [int(ln.split()[-1]) for ln in logs(b) if " wake " in ln]
    assert not r.halted
    assert wakes[70] == 64, "the older slot's ceiling (64) is used when the newest is corrupt"
    assert wakes[71] == 0, "with no readable state the node starts over rather than crash"


def test_boards_without_rtc_memory_keep_exact_counters_through_deep_sleep(tmp_path):
    # The Pico has no RTC memory: the store keeps its RTC image in flash, trusted only after deep sleep.
    with EmulatedBoard("rpi-pico-sx1262-hat", flash_dir=tmp_path / "flash") as b:
        b.run(wakes=5)
        b.power_cut()
        b.run(wakes=3)
        wakes = [int(ln.split()[-1]) for ln in logs(b) if " wake " in ln]
    # An RP2040 never deep-sleeps (node/runtime.py: its watchdog would hang it in the light sleep a deep sleep is):
    # each wake ends in a light sleep and a soft reset, whose image is exact, and still is after a power cut in
    # that sleep (nothing was used since it was written).
    assert wakes == [0, 1, 2, 3, 4, 5, 6, 7], "exact through sleep and a power cut while asleep"


def test_without_rtc_memory_a_reset_distrusts_the_flash_rtc_image(tmp_path):
    # A watchdog reset after values were used but before the next save must not reuse them.
    src = STORE_MAIN.replace(
        "s.save()",
        "if g == 3:\n    import time\n    machine.WDT(timeout=1000)\n    s.next('fcnt', 4)\n    time.sleep(5)\ns.save()",
    )
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    with EmulatedBoard("rpi-pico-sx1262-hat", firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=6)
        used = [int(ln.split()[1]) for ln in logs(b) if ln.startswith("used")]
        assert b.log.of("watchdog")
    assert len(used) == len(set(used)) and used == sorted(used)


def test_without_rtc_memory_an_image_saved_for_a_soft_reset_is_trusted_once(tmp_path):
    # A wake that goes on after machine.soft_reset() (Node.resume_after_reset) keeps its exact state on a board
    # with no RTC memory, although the chip's reset cause still says power-on; a later power-on does not trust
    # the image its own boot saved.
    src = """
import machine
from node.store import Store
s = Store()
half = s.get("half", 0)
print("half %d used %d" % (half, s.next("fcnt", 64)))
if half == 0:
    s.set("half", 1)
    s.save(soft_reset=True)
    machine.soft_reset()
s.delete("half")
s.save()
machine.deepsleep(1000)
"""
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    with EmulatedBoard("rpi-pico-sx1262-hat", firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=1)
        b.power_cut()
        b.run(wakes=1)
        halves = [ln for ln in logs(b) if ln.startswith("half")]
    # first power-on: 0 then 1 after the soft reset (exact); after the power cut the ceiling, 64, and again 65
    assert halves == ["half 0 used 0", "half 1 used 1", "half 0 used 64", "half 1 used 65"]
