# Payload table of the classair role: generated from fleet/payloads_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Read by payload.py; see docs/payloads.md.
UP = {
    'periodic': (10, (
        ('co2_ppm', 0, 1, 1, 0, 0, 10000),
        ('temp_c', 0, 1, 10, 200, -600, 650),
        ('rh_pct', 0, 1, 2, 100, -100, 100),
        (None, 4, (('led', 0, 2, 1, ('off', 'green', 'orange', 'red')), ('flags', 2, 3, 2, ('sensor_fault', 'out_of_range', 'low_battery')))),
    )),
    'event': (11, (
        (None, 4, (('led', 0, 2, 1, ('off', 'green', 'orange', 'red')), ('flags', 2, 3, 2, ('sensor_fault', 'out_of_range', 'low_battery')))),
        ('co2_ppm', 0, 1, 1, 0, 0, 10000),
    )),
    'status': (12, (
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
    15: (
        ('interval_s', 0, 60, 1, 0, 1, 1440),
        (None, 4, (('command', 0, 2, 1, ('none', 'status', 'reboot', 'rejoin')),)),
        ('confirmed', 1),
        ('red_ppm', 0, 10, 1, 0, 40, 500),
        ('hysteresis_ppm', 0, 10, 1, 0, 0, 100),
        ('orange_ppm', 0, 10, 1, 0, 0, 500),
        ('active_start_h', 0, 1, 1, 0, 0, 23),
        ('active_end_h', 0, 1, 1, 0, 0, 24),
        (None, 4, (('active_days', 0, 7, 0, None),)),
        (None, 4, (('led_mode', 0, 2, 1, ('traffic', 'red_only', 'off')),)),
        ('asc', 1),
        ('frc_ppm', 0, 1, 1, 0, 400, 2000),
    ),
}
