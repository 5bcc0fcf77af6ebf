"""No secret in normal output: every provisioning, label and fleet command runs (successes and failures), and
everything they print, the history they record and the labels they draw are scanned for key material (every
AppKey, the master key, the ChirpStack token) in hex of either case and base64. Only --show-secrets and the
export files may carry a key, and they do."""

import base64
import sqlite3

import zxingcpp
from citynode.cli import cli
from click.testing import CliRunner
from fake_chirpstack import TOKEN, Server
from kit import MASTER, citynode, invoke
from PIL import Image

from fleet import vault
from fleet.registry import Registry


def forms(secret: bytes) -> list[str]:
    b64 = base64.b64encode(secret).decode()
    return [
        secret.hex(),
        secret.hex().upper(),
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(secret).decode(),
    ]


def scan(text: str, secrets: list[bytes], where: str):
    for s in secrets:
        for f in forms(s):
            assert f not in text, f"key material in {where}"


def test_no_secret_in_any_output(provision_board, provision_env, monkeypatch, tmp_path):
    board, env = provision_board, provision_env
    server = Server(tmp_path / "chirpstack")
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", TOKEN)
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_APPLICATION", "app-1")
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_DEVICE_PROFILE", "profile-1")
    outputs: list[tuple[str, str]] = []

    def run(*args):
        if args[:2] == ("fleet", "push"):  # gRPC in its own process, away from the emulated boards' forks
            r = citynode(*args, ok=False)
        else:
            r = invoke(*args, ok=False)
        outputs.append((" ".join(args), r.output))
        return r

    b1, b2 = board(uid="f412fa4a0001", name="n1"), board(uid="f412fa4a0002", name="n2")
    (env / "batch.csv").write_text("dev_eui,role,site,location\n70B3D57ED0090001,classair,beach,room 1\n")
    try:
        run("provision", "--port", b1.path, "--app", "classair", "--site", "A", "--location", "1")
        run("provision", "--port", b1.path, "--app", "classair", "--site", "A", "--location", "1", "--json")
        run("provision", "--port", b1.path, "--app", "classair", "--location", "1")  # bad: no site
        run("provision", "--port", b2.path, "--replace", "F412FAFFFE4A0001", "--json")
        run("provision", "--port", b2.path, "--app", "nope", "--site", "A", "--location", "1")
        run("fleet", "import", str(env / "batch.csv"))
        run("fleet", "import", str(env / "batch.csv"))  # bad: already there
        for fmt in ("tts-csv", "tts-json", "csv"):
            run("fleet", "export", "--format", fmt, "-o", str(tmp_path / f"x.{fmt}"))
        run("fleet", "export", "--format", "tts-csv")  # refused: keys need -o
        run("fleet", "export", "--format", "csv")
        run("fleet", "list")
        run("fleet", "list", "--json")
        for eui in ("F412FAFFFE4A0001", "F412FAFFFE4A0002", "70B3D57ED0090001"):
            run("fleet", "show", eui)
            run("fleet", "show", eui, "--json")
            run("fleet", "history", eui)
            run("fleet", "history", eui, "--json")
        run("fleet", "push", "--chirpstack", server.target, "--dry-run")
        run("fleet", "push", "--chirpstack", server.target)
        assert len(server.state()["keys"]) == 2
        monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", TOKEN + "x")
        run("fleet", "push", "--chirpstack", server.target)  # refused token
        monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", TOKEN)
        run("label", "F412FAFFFE4A0002", "-o", str(tmp_path / "l.png"))
        run("label", "F412FAFFFE4A0002", "-o", str(tmp_path / "l.svg"))
        run("label", "--site", "A", "--pdf", str(tmp_path / "s.pdf"))
        run("label", "70B3D57ED0090001")
        run("fleet", "mark", "70B3D57ED0090001", "faulty", "--note", "lid broken")
        run("fleet", "retire", "70B3D57ED0090001", "--reason", "gone")
        run("fleet", "info")
        monkeypatch.setenv("CITYNODE_MASTER_KEY", bytes(32).hex())
        run("fleet", "export", "--format", "tts-csv", "-o", str(tmp_path / "wrong.csv"))  # wrong master key
        monkeypatch.setenv("CITYNODE_MASTER_KEY", MASTER.hex())
        for cmd in (["provision"], ["label"], ["fleet"], ["fleet", "push"], ["fleet", "export"]):
            run(*cmd, "--help")
    finally:
        server.stop()

    with Registry(env / "fleet.db") as reg:
        reg.unlock(vault.Vault(MASTER))
        keys = list(reg.app_keys().values())
        history = "\n".join(str(tuple(r)) for r in reg.db.execute("SELECT * FROM history"))
    assert len(keys) == 3
    secrets = keys + [MASTER, TOKEN.encode()]
    assert len(outputs) > 30
    for cmd, out in outputs:
        scan(out, secrets, f"`citynode {cmd}`")
        assert "Traceback" not in out, cmd
    scan(history, secrets, "the registry's history")
    db = sqlite3.connect(env / "fleet.db")
    devices = "\n".join(str(tuple(r)) for r in db.execute("SELECT * FROM devices"))
    db.close()
    scan(devices, secrets, "the devices table")
    scan((tmp_path / "l.svg").read_text(), secrets, "the SVG label")
    for code in zxingcpp.read_barcodes(Image.open(tmp_path / "l.png")):
        scan(code.text, secrets, "the QR code")
    # The exports that must carry keys do, and --show-secrets shows the key.
    with Registry(env / "fleet.db") as reg:
        reg.unlock(vault.Vault(MASTER))
        live = reg.app_key("F412FAFFFE4A0002").hex().upper()
    assert live in (tmp_path / "x.tts-csv").read_text()
    r = CliRunner().invoke(cli, ["fleet", "show", "F412FAFFFE4A0002", "--show-secrets"])
    assert live in r.output
