"""Many emulated nodes on one network (hil.swarm): pooled interpreters, shared radio, concurrent supervisors."""

from hil.swarm import Swarm, node_identity


def test_a_small_city_joins_and_reports_with_two_supervisor_threads(tmp_path):
    with Swarm(8, app="classair", scenario="school-day", base_dir=tmp_path, radius_m=800) as swarm:
        swarm.run(hours=3, workers=2)
        summary = swarm.summary()
        server = swarm.radio.server
        assert summary["halted"] == []
        assert summary["interpreters"] <= 4, "deep-sleeping nodes hand their interpreters on"
        assert summary["server"]["joins"] == 8
        for i, board in enumerate(swarm.boards):
            dev_eui = node_identity(i)[0]
            assert server.session(dev_eui) is not None, f"node {i} never joined"
            # every node's clock moved on about as far as the others' (virtual-time order held)
            assert abs(board.t_us - swarm.boards[0].t_us) < 20 * 60 * 1_000_000
        # at night ClassAir reports hourly: about three uplinks a node in three hours
        assert summary["server"]["uplinks"] >= 8 * 2


def test_node_identities_are_distinct_and_well_formed():
    ids = [node_identity(i) for i in range(2000)]
    assert len({d for d, _, _ in ids}) == 2000 and len({k for _, _, k in ids}) == 2000
    assert all(len(d) == 16 and len(j) == 16 and len(k) == 32 for d, j, k in ids)
