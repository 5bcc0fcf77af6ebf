"""Fleet settings: where the registry and the master key live, the fleet's JoinEUI, and the network servers.

Each value is taken from, in order: a command-line option, an environment variable, the config file, a default.

The config file is TOML at ``$CITYNODE_CONFIG``, else ``$XDG_CONFIG_HOME/citynode/config.toml`` (by default
``~/.config/citynode/config.toml``). Every key is optional::

    [fleet]
    db = "~/citynode/fleet.db"            # CITYNODE_DB; default $XDG_DATA_HOME/citynode/fleet.db
    join_eui = "70B3D57ED0000000"         # CITYNODE_JOIN_EUI; default: drawn once per registry
    profile_id = "00000000"               # TR005 ProfileID on labels: VendorID (4 hex) + VendorProfileID (4 hex)
    dev_eui_block = "70B3D57ED0010000/48" # DevEUIs from this block (prefix/bits) instead of the board's MAC
    master_key_file = "~/.config/citynode/master.key"   # CITYNODE_MASTER_KEY_FILE
    keyring = true                        # look in the OS keyring too (needs the `keyring` package)
    frequency_plan_id = "EU_863_870_TTN"  # The Things Stack exports
    lorawan_version = "MAC_V1_0_4"
    lorawan_phy_version = "RP002_V1_0_3"

    [chirpstack]
    application_id = "..."                # CITYNODE_CHIRPSTACK_APPLICATION
    device_profile_id = "..."             # CITYNODE_CHIRPSTACK_DEVICE_PROFILE (all roles)
    token = "..."                         # CITYNODE_CHIRPSTACK_TOKEN is better: no token in a file
    tls = false
    [chirpstack.device_profiles]          # per role, overrides device_profile_id
    classair = "..."
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class SettingsError(Exception):
    """The config file is unreadable or a value in it is wrong; the message names the file and key."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "citynode"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "citynode"


def config_path() -> Path:
    return Path(os.environ.get("CITYNODE_CONFIG") or config_dir() / "config.toml").expanduser()


def load_file(path: Path | None = None) -> dict:
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"config file {path}: {e}") from None
    except OSError as e:
        raise SettingsError(f"config file {path}: {e.strerror}") from None
    for section in ("fleet", "chirpstack"):
        if section in data and not isinstance(data[section], dict):
            raise SettingsError(f"config file {path}: [{section}] must be a table")
    return data


@dataclass
class ChirpStackSettings:
    application_id: str | None = None
    device_profile_id: str | None = None
    device_profiles: dict = field(default_factory=dict)
    token: str | None = None
    tls: bool = False

    def profile_for(self, role: str) -> str | None:
        return self.device_profiles.get(role) or self.device_profile_id


@dataclass
class Settings:
    db: Path
    join_eui: str | None = None
    profile_id: str = "00000000"
    dev_eui_block: str | None = None
    master_key_file: Path | None = None
    keyring: bool = True
    frequency_plan_id: str = "EU_863_870_TTN"
    lorawan_version: str = "MAC_V1_0_4"
    lorawan_phy_version: str = "RP002_V1_0_3"
    chirpstack: ChirpStackSettings = field(default_factory=ChirpStackSettings)
    source: Path | None = None


def _path(v) -> Path:
    return Path(str(v)).expanduser()


def load(db: str | Path | None = None, path: Path | None = None) -> Settings:
    """Settings for this run: `db` is the --db option (wins over everything)."""
    path = path or config_path()
    data = load_file(path)
    f = data.get("fleet", {})
    c = data.get("chirpstack", {})
    env = os.environ
    db_path = db or env.get("CITYNODE_DB") or f.get("db") or data_dir() / "fleet.db"
    key_file = env.get("CITYNODE_MASTER_KEY_FILE") or f.get("master_key_file")
    s = Settings(
        db=_path(db_path),
        join_eui=env.get("CITYNODE_JOIN_EUI") or f.get("join_eui"),
        profile_id=str(f.get("profile_id", "00000000")),
        dev_eui_block=f.get("dev_eui_block"),
        master_key_file=_path(key_file) if key_file else None,
        keyring=bool(f.get("keyring", True)),
        frequency_plan_id=str(f.get("frequency_plan_id", "EU_863_870_TTN")),
        lorawan_version=str(f.get("lorawan_version", "MAC_V1_0_4")),
        lorawan_phy_version=str(f.get("lorawan_phy_version", "RP002_V1_0_3")),
        chirpstack=ChirpStackSettings(
            application_id=env.get("CITYNODE_CHIRPSTACK_APPLICATION") or c.get("application_id"),
            device_profile_id=env.get("CITYNODE_CHIRPSTACK_DEVICE_PROFILE") or c.get("device_profile_id"),
            device_profiles=dict(c.get("device_profiles", {})),
            token=env.get("CITYNODE_CHIRPSTACK_TOKEN") or c.get("token"),
            tls=bool(c.get("tls", False)),
        ),
        source=path if path.exists() else None,
    )
    pid = s.profile_id.upper()
    if len(pid) != 8 or any(ch not in "0123456789ABCDEF" for ch in pid):
        raise SettingsError(
            f"config file {path}: fleet.profile_id must be 8 hex digits (VendorID + VendorProfileID)"
        )
    s.profile_id = pid
    return s
