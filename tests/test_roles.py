"""The one list of roles (tools/citynode/base/payload_schema.py, read through tools/citynode/base/roles.py): the firmware agrees with it,
and every command that takes a role offers and accepts only the built ones."""

import json
import re
import subprocess
import sys

import pytest
from citynode.base import payload_schema as S
from citynode.base import roles
from citynode.base.boards import BoardError, validate
from citynode.base.paths import BOARDS_DIR, FIRMWARE_DIR
from citynode.cli import cli
from click.testing import CliRunner


def test_firmware_apps_are_the_schemas_built_roles_and_tool_apps():
    packages = {p.parent.name for p in (FIRMWARE_DIR / "apps").glob("*/__init__.py")}
    assert packages == set(roles.BUILT) | set(roles.TOOL_APPS)
    assert not list((FIRMWARE_DIR / "apps").glob("*.py"))[1:], "apps are packages, not modules"
    for role in roles.BUILT:
        pkg = FIRMWARE_DIR / "apps" / role
        assert (pkg / "wake.py").is_file() and (pkg / "settings.py").is_file(), role
        assert "def " not in (pkg / "__init__.py").read_text(), "a role's __init__ runs at every import of it"
    for tool in roles.TOOL_APPS:
        assert "def run(node)" in (FIRMWARE_DIR / "apps" / tool / "__init__.py").read_text()
    assert set(roles.BUILT) | set(roles.PLANNED) == set(S.ROLES) and roles.BUILT


def test_the_list_in_words():
    assert roles.check("classair") == "classair"
    assert roles.check("counter", tools=True) == "counter"
    for name, tools, want in [
        ("bin", False, "--app bin: that role is not built yet (roles: classair)"),
        ("counter", False, "--app counter is a tool app, not a role (roles: classair)"),
        ("toaster", True, "--app 'toaster' is not a role (roles: classair, counter, lorawan_probe)"),
        ("classair_led", False, "--app 'classair_led' is not a role (roles: classair)"),
    ]:
        with pytest.raises(roles.UnknownRole) as e:
            roles.check(name, tools=tools)
        assert str(e.value) == want


# every command that takes a role: (argv before the role's option, the option, argv after)
COMMANDS = [
    (["build", "-b", "heltec-wifi-lora32-v3"], "--app", []),
    (["deploy", "-b", "heltec-wifi-lora32-v3"], "--app", ["--port", "/dev/nonexistent"]),
    (["emulate", "--hours", "1"], "--app", []),
    (["provision", "--site", "A", "--location", "1"], "--app", []),
    (["decode", "-p", "10"], "--app", ["00"]),
    (["encode-downlink"], "--app", ["red_ppm=900"]),
    (["codec"], "--app", []),
    (["fleet", "list"], "--role", []),
    (["fleet", "export", "--format", "csv"], "--role", []),
    (["fleet", "import", "/dev/null"], "--role", []),
    (["fleet", "push", "--chirpstack", "localhost:1"], "--role", []),
]


@pytest.mark.parametrize("before,option,after", COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
@pytest.mark.parametrize("name,says", [("toaster", "is not a role"), ("greenhouse", "not built yet")])
def test_every_command_refuses_an_unknown_or_unbuilt_role_in_one_line(
    tmp_path, before, option, after, name, says
):
    env = {"CITYNODE_DB": str(tmp_path / "fleet.db"), "CITYNODE_CONFIG": str(tmp_path / "none.toml")}
    r = CliRunner().invoke(cli, [*before, option, name, *after], env=env)
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and says in r.output and "Traceback" not in r.output
    assert not (tmp_path / "fleet.db").exists()  # refused before anything was touched


@pytest.mark.parametrize("cmd", ["build", "deploy", "emulate", "provision", "encode-downlink", "codec"])
def test_help_offers_only_built_roles(cmd):
    r = CliRunner().invoke(cli, [cmd, "--help"], terminal_width=200)
    assert r.exit_code == 0
    line = next(ln for ln in r.output.splitlines() if ln.strip().startswith(("-a, --app", "--app")))
    offered = re.sub(r"\s*\[[^]]*\]", "", line).rsplit(":", 1)[1]
    assert [x.strip() for x in offered.split(",")] == (
        roles.APPS if cmd in ("build", "deploy", "emulate") else roles.BUILT
    )


def test_emulate_an_unknown_app_does_not_emulate_a_crash_loop():
    r = subprocess.run(
        [sys.executable, "-m", "citynode", "emulate", "--app", "nosuch", "--hours", "1"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.strip() == (
        "citynode: error: --app 'nosuch' is not a role (roles: classair, counter, lorawan_probe)"
    )
    assert r.stdout == ""


def test_board_files_name_only_roles_and_tool_apps():
    data = json.loads((BOARDS_DIR / "heltec-wifi-lora32-v3.json").read_text())
    data["apps"]["classair_led"] = {}
    with pytest.raises(BoardError, match=r"apps\.classair_led: no role or tool app 'classair_led'"):
        validate(data, "heltec-wifi-lora32-v3.json")
