# ClassAir's settings and their defaults: a value applied by downlink (in the store) wins over config.json,
# which wins over these. Every ClassAir module reads its settings through get(); the pipeline's
# node.settings.role_default(node, key) finds them too.
DEFAULTS = {
    "interval_s": 900,
    "idle_interval_s": 3600,
    "red_ppm": 800,
    "orange_ppm": 0,
    "hysteresis_ppm": 100,
    "active_start_h": 7,
    "active_end_h": 18,
    "active_days": 0x1F,
    "led_mode": "traffic",
    "asc": True,
    "altitude_m": 0,
    "tz_min": 60,
    "dst": "eu",
    "confirmed": False,
}


def get(node, key):
    return node.setting(key, DEFAULTS[key])
