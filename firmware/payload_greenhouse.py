# Payload table of the greenhouse role: generated from tools/citynode/base/payload_schema.py (schema v1)
# by `python -m fleet.payloads_gen`. Do not edit. Layout: firmware/payload.py; messages: docs/payloads.md.
_N0 = ('sensor_fault', 'out_of_range', 'low_battery')
_N1 = ('frost', 'frost_cleared', 'heat', 'heat_cleared', 'dry', 'dry_cleared')
_N2 = ('unknown', 'power_on', 'hard', 'watchdog', 'deepsleep', 'soft')
_N3 = ('none', 'status', 'reboot', 'rejoin')
UP = {
    'periodic': (50, (
        0, 'air_temp_c', 1, 10, 200, -600, 650, 0, 'air_rh_pct', 1, 2, 100, -100, 100, 0, 'soil_vwc_pct', 1,
        2, 60, -60, 140, 0, 'soil_temp_c', 1, 10, 200, -600, 650, 0, 'lux', 2, 1, 0, 0, 65000, 4, None, 1,
        'flags', 0, 3, 2, _N0,
    )),
    'event': (51, (
        4, None, 1, 'alarm', 0, 3, 1, _N1, 0, 'air_temp_c', 1, 10, 200, -600, 650, 0, 'soil_vwc_pct', 1, 2,
        60, -60, 140,
    )),
    'status': (52, (
        0, 'battery_mv', 10, 1, 3600, -360, 140, 2, 'fw', 10, 4, None, 1, 'reset_cause', 0, 4, 1, _N2, 0,
        'crashes', 1, 1, 0, 0, 65535, 0, 'wdt_resets', 1, 1, 0, 0, 65535, 0, 'radio_errors', 1, 1, 0, 0,
        65535, 0, 'sensor_errors', 1, 1, 0, 0, 65535, 3, 'sensor_serial', 8,
    )),
}
DOWN = {
    55: (
        0, 'interval_s', 60, 1, 0, 1, 1440, 4, None, 1, 'command', 0, 2, 1, _N3, 1, 'confirmed', 0,
        'frost_c', 1, 2, 0, -20, 20, 0, 'heat_c', 1, 2, 0, 40, 120, 0, 'dry_vwc_pct', 1, 1, 0, 0, 60,
    ),
}
