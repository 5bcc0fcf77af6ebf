# Payload table of the sonometer role: generated from fleet/payloads_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Read by payload.py; see docs/payloads.md.
UP = {
    'periodic': (40, (
        ('laeq_db', 0, 1, 5, 400, -250, 250),
        ('lafmax_db', 0, 1, 5, 400, -250, 250),
        ('lafmin_db', 0, 1, 5, 400, -250, 250),
        ('l10_db', 0, 1, 5, 400, -250, 250),
        ('l50_db', 0, 1, 5, 400, -250, 250),
        ('l90_db', 0, 1, 5, 400, -250, 250),
        ('lceq_db', 0, 1, 5, 400, -250, 250),
        (None, 4, (('flags', 0, 5, 2, ('sensor_fault', 'out_of_range', 'low_battery', 'alarm', 'night')),)),
    )),
    'event': (41, (
        (None, 4, (('alarm', 0, 1, 1, ('above', 'below')),)),
        ('laeq_db', 0, 1, 5, 400, -250, 250),
        ('lafmax_db', 0, 1, 5, 400, -250, 250),
    )),
    'status': (42, (
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
    45: (
        ('interval_s', 0, 60, 1, 0, 1, 1440),
        (None, 4, (('command', 0, 2, 1, ('none', 'status', 'reboot', 'rejoin')),)),
        ('confirmed', 1),
        ('alarm_day_db', 0, 1, 1, 0, 40, 130),
        ('alarm_night_db', 0, 1, 1, 0, 40, 130),
        ('night_start_h', 0, 1, 1, 0, 0, 23),
        ('night_end_h', 0, 1, 1, 0, 0, 23),
        ('alarm_hold_s', 0, 1, 1, 0, 1, 600),
    ),
}
