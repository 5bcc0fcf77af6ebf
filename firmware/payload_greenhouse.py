# Payload table of the greenhouse role: generated from fleet/payloads_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Read by payload.py; see docs/payloads.md.
UP = {
    'periodic': (50, (
        ('air_temp_c', 0, 1, 10, 200, -600, 650),
        ('air_rh_pct', 0, 1, 2, 100, -100, 100),
        ('soil_vwc_pct', 0, 1, 2, 60, -60, 140),
        ('soil_temp_c', 0, 1, 10, 200, -600, 650),
        ('lux', 0, 2, 1, 0, 0, 65000),
        (None, 4, (('flags', 0, 3, 2, ('sensor_fault', 'out_of_range', 'low_battery')),)),
    )),
    'event': (51, (
        (None, 4, (('alarm', 0, 3, 1, ('frost', 'frost_cleared', 'heat', 'heat_cleared', 'dry', 'dry_cleared')),)),
        ('air_temp_c', 0, 1, 10, 200, -600, 650),
        ('soil_vwc_pct', 0, 1, 2, 60, -60, 140),
    )),
    'status': (52, (
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
    55: (
        ('interval_s', 0, 60, 1, 0, 1, 1440),
        (None, 4, (('command', 0, 2, 1, ('none', 'status', 'reboot', 'rejoin')),)),
        ('confirmed', 1),
        ('frost_c', 0, 1, 2, 0, -20, 20),
        ('heat_c', 0, 1, 2, 0, 40, 120),
        ('dry_vwc_pct', 0, 1, 1, 0, 0, 60),
    ),
}
