# A link test app: one small uplink per wake (a wake counter and the last downlink's SNR), so installers and
# tests can watch the LoRaWAN link alone. Settings: interval_s (900), fport (1), confirmed (false).
def run(node):
    link = node.link
    n = node.store.next("probe", 64) & 0xFFFF
    st = link.status()
    snr = st["snr"] if st["snr"] is not None else -128
    dl = link.send(node.setting("fport", 1), bytes((n >> 8, n & 0xFF, snr & 0xFF)), node.setting("confirmed", False))
    st = link.status()
    node.log(
        "probe: n=%d joined=%s dr=%s fcnt=%s rssi=%s snr=%s margin=%s time=%s"
        % (n, link.joined, st["dr"], st["fcnt_up"], st["rssi"], st["snr"], st["margin"], link.time())
    )
    if dl:
        node.log("probe: downlink port=%d %s" % (dl[0], dl[1].hex()))
    return node.setting("interval_s", 900)
