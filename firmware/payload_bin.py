# Payload table of the bin role: generated from fleet/payloads_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Read by payload.py; see docs/payloads.md.
UP = {
    'periodic': (20, (
        ('distance_mm', 0, 1, 1, 0, 0, 10000),
        ('fill_pct', 0, 1, 1, 50, -50, 50),
        ('temp_c', 0, 1, 1, 20, -60, 65),
        (None, 4, (('flags', 0, 6, 2, ('sensor_fault', 'out_of_range', 'low_battery', 'tilted', 'fire', 'full')),)),
    )),
    'event': (21, (
        (None, 4, (('alarm', 0, 3, 1, ('full', 'emptied', 'fire', 'fire_cleared', 'tilted', 'upright')),)),
        ('fill_pct', 0, 1, 1, 50, -50, 50),
        ('temp_c', 0, 1, 1, 20, -60, 65),
        (None, 4, (('flags', 0, 6, 2, ('sensor_fault', 'out_of_range', 'low_battery', 'tilted', 'fire', 'full')),)),
    )),
    'status': (22, (
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
    25: (
        ('interval_s', 0, 60, 1, 0, 1, 1440),
        (None, 4, (('command', 0, 2, 1, ('none', 'status', 'reboot', 'rejoin')),)),
        ('confirmed', 1),
        ('full_pct', 0, 1, 1, 0, 50, 100),
        ('depth_mm', 0, 1, 1, 0, 200, 5000),
        ('fire_c', 0, 1, 1, 0, 40, 85),
        ('tilt_deg', 0, 1, 1, 0, 10, 90),
        ('confirm_n', 0, 1, 1, 0, 1, 5),
    ),
}
