"""The node runtime (firmware/node/runtime.py) under MicroPython on the emulated board."""

from hil.emulator import EmulatedBoard
from hil.testing import firmware_with, logs


def _board(tmp_path, apps: dict[str, str], app: str, **kw):
    fw = firmware_with(tmp_path / "fw", {f"apps/{name}.py": src for name, src in apps.items()})
    return EmulatedBoard(app=app, firmware_dir=fw, flash_dir=tmp_path / "flash", **kw)


def test_boot_line_and_a_day_of_wakes_on_the_15_minute_grid(tmp_path):
    with EmulatedBoard(flash_dir=tmp_path / "f") as b:
        r = b.run(hours=24)
        boots = [e["t"] for e in b.events if e["type"] == "boot"]
        out = logs(b)
    assert r.wakes == 96 and not r.halted
    assert out[0] == "[0] citynode boot v=0.1.0-dev board=heltec-wifi-lora32-v3 app=counter cause=1"
    gaps = {round(b2 - b1, 3) for b1, b2 in zip(boots, boots[1:], strict=False)}
    assert gaps == {900.0}, "time awake comes off the sleep, so wakes stay 15 minutes apart"


def test_slow_app_keeps_its_period(tmp_path):
    slow = "import time\ndef run(node):\n    time.sleep(20)\n    return 300\n"
    with _board(tmp_path, {"slow": slow}, "slow") as b:
        b.run(wakes=4)
        boots = [e["t"] for e in b.events if e["type"] == "boot"]
    assert {round(y - x) for x, y in zip(boots, boots[1:], strict=False)} == {300}


def test_a_failing_app_is_logged_counted_and_retried_with_backoff(tmp_path):
    crashy = (
        "def run(node):\n"
        "    if node.store.get('ok_from', 99) <= node.store.get('boots', 0):\n"
        "        return 600\n"
        "    node.store.set('boots', node.store.get('boots', 0) + 1)\n"
        "    raise OSError(5)\n"
    )
    with _board(tmp_path, {"crashy": crashy}, "crashy") as b:
        r = b.run(wakes=6)
        sleeps = [e["ms"] // 1000 for e in b.log.of("sleep")]
        out = logs(b)
    assert not r.halted
    assert sleeps == [30, 60, 120, 240, 480, 960]
    assert any("error in app: OSError" in ln for ln in out)
    assert out[-1].endswith("crash 6 in a row: retry in 960 s")


def test_backoff_is_capped_at_an_hour_and_resets_after_success(tmp_path):
    flaky = (
        "def run(node):\n"
        "    n = node.store.next('n', 1)\n"
        "    if n < 10 or n == 12:\n"
        "        raise ValueError('sensor')\n"
        "    return 900\n"
    )
    with _board(tmp_path, {"flaky": flaky}, "flaky") as b:
        b.run(wakes=13)
        sleeps = [e["ms"] // 1000 for e in b.log.of("sleep")]
    assert max(sleeps) == 3600
    assert sleeps[10:13] == [900, 900, 30], "one success resets the back-off"


def test_a_hung_app_is_reset_by_the_watchdog_and_the_node_counts_it(tmp_path):
    hang = (
        "import time\n"
        "def run(node):\n"
        "    if node.store.get('wdt_resets', 0) == 0:\n"
        "        while True:\n"
        "            time.sleep(1)\n"
        "    node.log('wdt resets %d' % node.store.get('wdt_resets'))\n"
        "    return 900\n"
    )
    with _board(tmp_path, {"hang": hang}, "hang") as b:
        r = b.run(wakes=2)
        out = logs(b)
    assert r.outcomes.get("watchdog") == 1 and not r.halted
    assert any(ln.endswith("wdt resets 1") for ln in out)
    assert out[-2].endswith("cause=3")


def test_missing_or_damaged_config_boots_as_an_unprovisioned_counter(tmp_path):
    with EmulatedBoard(flash_dir=tmp_path / "f") as b:
        (b.flash / "config.json").write_text("{not json")
        r = b.run(wakes=2)
        assert not r.halted and " app=counter " in logs(b)[0]


def test_only_the_configured_app_is_imported(tmp_path):
    probe = "import sys\ndef run(node):\n    node.log('apps ' + ','.join(sorted(k for k in sys.modules if k.startswith('apps.'))))\n    return 60\n"
    with _board(tmp_path, {"probe": probe}, "probe") as b:
        b.run(wakes=1)
        assert "apps apps.probe" in " ".join(logs(b))


def test_minimal_node_fits_a_small_heap(tmp_path):
    with EmulatedBoard(flash_dir=tmp_path / "f", heap_kb=24) as b:
        r = b.run(hours=6)
    assert r.wakes == 24 and not r.halted


HALVES = """
import sys, time
def run(node):
    sys.modules["_first_half_was_here"] = sys
    node.log("first half")
    time.sleep(3)
    node.resume_after_reset({"n": node.store.next("n", 64)})
    node.log("never printed")

def resume(node, state):
    fresh = "_first_half_was_here" not in sys.modules
    node.log("second half n=%d fresh=%s cause=%d" % (state["n"], fresh, node.reset_cause))
    if state["n"] == 1:
        raise OSError(5)
    time.sleep(2)
    return 600
"""


def test_a_wake_can_go_on_in_a_fresh_interpreter_once(tmp_path):
    # Node.resume_after_reset: the app's resume(node, state) runs after a soft reset, with nothing of the first
    # half loaded, the state given, the chip's reset cause and the period of the whole wake; a crash in the
    # second half is counted once and the next wake starts from the first half again.
    with _board(tmp_path, {"halves": HALVES}, "halves", mode="process") as b:
        r = b.run(wakes=3)
        out = logs(b)
        starts = [e["t"] for e in b.events if e["type"] == "log" and "citynode boot" in e["line"]]
        sleeps = [e["ms"] for e in b.log.of("sleep")]
    assert r.boots == 3 and r.outcomes["soft_reset"] == 3 and not r.halted
    assert "never printed" not in "\n".join(out)
    halves = [ln.split("] ", 1)[1] for ln in out if "half" in ln or "resume" in ln]
    assert halves == [
        "first half",
        "citynode resume app=halves",
        "second half n=0 fresh=True cause=1",
        "first half",
        "citynode resume app=halves",
        "second half n=1 fresh=True cause=4",
        "first half",
        "citynode resume app=halves",
        "second half n=2 fresh=True cause=4",
    ]
    assert sum("error in app: OSError" in ln for ln in out) == 1
    assert round(starts[1] - starts[0]) == 600  # both halves' time awake came off the sleep
    assert sleeps[1] == 30000  # the crash's back-off, then a whole new wake
