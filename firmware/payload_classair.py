# Payload table of the classair role: generated from tools/citynode/base/payload_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Layout: firmware/payload.py; messages: docs/payloads.md.
_N0 = ('off', 'green', 'orange', 'red')
_N1 = ('sensor_fault', 'out_of_range', 'low_battery')
_N2 = ('unknown', 'power_on', 'hard', 'watchdog', 'deepsleep', 'soft')
_N3 = ('none', 'status', 'reboot', 'rejoin')
_N4 = ('traffic', 'red_only', 'off')
UP = {
    'periodic': (10, (
        0, 'co2_ppm', 1, 1, 0, 0, 10000, 0, 'temp_c', 1, 10, 200, -600, 650, 0, 'rh_pct', 1, 2, 100, -100,
        100, 4, None, 2, 'led', 0, 2, 1, _N0, 'flags', 2, 3, 2, _N1,
    )),
    'event': (11, (
        4, None, 2, 'led', 0, 2, 1, _N0, 'flags', 2, 3, 2, _N1, 0, 'co2_ppm', 1, 1, 0, 0, 10000,
    )),
    'status': (12, (
        0, 'battery_mv', 10, 1, 3600, -360, 140, 2, 'fw', 10, 4, None, 1, 'reset_cause', 0, 4, 1, _N2, 0,
        'crashes', 1, 1, 0, 0, 65535, 0, 'wdt_resets', 1, 1, 0, 0, 65535, 0, 'radio_errors', 1, 1, 0, 0,
        65535, 0, 'sensor_errors', 1, 1, 0, 0, 65535, 3, 'sensor_serial', 8,
    )),
}
DOWN = {
    15: (
        0, 'interval_s', 60, 1, 0, 1, 1440, 4, None, 1, 'command', 0, 2, 1, _N3, 1, 'confirmed', 0,
        'red_ppm', 10, 1, 0, 40, 500, 0, 'hysteresis_ppm', 10, 1, 0, 0, 100, 0, 'orange_ppm', 10, 1, 0, 0,
        500, 0, 'active_start_h', 1, 1, 0, 0, 23, 0, 'active_end_h', 1, 1, 0, 0, 24, 4, None, 1,
        'active_days', 0, 7, 0, None, 4, None, 1, 'led_mode', 0, 2, 1, _N4, 1, 'asc', 0, 'frc_ppm', 1, 1, 0,
        400, 2000,
    ),
}
RULES = (
    ('orange_ppm', 0, 'red_ppm', 0, True, 'orange_ppm must be below red_ppm (or 0)'),
    ('hysteresis_ppm', 0, 'red_ppm', -400, False, 'hysteresis_ppm must be below red_ppm - 400'),
    ('active_start_h', 0, 'active_end_h', 0, False, 'active_start_h must be below active_end_h'),
)
