# Payload table of the parking role: generated from fleet/payloads_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Read by payload.py; see docs/payloads.md.
UP = {
    'periodic': (30, (
        (None, 4, (('occupied', 0, 1, 3, None), ('flags', 1, 3, 2, ('sensor_fault', 'out_of_range', 'low_battery')))),
        (None, 4, (('in_state_min', 0, 8, 4, ((0, 0, 1), (60, 60, 5), (120, 360, 30), (204, 2880, 360))),)),
        ('changes', 0, 1, 1, 0, 0, 65535),
        ('temp_c', 0, 1, 1, 20, -60, 65),
        ('field_ut', 0, 1, 1, 0, 0, 1000),
    )),
    'event': (31, (
        ('occupied', 4, (('prev_min', 0, 8, 4, ((0, 0, 1), (60, 60, 5), (120, 360, 30), (204, 2880, 360))),)),
    )),
    'status': (32, (
        ('battery_mv', 0, 10, 1, 3600, -360, 140),
        ('fw', 2, 10),
        (None, 4, (('reset_cause', 0, 4, 1, ('unknown', 'power_on', 'hard', 'watchdog', 'deepsleep', 'soft')),)),
        ('crashes', 0, 1, 1, 0, 0, 65535),
        ('wdt_resets', 0, 1, 1, 0, 0, 65535),
        ('radio_errors', 0, 1, 1, 0, 0, 65535),
        ('sensor_errors', 0, 1, 1, 0, 0, 65535),
        ('sensor_serial', 3, 8),
    )),
}
DOWN = {
    35: (
        ('interval_s', 0, 60, 1, 0, 1, 1440),
        (None, 4, (('command', 0, 2, 1, ('none', 'status', 'reboot', 'rejoin')),)),
        ('confirmed', 1),
        ('threshold_ut', 0, 1, 1, 0, 1, 200),
        ('hold_s', 0, 1, 1, 0, 1, 60),
        ('calibrate', 1),
    ),
}
