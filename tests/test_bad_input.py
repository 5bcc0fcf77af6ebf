"""Issue #18: every command given bad input answers in one line on stderr, `citynode: error: ...`, with exit
status 2 and no traceback, before it does anything. One table of such inputs, run through each command in
process (click's CliRunner), as an installer or an attacker would type them.

(`citynode decode` and `encode-downlink` run their own table as the console script: tests/test_payload_cli.py.)
"""

from __future__ import annotations

import pytest
from citynode.base.paths import BOARDS_DIR
from citynode.cli import cli
from click.testing import CliRunner

# (args, words the one line must hold). A path "{tmp}" is the test's temporary folder.
BAD = [
    # 16. emulate: the length of the run and where its files go, checked before the run starts
    (["emulate", "--hours", "nan"], "--hours: nan is not a length of time"),
    (["emulate", "--hours", "inf"], "--hours: inf is not a length of time"),
    (["emulate", "--hours", "-1"], "--hours: -1.0 is not a length of time"),
    (["emulate", "--days", "-0.5"], "--days: -0.5 is not a length of time"),
    (["emulate", "--hours", "0"], "the run must last more than 0 hours"),
    (["emulate", "--days", "367"], "more than 366 days, the longest run"),
    (["emulate", "--hours", "1", "--events", "{tmp}/missing/run.jsonl"], "--events: no such folder"),
    (["emulate", "--app", "classair", "--plot", "{tmp}/missing/run.png"], "--plot: no such folder"),
    # 17. decode: map keys that only equal a setting's number, an empty or an oversized payload
    (["decode", "-p", "15", "a1f502"], "classair config: map key True is not an integer"),
    (["decode", "-p", "15", "a1f400"], "map key False is not an integer"),
    (["decode", "-p", "15", "a1f9420000"], "map key 3.0 is not an integer"),
    (["decode", "-p", "10", ""], "the payload is empty"),
    (
        ["decode", "-p", "15", "a1186359ea60" + "00" * 60000],
        "60006 bytes: no LoRaWAN frame carries more than 242",
    ),
    # 15. boards check: what Python's json reads and the node's cannot, and JSON nested past the stack
    (["boards", "check", "{tmp}/nan/heltec-wifi-lora32-v3.json"], "NaN is not a JSON number"),
    (["boards", "check", "{tmp}/inf/heltec-wifi-lora32-v3.json"], "1e999 is too large a number"),
    (["boards", "check", "{tmp}/deep.json"], "not valid JSON: nested too deeply"),
    # 14. emulator serve: no boards to serve (it served nothing, for ever)
    (["emulator", "serve", "--count", "0"], "--count: 0: serve at least 1 board"),
    (["emulator", "serve", "-n", "-1"], "--count: -1: serve at least 1 board"),
    # 2. text that the registry records and labels print: a control character or line break is refused up front
    (
        ["provision", "--app", "classair", "--site", "A\x01", "--location", "hall"],
        "--site: control character '\\x01'",
    ),
    (
        ["provision", "--app", "classair", "--site", "A", "--location", "x\ny"],
        "--location: control character '\\n'",
    ),
    (
        ["provision", "--app", "classair", "--site", "A", "--location", "hall", "--installer", "\x1b[2J"],
        "--installer",
    ),
    (["fleet", "import", "{tmp}/nul.csv"], "line 2: location: control character '\\x00'"),
    (["fleet", "import", "{tmp}/sep.csv", "--role", "classair"], "line 3: site: control character '\\u2028'"),
]

HELTEC = (BOARDS_DIR / "heltec-wifi-lora32-v3.json").read_text()
FILES = {  # written into the test's folder before the command runs
    "nan/heltec-wifi-lora32-v3.json": HELTEC.replace('"divider": 4.9', '"divider": NaN'),
    "inf/heltec-wifi-lora32-v3.json": HELTEC.replace('"divider": 4.9', '"divider": 1e999'),
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "nul.csv": "dev_eui,role,site,location\n70B3D57ED0090001,classair,A,room\x001\n",
    "sep.csv": "dev_eui;site\n70B3D57ED0090001;A\n70B3D57ED0090002;B\u2028C\n",
}


@pytest.mark.timeout(60)  # refused at once: without the check some ran for ever (emulator serve) or for days
@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_no_traceback(args, words, tmp_path, monkeypatch):
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):  # the registry and config of this test only
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.delenv("CITYNODE_CONFIG", raising=False)
    monkeypatch.setenv("CITYNODE_MASTER_KEY", bytes(range(32)).hex())  # a fleet that has its key already
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exc_info)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("citynode: error: "), r.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in r.output and r.stdout == "", r.output
