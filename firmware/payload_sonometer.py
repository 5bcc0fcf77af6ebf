# Payload table of the sonometer role: generated from tools/citynode/base/payload_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Layout: firmware/payload.py; messages: docs/payloads.md.
_N0 = ('sensor_fault', 'out_of_range', 'low_battery', 'alarm', 'night')
_N1 = ('above', 'below')
_N2 = ('unknown', 'power_on', 'hard', 'watchdog', 'deepsleep', 'soft')
_N3 = ('none', 'status', 'reboot', 'rejoin')
UP = {
    'periodic': (40, (
        0, 'laeq_db', 1, 5, 400, -250, 250, 0, 'lafmax_db', 1, 5, 400, -250, 250, 0, 'lafmin_db', 1, 5, 400,
        -250, 250, 0, 'l10_db', 1, 5, 400, -250, 250, 0, 'l50_db', 1, 5, 400, -250, 250, 0, 'l90_db', 1, 5,
        400, -250, 250, 0, 'lceq_db', 1, 5, 400, -250, 250, 4, None, 1, 'flags', 0, 5, 2, _N0,
    )),
    'event': (41, (
        4, None, 1, 'alarm', 0, 1, 1, _N1, 0, 'laeq_db', 1, 5, 400, -250, 250, 0, 'lafmax_db', 1, 5, 400,
        -250, 250,
    )),
    'status': (42, (
        0, 'battery_mv', 10, 1, 3600, -360, 140, 2, 'fw', 10, 4, None, 1, 'reset_cause', 0, 4, 1, _N2, 0,
        'crashes', 1, 1, 0, 0, 65535, 0, 'wdt_resets', 1, 1, 0, 0, 65535, 0, 'radio_errors', 1, 1, 0, 0,
        65535, 0, 'sensor_errors', 1, 1, 0, 0, 65535, 3, 'sensor_serial', 8,
    )),
}
DOWN = {
    45: (
        0, 'interval_s', 60, 1, 0, 1, 1440, 4, None, 1, 'command', 0, 2, 1, _N3, 1, 'confirmed', 0,
        'alarm_day_db', 1, 1, 0, 40, 130, 0, 'alarm_night_db', 1, 1, 0, 40, 130, 0, 'night_start_h', 1, 1, 0,
        0, 23, 0, 'night_end_h', 1, 1, 0, 0, 23, 0, 'alarm_hold_s', 1, 1, 0, 1, 600,
    ),
}
