"""The 32-bit heap estimate (hil/heap32.py): the model on objects of known layout, the classing of an allocation
by its words, the reading of MicroPython's block table, and the probe on a live run."""

import struct

from citynode import fits

from hil import heap32

HEAP = (0x5500_0000_0000, 0x5500_0010_0000)  # a mapped range: words in it are pointers


def test_a_list_of_n_items_halves_in_16_byte_blocks():
    # 3 items: 24 B -> one 32 B block; on 32-bit 12 B -> one 16 B block
    assert heap32.model_64_32("items", 3) == (32, 16)
    # 5 items: 40 B -> two 32 B blocks (64); on 32-bit 20 B -> two 16 B blocks (32)
    assert heap32.model_64_32("items", 5) == (64, 32)
    assert heap32.model_64_32("items", 100) == (800, 400)


def test_a_bytes_keeps_its_data_and_halves_its_header():
    # header 4 words: 32 B -> 16 B; data 100 + 1 B -> four 32 B blocks (128), kept whole on 32-bit (the upper
    # bound: 101 B would take seven 16 B blocks, 112)
    assert heap32.model_64_32("bytes", 100) == (32 + 128, 16 + 128)
    # 10 B: 11 B of data, one block on each side: 32 B and 32 B (two 16 B blocks)
    assert heap32.model_64_32("bytes", 10) == (32 + 32, 16 + 32)


def test_a_dict_halves_header_and_table():
    # header 4 words 32 B -> 16 B; 8 slots x 2 words x 8 B = 128 B -> 64 B
    assert heap32.model_64_32("dict", 8) == (32 + 128, 16 + 64)


def test_size_32_rounds_up_to_16_byte_blocks():
    assert heap32.size_32(32, pointers=True) == 16
    assert heap32.size_32(96, pointers=True) == 48
    assert heap32.size_32(96, pointers=False) == 96
    assert heap32.blocks(0, 16) == 1


def test_an_allocation_is_classed_by_its_words():
    ptrs = struct.pack("<4Q", HEAP[0] + 64, HEAP[0] + 96, 0, (5 << 1) | 1)  # two pointers, NULL, small int 5
    assert heap32.classify(ptrs, [HEAP]) is True
    text = b"temperature and humidity, twice "  # 32 B of ASCII: no word is an address
    assert heap32.classify(text, [HEAP]) is False
    assert heap32.classify(bytes(64), [HEAP]) is False  # not filled yet: byte data, the safe side
    # a pointer table with a string tail: more than half the nonzero words are pointers
    assert heap32.classify(ptrs[:16] + text[:8], [HEAP]) is True


def test_the_block_table_is_read_into_allocations():
    dump = (
        "GC: total: 16128, used: 1280, free: 14848\n"
        "GC memory layout; from 55b1031aaf20:\n"
        "00000000: h=Sh=hL..h===\n"
        "       (5 lines all free)\n"
        "00003800: ....D=\n"
    )
    start, allocs = heap32.parse_table(dump)
    assert start == 0x55B1031AAF20
    assert allocs == [(0, 2), (64, 1), (96, 2), (160, 1), (192, 1), (288, 4), (0x3800 + 128, 2)]


def test_the_estimate_is_the_figure_times_the_ratio_as_a_32_bit_heap():
    # the GC's tables: 3 bits per block, 3/259 of a 64-bit heap and 3/131 of a 32-bit one
    assert heap32.estimate_kb(100, 0.5) == 51
    assert heap32.estimate_kb(72, 0.708) == 52


def test_the_probe_reads_the_counters_live_heap_and_finds_the_recorded_ratio():
    # the probe run itself: the firmware's high-water mark less the boot's baseline, in both widths
    m = heap32.mix(heap32.probe("heltec-wifi-lora32-v3", "counter"))
    assert m.peak_64 > 8 * 1024 and m.peak_32 < m.peak_64
    recorded = fits.figures()["apps"]["counter"]["estimate_32bit"]["ratio"]["heltec-wifi-lora32-v3"]
    assert abs(m.ratio - recorded) < 0.02, "python -m bench.heap32 --write"


LIVE = r"""
import gc, micropython, sys
keep = []
def look():
    gc.collect()
    micropython.mem_info(1)
    print("@@")
    sys.stdin.readline()
look()
keep.append([i * 3 for i in range(1000)])
look()
keep.append(bytes(range(256)) * 16)
look()
"""


def test_a_look_at_a_live_interpreter_halves_a_list_and_keeps_a_bytes():
    # the same reading the probe does, on objects whose 32-bit sizes are known by hand: a list of 1000 small
    # ints (header 4 words + ~1000 item words: ~8 KB -> ~4 KB) and a bytes of 4096 (4097 B of data: the same)
    import subprocess

    from hil.emulator import micropython_command

    p = subprocess.Popen(
        [*micropython_command(), "-X", "heapsize=256k", "-c", LIVE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    looks = []
    try:
        for _ in range(3):
            text = ""
            for line in p.stdout:
                if line.strip() == "@@":
                    break
                text += line
            looks.append(heap32.look(p.pid, text, "test", 1))
            p.stdin.write("\n")
            p.stdin.flush()
    finally:
        p.wait(timeout=30)
    lst = (looks[1].live_64 - looks[0].live_64, looks[1].live_32 - looks[0].live_32)
    data = (looks[2].live_64 - looks[1].live_64, looks[2].live_32 - looks[1].live_32)
    assert 8000 <= lst[0] <= 8400 and abs(lst[1] - lst[0] / 2) <= 64, lst
    assert 4096 <= data[0] <= 4200 and abs(data[1] - data[0]) <= 64, data
