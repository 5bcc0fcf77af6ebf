# ClassAir: CO2 every quarter hour in a classroom, and a light the class trusts: green while the air is fine,
# red when it is time to open the windows (French guidance: act above 800 ppm), optionally orange between.
#
# One wake = one measurement (wake.py). The light changes with hysteresis: red from `red_ppm`, green again only
# below `red_ppm - hysteresis_ppm`; the LED pins are held through deep sleep (led.py). Turning red, and the return
# to green, go out at once as an event uplink; other wakes send the periodic reading (the pipeline sends the
# daily status in its place on a quiet evening wake). Wakes follow a schedule in local time (schedule.py): every
# `interval_s` in active hours, every `idle_interval_s` outside them (0: no measurement at all), aligned on the
# clock; outside active hours the light is off. A sensor that fails or is missing blinks both LEDs at each wake,
# then leaves them dark, and sets the sensor-fault flag; the node keeps its link and schedule.
#
# The package's own modules load only as the wake needs them; this file stays empty of code, since importing any
# of them (settings, by every half of a wake) runs it. Settings and their defaults: settings.py.
