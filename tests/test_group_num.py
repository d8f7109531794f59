"""MeshGEMV's group_num (issue 23, part 1's parameter): the authors' WSE-3 two-level tree,
carried from the config, the command line and the Python API to the records and tables."""

import pytest

from waferrepro import meshsim, presets, records, sweep, tables
from waferrepro.experiments import KernelJob, jobs_for
from waferrepro.hardware import WSE3
from waferrepro.jobs.meshsim import run_meshsim
from waferrepro.meshsim.comm import authors_group_num, tree_plan, tree_root

PRESET = "paper-kernels"


@pytest.mark.parametrize("p, group_num", [(16, 2), (16, 8), (80, 4), (144, 8), (720, 2)])
def test_authors_tree_is_run_wse3_sh(p, group_num):
    # run_wse3.sh: pe_num_group = P / group_num, root_1st_phase = pe_num_group / 2,
    # root_2nd_phase = (group_num / 2) * pe_num_group + root_1st_phase
    per = p // group_num
    first, second = tree_plan(p, 2, "authors", group_num)
    assert [list(g) for g in first] == [list(range(g * per, (g + 1) * per))
                                        for g in range(group_num)]
    assert list(second[0]) == [g * per + per // 2 for g in range(group_num)]
    assert tree_root(p, 2, "authors", group_num) == (group_num // 2) * per + per // 2


@pytest.mark.parametrize("p, group_num", [(420, 20), (540, 20), (660, 22), (720, 24), (16, 4)])
def test_authors_default_groups_are_their_decode_configs(p, group_num):
    # Decode/WSE-3/model_config/llama8B_4k_1_<P>.json's group_num: the divisor nearest sqrt(P)
    assert authors_group_num(p) == group_num
    assert len(tree_plan(p, 2, "authors")[0]) == group_num


@pytest.mark.parametrize("group_num", [2, 4, 8])
def test_functional_meshgemv_with_group_num_matches_numpy(group_num):
    hw = presets.hardware(WSE3, PRESET)
    out = meshsim.simulate("MeshGEMV", (1, 48, 80), 8, 16, hw, True,
                           kernel=presets.kernel("MeshGEMV", PRESET), group_num=group_num)
    assert out.check.passed
    per = 16 // group_num
    assert out.run.params["group_num"] == group_num
    assert out.run.params["root_2nd_phase"] == (group_num // 2) * per + per // 2
    # the functional run and the cycle model price the same tree
    plain = meshsim.simulate("MeshGEMV", (1, 48, 80), 8, 16, hw, False,
                             kernel=presets.kernel("MeshGEMV", PRESET, group_num))
    assert plain.run.cycles == out.run.cycles


def test_group_num_changes_the_tree_and_none_takes_the_authors_default():
    hw = presets.hardware(WSE3, PRESET)
    kernel = presets.kernel("MeshGEMV", PRESET)
    default = meshsim.simulate("MeshGEMV", (1, 144, 144), 144, 144, hw, False, kernel=kernel)
    twelve = meshsim.simulate("MeshGEMV", (1, 144, 144), 144, 144, hw, False, kernel=kernel,
                              group_num=12)
    # None: the divisor of 144 nearest its square root, 12 groups of 12 (authors_group_num)
    assert default.run.cycles == twelve.run.cycles and default.run.params["group_num"] == 12
    by_group = {g: meshsim.simulate("MeshGEMV", (1, 144, 144), 144, 144, hw, False,
                                    kernel=kernel, group_num=g).run for g in (2, 4, 8)}
    # two groups of 72 chain further than eight of 18: the first phase dominates
    assert by_group[2].cycles > by_group[4].cycles > by_group[8].cycles
    assert by_group[8].params["pe_num_group"] == 18


def test_kernel_job_path_changes_only_with_group_num():
    assert KernelJob("meshsim", "MeshGEMV", "1x64x64", "8x8").path == \
        "records/meshsim/MeshGEMV/1x64x64/8x8.json"
    assert KernelJob("meshsim", "MeshGEMV", "1x64x64", "8x8", 4).path == \
        "records/meshsim/MeshGEMV/1x64x64/8x8_g4.json"


def test_experiment_group_nums_expand_meshgemv_only():
    config = {"experiments": {"fig10": {"systems": ["MeshGEMV", "chain-GEMV"],
                                        "sizes": [512], "grids": [8], "group_nums": [2, 4]}}}
    jobs = jobs_for(config, "fig10", "meshsim")
    assert [(j.system, j.group_num) for j in jobs] == [("MeshGEMV", 2), ("MeshGEMV", 4),
                                                       ("chain-GEMV", None)]


def test_record_and_table_say_which_group_num_ran(tmp_path):
    paths = []
    for g in (None, 2, 4):
        record = run_meshsim("MeshGEMV", "1x64x64", "8x8", WSE3, "functional", group_num=g)
        # at its job's own path, as the workflow writes it: read back, the path checked
        path = tmp_path / KernelJob("meshsim", "MeshGEMV", "1x64x64", "8x8", g).path
        records.write(record, path)
        paths.append(path)
        assert record["source"] == "simulated" and record["check"]["passed"]
        if g is None:  # the authors' default groups ran, and the record says so
            assert record["job"] == "meshsim/MeshGEMV/1x64x64/8x8"
            assert record["what"]["params"]["group_num"] == authors_group_num(8) == 2
        else:
            assert record["job"] == f"meshsim/MeshGEMV/1x64x64/8x8_g{g}"
            assert record["what"]["params"]["group_num"] == g
            assert f"group_num {g}" in record["note"]
            # the sweep's evaluate (the same job) gives the record's cycles
            cycles = sweep.evaluate(KernelJob("meshsim", "MeshGEMV", "1x64x64", "8x8", g),
                                    WSE3, PRESET)["cycles"][0]
            assert cycles == next(m["value"] for m in record["metrics"]
                                  if m["metric"] == "cycles")
    table = tables.build("fig10", paths, metrics=["cycles"])
    assert table["group_num"].tolist() == [2, 2, 4]
    # a record whose group count is not its path's is refused
    wrong = tmp_path / KernelJob("meshsim", "MeshGEMV", "1x64x64", "8x8", 8).path
    wrong.parent.mkdir(parents=True, exist_ok=True)
    wrong.write_bytes(paths[2].read_bytes())
    with pytest.raises(ValueError, match="group_num"):
        records.read(wrong)
    # a table of records without group_num (any but MeshGEMV's) keeps its columns as they were
    chain = tmp_path / "chain.json"
    records.write(run_meshsim("chain-GEMV", "1x64x64", "8x8", WSE3, "functional"), chain)
    assert list(tables.build("fig10", [chain]).columns) == tables.OUTPUT_COLUMNS
