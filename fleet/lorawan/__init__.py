"""LoRaWAN 1.0.x on the network side: crypto on `cryptography`, frames, MAC commands, EU868, air time,
the radio path model, and a join server + network server the emulated boards talk to.

This implementation is written independently of the node's (firmware/lorawan) so that each checks the other.
"""
