# The device's configuration: /config.json, written by `citynode provision` (and by nobody else on the node).
import json

PATH = "config.json"


def load():
    try:
        with open(PATH) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        # No or damaged config: an unprovisioned node still boots, counts wakes and says so.
        cfg = {"app": "counter", "unprovisioned": True}
    if not isinstance(cfg, dict) or "app" not in cfg:
        cfg = {"app": "counter", "unprovisioned": True}
    return cfg
