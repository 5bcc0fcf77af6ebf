"""citynode: build, flash, deploy, provision and test MicroPython LoRaWAN sensor nodes."""

__version__ = "0.1.0"
