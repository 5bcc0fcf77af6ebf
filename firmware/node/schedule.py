# When a role's node wakes next, and how long to sleep for it. A role with a schedule of its own (active hours,
# local time) has apps/<role>/schedule.py with next_wake_at(node); any other wakes every interval_s. Loaded for a
# moment by the halves of a wake that need it; the radio's half only sleeps (node.uplink.sleep_s).
from node.uplink import sleep_s


def next_wake_at(node):
    """[unix time of the next wake, or None while the network's time is unknown; the period until it is known]."""
    name = "apps.%s.schedule" % node.role
    try:
        m = __import__(name, None, None, ("next_wake_at",))
    except ImportError as e:
        if "schedule" not in str(e):
            raise  # the role's schedule is there but imports something missing: a real error
        from node.settings import role_default

        return [None, role_default(node, "interval_s")]
    try:
        return m.next_wake_at(node)
    finally:
        from node.modules import unload

        unload(name)


def resume(node, _):
    """The half that runs when a send brought the network's time: align the next wake on it."""
    return sleep_s(node, next_wake_at(node))
