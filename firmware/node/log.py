# Serial log: one line per event, stamped with milliseconds since boot.
import sys
import time


def log(msg):
    print("[%d] %s" % (time.ticks_ms(), msg))


def exception(e, where=""):
    print("[%d] error%s: %s: %s" % (time.ticks_ms(), " in " + where if where else "", type(e).__name__, e))
    sys.print_exception(e)
