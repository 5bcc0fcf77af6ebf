"""The mutator behind `make mutate` (bench/mutate.py): its operators, and that it tells a tested function from
an untested one (a toy module and its toy test in tmp_path, so this runs in a few seconds)."""

import ast
import textwrap

from bench import mutate as mut


def _changes(source, functions=()):
    return [(m.line, m.original, m.mutated) for m in mut.mutants(source, functions)]


def test_each_operator_makes_its_mutant():
    src = textwrap.dedent(
        """\
        def f(a, b):
            if a < b and not a == 0:
                return a + 1
            return True
        """
    )
    got = _changes(src)
    assert (2, "a < b", "(a <= b)") in got
    assert (2, "a == 0", "(a != 0)") in got
    assert (2, "a < b and not a == 0", "(a < b or not a == 0)") in got
    assert (2, "not a == 0", "(a == 0)") in got  # the `not` removed
    assert (2, "0", "1") in got
    assert (3, "a + 1", "(a - 1)") in got
    assert (3, "1", "2") in got and (3, "1", "0") in got
    assert (3, "return a + 1", "return None") in got
    assert (4, "True", "False") in got
    assert (4, "return True", "return None") in got
    assert not any(o == "0" and m == "-1" for _, o, m in got)  # never below zero
    for m in mut.mutants(src):
        ast.parse(m.source)  # every mutant is still Python


def test_mutants_keep_the_rest_of_the_file_and_respect_the_function_list():
    src = "X = 3  # a comment\n\n\ndef g(x):\n    return x >= X\n\n\ndef h(x):\n    return x - 2\n"
    only_h = mut.mutants(src, ("h",))
    assert {(m.original, m.mutated) for m in only_h} == {
        ("x - 2", "(x + 2)"),
        ("2", "3"),
        ("2", "1"),
        ("return x - 2", "return None"),
    }
    m = next(m for m in only_h if m.mutated == "(x + 2)")
    assert m.source == src.replace("x - 2", "(x + 2)")  # comments and layout untouched
    assert m.describe("toy.py") == "toy.py:9: x - 2 -> (x + 2)"


def test_docstrings_annotations_and_log_lines_are_not_mutated():
    src = 'def f(n: int = 1) -> int:\n    """Doc."""\n    node.log("x=%s" % (n + 1))\n    return 0\n'
    got = _changes(src)
    assert got == [(1, "1", "0"), (1, "1", "2"), (4, "0", "1"), (4, "return 0", "return None")]


def test_the_sample_is_deterministic_and_bounded():
    ms = mut.mutants("def f(a):\n    return a + 1 < 2 * 3 - 4 == 5\n")
    assert len(ms) > 5
    a, b = mut.pick(ms, 5, seed=1), mut.pick(ms, 5, seed=1)
    assert a == b and len(a) == 5
    assert mut.pick(ms, None, seed=1) == ms


def test_an_untested_functions_mutant_survives_and_a_tested_ones_is_killed(tmp_path):
    repo = tmp_path / "toy"
    (repo / "tests").mkdir(parents=True)
    (repo / "toy.py").write_text(
        "def guarded(a, b):\n    return a < b\n\n\ndef unguarded(x):\n    return x > 3\n",
    )
    (repo / "tests" / "test_toy.py").write_text(
        "from toy import guarded\n\n\ndef test_guarded():\n    assert guarded(1, 2)\n    assert not guarded(2, 2)\n",
    )
    targets = {
        "tested": mut.Target("toy.py", ("tests/test_toy.py",), ("guarded",)),
        "untested": mut.Target("toy.py", ("tests/test_toy.py",), ("unguarded",)),
    }
    lines = []
    reports = mut.mutate(list(targets), targets, repo, None, 0, 1, 120, say=lines.append)
    tested, untested = reports
    assert not tested.baseline_failed and not untested.baseline_failed
    assert tested.tried == 2 and tested.killed == 2 and tested.survivors == []  # `<=` and `return None`
    assert "toy.py:6: x > 3 -> (x >= 3)" in untested.survivors
    assert untested.killed == 0 and len(untested.survivors) == untested.tried == 4  # `>=`, 3±1, `return None`
    assert (repo / "toy.py").read_text().endswith("return x > 3\n")  # the real file never changes
    assert "| untested | toy.py | 4 | 4 | 0 | 4 | 100% |" in mut.table(reports)
