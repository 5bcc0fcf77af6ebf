# The classair role's settings and their defaults: generated from fleet/payloads_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Ranges and rules: docs/payloads.md. A value applied by
# downlink (in the store) wins over config.json, which wins over these. Every module of the role reads
# its settings through get(); node.settings.role_default(node, key) finds them too.
DEFAULTS = {
    'interval_s': 900,
    'confirmed': False,
    'red_ppm': 800,
    'hysteresis_ppm': 100,
    'orange_ppm': 0,
    'active_start_h': 7,
    'active_end_h': 18,
    'active_days': 31,
    'led_mode': 'traffic',
    'asc': True,
    'idle_interval_s': 3600,
    'altitude_m': 0,
    'tz_min': 60,
    'dst': 'eu',
}


def get(node, key):
    return node.setting(key, DEFAULTS[key])
