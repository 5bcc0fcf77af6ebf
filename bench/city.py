"""The city figure: 1,300 emulated ClassAir nodes on one network for 24 virtual hours, <= 5 min on 2 cores.

Every node runs the firmware that ships, under the MicroPython unix port, joins the emulated network server and
reports through the radio path model; CITYNODE_CITY_NODES overrides the node count for a quicker look.
"""

import os
import tempfile

from hil.swarm import Swarm


def run():
    n = int(os.environ.get("CITYNODE_CITY_NODES", "1300"))
    with tempfile.TemporaryDirectory() as d, Swarm(n, app="classair", scenario="school-day", base_dir=d) as s:
        s.run(hours=24, workers=2)
        summary = s.summary()
    server = summary["server"]
    goal_s = 300 * n / 1300
    joined = server["joins"] >= n
    return [
        (
            f"{n} ClassAir nodes x 24 h on one network (2 cores)",
            f"{summary['wall_s']:.0f} s",
            f"<= {goal_s:.0f} s",
            summary["wall_s"] <= goal_s,
        ),
        (
            f"{n} nodes: boots / joins / uplinks heard / halted",
            f"{summary['boots']} / {server['joins']} / {server['uplinks']} / {len(summary['halted'])}",
            f"all {n} joined, none halted",
            joined and not summary["halted"],
        ),
    ]
