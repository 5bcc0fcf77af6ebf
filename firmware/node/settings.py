# A role's settings beyond node.setting(key, default): its defaults (apps/<role>/settings.py, from the schema) and
# the one-shot commands a downlink leaves for its next wake. Loaded by the halves that need them, not the radio's.


def role_default(node, key):
    """node.setting with the role's default when neither the network nor the config set it. The defaults leave
    again if they were not loaded: a half that needs one value should not keep the table."""
    import sys

    name = "apps.%s.settings" % node.role
    had = name in sys.modules
    v = node.setting(key, __import__(name, None, None, ("DEFAULTS",)).DEFAULTS.get(key))
    if not had:
        from node.modules import unload

        unload(name, "apps." + node.role)
    return v


def take(node, key):
    """A one-shot command the network sent (a downlink field with no default, e.g. a recalibration), or None;
    taken once: the next wake does not see it again."""
    st = node.store
    v = st.get("do." + key)
    if v is not None:
        st.delete("do." + key)
    return v
