# The minimal app: counts its wakes. Proves the runtime, the store and the emulator without a network.
def run(node):
    n = node.store.next("wakes", 64)
    node.log("wake %d" % n)
    return node.setting("interval_s", 900)
