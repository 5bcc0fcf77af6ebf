"""The base every host package may import: where the firmware and board files are (`paths`), board files and
their validation (`boards`), `.mpy` compilation (`mpy`), the payload schema and the role list
(`payload_schema`, `roles`), and the registry of emulated serial ports (`emulated_ports`).

It imports nothing of citynode outside `citynode.base`, and neither `fleet` nor `hil`: they, and the CLI above
them, import it.
"""
