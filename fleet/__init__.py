"""Network side of citynode: LoRaWAN host crypto, the emulated network server, codecs, the fleet registry, key vault and exports."""
