"""Which roles fit which board: the recorded heap figures (boards/measured/heap.json) are complete and honest."""

import copy

import pytest
from citynode import boards, fits

from fleet import roles
from hil import heap

RECORD = fits.figures()
NUCLEO = "nucleo-wl55jc"
HELTEC = "heltec-wifi-lora32-v3"
REMEASURE = "measure again: python -m bench.roles --write"


# ---------------------------------------------------------------- the figures


def test_the_search_takes_the_last_size_before_the_first_failure():
    # An uneven threshold: 100 and 98 run, 96 fails, 94 runs by luck. The figure is 98, not 94.
    ok = {100: True, 98: True, 96: False, 94: True}
    assert heap.smallest_heap_kb(lambda kb: ok.get(kb, False), hi=100) == 98
    assert heap.smallest_heap_kb(lambda kb: False, hi=100) is None


def test_every_app_has_a_current_figure_for_every_board_it_runs_on():
    # A new board, a new role or a changed scenario needs its figures measured before it ships.
    assert set(RECORD["apps"]) == set(roles.APPS), REMEASURE
    for app in roles.APPS:
        rec, sc = RECORD["apps"][app], heap.SCENARIOS[app]
        assert (rec["mode"], rec["scenario"], rec["about"]) == (heap.MODE, sc.name, sc.about), REMEASURE
        assert rec["version"] and rec["measured"]
        runs_on = {b["id"] for b in boards.load_all() if app in b["apps"] or app in roles.TOOL_APPS}
        assert set(rec["heap_kb"]) == runs_on, REMEASURE


@pytest.mark.parametrize(
    "app,board", [(app, board) for app, rec in RECORD["apps"].items() for board in rec["heap_kb"]]
)
def test_each_recorded_figure_holds(app, board):
    # The app runs its scenario in its recorded heap, one process per boot: a change that makes the node need
    # more fails here until the figure is measured again (and the boards it no longer fits are refused).
    kb = RECORD["apps"][app]["heap_kb"][board]
    if kb is None:  # "more than the search's top": then it must fail there
        assert not heap.run_at(board, app, RECORD["hi_kb"]).ok
        return
    out = heap.run_at(board, app, kb, mode=RECORD["apps"][app]["mode"])
    assert out.ok, f"{app} on {board} no longer runs in its recorded {kb} KB: {out.why}; {REMEASURE}"


def test_a_role_fits_a_board_when_its_figure_is_at_most_the_boards_emulator_heap():
    for b in boards.load_all():
        for f in fits.fits_of(b):
            need = RECORD["apps"][f.app]["heap_kb"][b["id"]]
            assert f.fits == (need is not None and need <= boards.emulator_heap_kb(b))
    # Today's case: ClassAir on the NUCLEO-WL55 runs out of memory after its first join.
    nucleo = fits.fit(boards.load(NUCLEO), "classair")
    assert nucleo.fits is False and nucleo.needs_kb > nucleo.has_kb == 72
    assert fits.fit(boards.load(HELTEC), "classair").fits is True


def test_a_board_nobody_measured_is_judged_by_the_hungriest_measured_board():
    b = copy.deepcopy(boards.load(NUCLEO))
    b["id"] = "my-wl55"
    f = fits.fit(b, "classair")
    assert f.estimate and f.measured_on == NUCLEO and f.fits is False
    assert f.refusal().startswith("my-wl55 is not measured: classair needs up to")
    b["heap_kb"] = 256
    assert fits.fit(b, "classair").fits is True
