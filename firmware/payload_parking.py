# Payload table of the parking role: generated from tools/citynode/base/payload_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Layout: firmware/payload.py; messages: docs/payloads.md.
_N0 = ('sensor_fault', 'out_of_range', 'low_battery')
_N1 = ('unknown', 'power_on', 'hard', 'watchdog', 'deepsleep', 'soft')
_N2 = ('none', 'status', 'reboot', 'rejoin')
UP = {
    'periodic': (30, (
        4, None, 2, 'occupied', 0, 1, 3, None, 'flags', 1, 3, 2, _N0, 4, None, 1, 'in_state_min', 0, 8, 4,
        (0, 0, 1, 60, 60, 5, 120, 360, 30, 204, 2880, 360), 0, 'changes', 1, 1, 0, 0, 65535, 0, 'temp_c', 1,
        1, 20, -60, 65, 0, 'field_ut', 1, 1, 0, 0, 1000,
    )),
    'event': (31, (
        4, 'occupied', 1, 'prev_min', 0, 8, 4, (0, 0, 1, 60, 60, 5, 120, 360, 30, 204, 2880, 360),
    )),
    'status': (32, (
        0, 'battery_mv', 10, 1, 3600, -360, 140, 2, 'fw', 10, 4, None, 1, 'reset_cause', 0, 4, 1, _N1, 0,
        'crashes', 1, 1, 0, 0, 65535, 0, 'wdt_resets', 1, 1, 0, 0, 65535, 0, 'radio_errors', 1, 1, 0, 0,
        65535, 0, 'sensor_errors', 1, 1, 0, 0, 65535, 3, 'sensor_serial', 8,
    )),
}
DOWN = {
    35: (
        0, 'interval_s', 60, 1, 0, 1, 1440, 4, None, 1, 'command', 0, 2, 1, _N2, 1, 'confirmed', 0,
        'threshold_ut', 1, 1, 0, 1, 200, 0, 'hold_s', 1, 1, 0, 1, 60, 1, 'calibrate',
    ),
}
