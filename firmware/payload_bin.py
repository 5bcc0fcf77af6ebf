# Payload table of the bin role: generated from tools/citynode/base/payload_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Layout: firmware/payload.py; messages: docs/payloads.md.
_N0 = ('sensor_fault', 'out_of_range', 'low_battery', 'tilted', 'fire', 'full')
_N1 = ('full', 'emptied', 'fire', 'fire_cleared', 'tilted', 'upright')
_N2 = ('unknown', 'power_on', 'hard', 'watchdog', 'deepsleep', 'soft')
_N3 = ('none', 'status', 'reboot', 'rejoin')
UP = {
    'periodic': (20, (
        0, 'distance_mm', 1, 1, 0, 0, 10000, 0, 'fill_pct', 1, 1, 50, -50, 50, 0, 'temp_c', 1, 1, 20, -60,
        65, 4, None, 1, 'flags', 0, 6, 2, _N0,
    )),
    'event': (21, (
        4, None, 1, 'alarm', 0, 3, 1, _N1, 0, 'fill_pct', 1, 1, 50, -50, 50, 0, 'temp_c', 1, 1, 20, -60, 65,
        4, None, 1, 'flags', 0, 6, 2, _N0,
    )),
    'status': (22, (
        0, 'battery_mv', 10, 1, 3600, -360, 140, 2, 'fw', 10, 4, None, 1, 'reset_cause', 0, 4, 1, _N2, 0,
        'crashes', 1, 1, 0, 0, 65535, 0, 'wdt_resets', 1, 1, 0, 0, 65535, 0, 'radio_errors', 1, 1, 0, 0,
        65535, 0, 'sensor_errors', 1, 1, 0, 0, 65535, 3, 'sensor_serial', 8,
    )),
}
DOWN = {
    25: (
        0, 'interval_s', 60, 1, 0, 1, 1440, 4, None, 1, 'command', 0, 2, 1, _N3, 1, 'confirmed', 0,
        'full_pct', 1, 1, 0, 50, 100, 0, 'depth_mm', 1, 1, 0, 200, 5000, 0, 'fire_c', 1, 1, 0, 40, 85, 0,
        'tilt_deg', 1, 1, 0, 10, 90, 0, 'confirm_n', 1, 1, 0, 1, 5,
    ),
}
