"""One validation for every entry point (issue 20): the command line, the config and the
Python API refuse the same values with one line naming the option or key, a non-zero exit and
nothing written."""

import subprocess

import pytest
import yaml

from waferrepro import cli, validate
from waferrepro.hardware import WSE2
from waferrepro.jobs.meshsim import (
    run_decode,
    run_end_to_end,
    run_kv_capacity,
    run_meshsim,
    run_prefill,
)
from waferrepro.placement import check_config

DECODE = ["decode", "--model", "tiny-llama", "--cores", "8x8", "--input-len", "16",
          "--output-len", "4"]


def refused(capsys, argv, out, *words, rc=1):
    """Run the CLI; assert the exit status, one line on stderr holding `words`, no file."""
    got = cli.main([*argv, "--out", str(out)]) if rc == 1 else _argparse_rc(argv, out)
    err = capsys.readouterr().err.strip()
    assert got == rc, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    assert not out.exists() and not list(out.parent.glob(".*.tmp"))
    return err


def _each_rejected(base: dict, cases) -> None:
    """Every (change, words): the config `base` with `change` fails validation on one line
    that names the place (`words`)."""
    for change, words in cases:
        with pytest.raises(validate.ValidationError) as exc:
            check_config({**base, **change}, "wse2")
        message = str(exc.value)
        assert message.startswith("invalid config at ") and words in message, message
        assert "\n" not in message


def _argparse_rc(argv, out):
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--out", str(out)])
    return exc.value.code


@pytest.mark.parametrize("overrides, words", [
    ('{"clock_hz": -1}', ["--hardware-overrides clock_hz", "> 0"]),
    ('{"clock_hz": .nan}', ["--hardware-overrides clock_hz", "finite"]),
    ('{"clock_hz": .inf}', ["--hardware-overrides clock_hz", "finite"]),
    ('{"clock_hz": 0}', ["--hardware-overrides clock_hz", "> 0"]),
    ('{"sram_bytes_per_core": 0}', ["sram_bytes_per_core", ">= 1"]),
    ('{"sram_bytes_per_core": 1.5}', ["sram_bytes_per_core", "not an integer"]),
    ('{"hop_latency_cycles": "one"}', ["hop_latency_cycles", "not a number"]),
    ('{"hop_latency_cycles": true}', ["hop_latency_cycles", "not a number"]),
    ('{"fp16_per_wavelet": 4}', ["fp16_per_wavelet", "allowed: 1, 2"]),
    ('{"accumulate": "fp8"}', ["accumulate", "fp16", "fp32"]),
    ('{"clock_ghz": 1}', ["--hardware-overrides", "unknown key 'clock_ghz'", "clock_hz"]),
    ('[]', ["--hardware-overrides", "not an object"]),
    ('"850e6"', ["--hardware-overrides", "not an object"]),
    ('{"clock_hz": ', ["--hardware-overrides", "not a JSON or YAML object"]),
    ('{"link_bits_per_cycle": 0}', ["link_bits_per_cycle", "informational"]),
    ('{"link_bits_per_cycle": 320}', ["link_bits_per_cycle", "informational"]),
    ('{"route_colors_per_core": 16}', ["route_colors_per_core", "informational"]),
    ('{"name": "wse3"}', ["name", "hardware"]),
])
def test_bad_hardware_overrides_are_one_line(tmp_path, capsys, overrides, words):
    refused(capsys, [*DECODE, "--hardware-overrides", overrides], tmp_path / "r.json", *words)


@pytest.mark.parametrize("flag, value, words", [
    ("--input-len", "0", ["--input-len", ">= 1"]),
    ("--input-len", "-3", ["--input-len", ">= 1"]),
    ("--output-len", "0", ["--output-len", ">= 1"]),
    ("--cores", "2000x2000", ["--cores", "exceeds the usable wse2 fabric", "750x994"]),
    ("--cores", "0x0", ["--cores", "PxQ with positive integers"]),
    ("--cores", "8", ["--cores", "PxQ"]),
])
def test_bad_decode_options_are_one_line(tmp_path, capsys, flag, value, words):
    argv = list(DECODE)
    argv[argv.index(flag) + 1] = value
    refused(capsys, argv, tmp_path / "r.json", *words)


def test_unknown_system_model_preset_are_usage_errors(tmp_path, capsys):
    out = tmp_path / "r.json"
    err = refused(capsys, ["run", "--system", "Foo", "--shape", "1x64x64", "--cores", "4x4"],
                  out, "--system", "MeshGEMV", "chain-GEMV", rc=2)
    assert "KeyError" not in err
    refused(capsys, ["kv-capacity", "--model", "llama9", "--cores", "8x8"], out, "--model",
            "llama3-8b", rc=2)
    refused(capsys, [*DECODE, "--preset", "fast"], out, "--preset", "paper-kernels", rc=2)
    refused(capsys, [*DECODE, "--hardware", "wse9"], out, "--hardware", "wse2", rc=2)


def test_kv_capacity_refuses_a_grid_beyond_the_fabric(tmp_path, capsys):
    """It reported 710,000 tokens on 2000x2000 (every other job kind refused or skipped)."""
    refused(capsys, ["kv-capacity", "--model", "llama3-8b", "--cores", "2000x2000"],
            tmp_path / "r.json", "--cores", "exceeds the usable wse2 fabric")
    # a smaller fabric (override) refuses what fits the nominal one
    refused(capsys, ["kv-capacity", "--model", "llama3-8b", "--cores", "420x420",
                     "--hardware-overrides", '{"fabric_width": 400}'], tmp_path / "r.json",
            "--cores", "at most 400x994")


def test_every_job_kind_refuses_a_grid_beyond_the_fabric():
    """The Python API: the same check, naming the argument."""
    calls = [
        lambda: run_meshsim("MeshGEMV", "1x64x64", "751x8", WSE2, "cycle-model"),
        lambda: run_decode("tiny-llama", "8x995", 16, 4, "shift", WSE2, "cycle-model"),
        lambda: run_prefill("tiny-llama", "760x760", 16, WSE2, "cycle-model"),
        lambda: run_end_to_end("tiny-llama", "8x8", "800x8", 16, 4, WSE2, "cycle-model"),
        lambda: run_kv_capacity("llama3-8b", "2000x2000", "shift", WSE2),
    ]
    for call in calls:
        with pytest.raises(validate.ValidationError, match="exceeds the usable wse2 fabric"):
            call()


def test_prefill_grid_must_be_square_everywhere(tmp_path, capsys):
    refused(capsys, ["prefill", "--model", "tiny-llama", "--cores", "8x4", "--input-len", "16"],
            tmp_path / "r.json", "--cores", "not square")
    with pytest.raises(validate.ValidationError, match="prefill_cores: 8x4 is not square"):
        run_end_to_end("tiny-llama", "8x4", "8x8", 16, 4, WSE2, "cycle-model")


def test_python_api_refuses_bad_lengths_and_names():
    with pytest.raises(validate.ValidationError, match="output_len: 0"):
        run_decode("tiny-llama", "8x8", 16, 0, "shift", WSE2, "cycle-model")
    with pytest.raises(validate.ValidationError, match="input_len: 0"):
        run_prefill("tiny-llama", "8x8", 0, WSE2, "cycle-model")
    with pytest.raises(validate.ValidationError, match="unknown system 'Foo'; allowed: "):
        run_meshsim("Foo", "1x64x64", "4x4", WSE2, "cycle-model")
    with pytest.raises(validate.ValidationError, match="shape: '0x64x64'"):
        run_meshsim("MeshGEMV", "0x64x64", "4x4", WSE2, "cycle-model")
    with pytest.raises(validate.ValidationError, match="unknown model 'foo'"):
        run_kv_capacity("foo", "8x8", "shift", WSE2)


def test_out_directory_or_unwritable_path_is_one_line(tmp_path, capsys):
    assert cli.main([*DECODE, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "is a directory" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    refused(capsys, DECODE, blocker / "sub" / "r.json", "--out", "is not a directory")
    assert blocker.read_text() == "x"


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import errno
    import os

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    refused(capsys, DECODE, tmp_path / "r.json", "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_config_checks_the_same_facts(repo):
    """The config checker (placement.check_config, called by workflows/common.smk after the
    schema) uses the same functions: one line naming the key path."""
    base = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    base.setdefault("hardware_overrides", {})
    cases = [
        ({"hardware_overrides": {"clock_hz": float("nan")}}, "hardware_overrides/clock_hz"),
        ({"hardware_overrides": {"link_bits_per_cycle": 0}}, "informational"),
        ({"experiments": {"table3": {"kind": "prefill", "models": ["tiny-llama"],
                                     "grids": [8, "8x4"], "input_lens": [16]}}},
         "experiments/table3/grids/1: 8x4 is not square"),
        ({"experiments": {"table5": {"kind": "kv_capacity", "models": ["llama3-8b"],
                                     "grids": ["2000x2000"]}}},
         "experiments/table5/grids/0: 2000x2000 exceeds the usable wse2 fabric"),
        ({"experiments": {"t": {"kind": "prefill", "models": ["tiny-llama"], "grids": ["0x0"],
                                "input_lens": [16]}}}, "experiments/t/grids/0"),
        ({"experiments": {"t": {"kind": "e2e", "lengths": [[16, 4]], "setups": [
            {"model": "tiny-llama", "prefill_grid": 8, "decode_grid": "8x995"}]}}},
         "experiments/t/setups/0/decode_grid"),
    ]
    check_config(base, "wse2")  # the smoke config passes
    _each_rejected(base, cases)


@pytest.mark.parametrize("setting, words", [
    ("hardware_overrides={clock_hz: .nan}", "invalid config at hardware_overrides/clock_hz"),
    ('experiments={table3: {kind: prefill, models: [tiny-llama], grids: ["8x4"], '
     'input_lens: [16]}}', "invalid config at experiments/table3/grids/0: 8x4 is not square"),
    ('experiments={table3: {kind: prefill, models: [tiny-llama], grids: ["0x0"], '
     'input_lens: [16]}}', "invalid config at experiments/table3/grids/0"),
])
def test_snakemake_dry_run_refuses_before_any_job(repo, tmp_path, snakemake_cmd, setting, words):
    res = subprocess.run(
        [*snakemake_cmd, "-n", "-s", str(repo / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(repo / "config/smoke.yaml"), "--cores", "1",
         "--config", setting], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert words in res.stdout + res.stderr, (res.stdout + res.stderr)[-2000:]
    assert "Traceback" not in res.stdout + res.stderr


# Help texts (issue 20, part 5): every option says what it is, its choices and its default.

def _parsers(p, name="waferrepro"):
    import argparse

    yield name, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, sp in action.choices.items():
                yield from _parsers(sp, f"{name} {sub}")


def test_every_option_has_help_with_choices_and_default():
    parsers = list(_parsers(cli.parser()))
    assert len(parsers) > 20
    for name, p in parsers:
        text = p.format_help()
        for action in p._actions:
            if action.dest in ("help",) or action.__class__.__name__ == "_SubParsersAction":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"
            for choice in action.choices or []:
                assert str(choice) in text, f"{name}: choice {choice} not in its help"
            optional = action.option_strings and not action.required
            if optional and action.default not in (None, [], False):
                assert f"(default: {action.default})" in " ".join(text.split()), \
                    f"{name} {action.option_strings}: default not shown"


def test_cli_preset_default_is_the_config_schema_default(repo):
    from waferrepro.presets import DEFAULT_PRESET

    schema = yaml.safe_load(
        (repo / "src/waferrepro/schemas/config.schema.yaml").read_text())
    assert schema["properties"]["schedule_preset"]["default"] == DEFAULT_PRESET
    for name, p in _parsers(cli.parser()):
        for action in p._actions:
            if action.dest == "preset":
                assert action.default == DEFAULT_PRESET, name


def test_run_help_example_runs_and_is_not_skipped(tmp_path, capsys):
    import shlex

    from waferrepro.cli.meshsim import RUN_EXAMPLE

    run = dict(_parsers(cli.parser()))["waferrepro run"]
    assert RUN_EXAMPLE in run.format_help()
    argv = shlex.split(RUN_EXAMPLE.replace("REC.json", str(tmp_path / "rec.json")))[1:]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "skipped" not in err and "check passed" in err
    from waferrepro import records

    assert records.read(tmp_path / "rec.json")["source"] == "simulated"
    # and the package's own help names the same example
    assert RUN_EXAMPLE.split(" --out")[0].split("run ")[1] in cli.parser().format_help()


# MeshGEMV's group_num (issue 23): refused with one line naming it at every entry point.

GEMV_RUN = ["run", "--system", "MeshGEMV", "--shape", "1x64x64", "--cores", "16x16",
            "--mode", "cycle-model"]


@pytest.mark.parametrize("argv, words", [
    ([*GEMV_RUN, "--group-num", "3"], ["--group-num: 3 does not fit", "16 cores",
                                       "allowed for P = 16: 2, 4, 8"]),
    ([*GEMV_RUN, "--group-num", "16"], ["--group-num: 16", "pe_num_group"]),
    ([*GEMV_RUN, "--group-num", "1"], ["--group-num: 1", "integer >= 2"]),
    ([*GEMV_RUN, "--group-num", "-2"], ["--group-num: -2", "integer >= 2"]),
    # the reduce runs along a column: the grid's height decides
    (["run", "--system", "MeshGEMV", "--shape", "1x64x64", "--cores", "16x4",
      "--group-num", "4"], ["--group-num: 4", "reduction line of 4 cores"]),
    (["run", "--system", "MeshGEMM", "--shape", "16x16x16", "--cores", "16x16",
      "--group-num", "4"], ["--group-num: 4", "not allowed for MeshGEMM"]),
    (["run", "--system", "chain-GEMV", "--shape", "1x16x16", "--cores", "16x16",
      "--group-num", "4"], ["--group-num: 4", "not allowed for chain-GEMV"]),
])
def test_bad_group_num_is_one_line(tmp_path, capsys, argv, words):
    refused(capsys, argv, tmp_path / "r.json", *words)


def test_group_num_not_an_integer_is_a_usage_error(tmp_path, capsys):
    refused(capsys, [*GEMV_RUN, "--group-num", "two"], tmp_path / "r.json", "--group-num",
            "invalid int value", rc=2)


def test_python_api_refuses_a_bad_group_num():
    """The job function refuses it as a ValidationError (as the command line and the config);
    the kernel layer (meshsim.simulate, presets.kernel, sweep.evaluate, run_gemv) as a
    PlanError, with the same one-line reason (meshsim.comm.group_num_problem)."""
    from waferrepro import meshsim, presets, sweep
    from waferrepro.experiments import KernelJob
    from waferrepro.meshsim import PlanError
    from waferrepro.meshsim.gemv import run_gemv

    with pytest.raises(validate.ValidationError, match="^group_num: 3 does not fit"):
        run_meshsim("MeshGEMV", "1x64x64", "16x16", WSE2, "cycle-model", group_num=3)
    with pytest.raises(validate.ValidationError, match="not allowed for MeshGEMM"):
        run_meshsim("MeshGEMM", "16x16x16", "16x16", WSE2, "cycle-model", group_num=4)
    hw = presets.hardware(WSE2, "paper-kernels")
    calls = [
        lambda: meshsim.simulate("MeshGEMV", (1, 64, 64), 16, 16, hw, False, group_num=3),
        lambda: sweep.evaluate(KernelJob("meshsim", "MeshGEMV", "1x64x64", "16x16", 3), WSE2,
                               "paper-kernels"),
        lambda: run_gemv(hw, (1, 64, 64), 16, 16, tree_levels=2, system="MeshGEMV",
                         group_num=3),
    ]
    for call in calls:
        with pytest.raises(PlanError, match="^group_num: 3 does not fit"):
            call()
    for value in (1, 0, True, 2.0, "4"):
        with pytest.raises(PlanError, match=f"^group_num: {value!r} is not"):
            presets.kernel("MeshGEMV", "paper-kernels", value)
    with pytest.raises(PlanError, match="not allowed for SUMMA"):
        presets.kernel("SUMMA", "paper-kernels", 4)
    with pytest.raises(PlanError, match="not allowed for chain-GEMV"):
        run_gemv(hw, (1, 64, 64), 16, 16, tree_levels=1, system="chain-GEMV", group_num=4)


def test_config_refuses_a_bad_group_num(repo):
    base = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    gemv = {"systems": ["MeshGEMV", "chain-GEMV"], "sizes": [512], "grids": [8, "8x4"]}
    cases = [
        ({"experiments": {"fig10": {**gemv, "group_nums": [4]}}},
         "experiments/fig10/group_nums/0 (grid 8x4): 4 does not fit a reduction line of 4"),
        ({"experiments": {"fig9": {"systems": ["SUMMA"], "sizes": [64], "grids": [8],
                                   "group_nums": [2]}}},
         "experiments/fig9/group_nums: only a kernel experiment that runs MeshGEMV"),
        ({"wse3": {"grids": [16, 80], "group_nums": [2, 3]}},
         "wse3/group_nums/1 (grid 16x16): 3 does not fit"),
        ({"wse3": {"grids": [16, 1000]}},
         "wse3/grids/1: 1000x1000 exceeds the usable wse3 fabric"),
        ({"wse3": {"grids": [16], "gemm_shapes": [{"grid": 16, "shape": "16x0x16"}]}},
         "wse3/gemm_shapes/0/shape"),
    ]
    check_config({**base, "experiments": {"fig10": {**gemv, "group_nums": [2]}}}, "wse2")
    _each_rejected(base, cases)


def test_snakemake_dry_run_refuses_a_bad_group_num(repo, tmp_path, snakemake_cmd):
    res = subprocess.run(
        [*snakemake_cmd, "-n", "-s", str(repo / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(repo / "config/smoke.yaml"), "--cores", "1", "--config",
         "wse3={grids: [16, 80], group_nums: [3]}"], capture_output=True, text=True,
        timeout=300)
    output = res.stdout + res.stderr
    assert res.returncode != 0
    assert "invalid config at wse3/group_nums/0 (grid 16x16): 3 does not fit" in output, \
        output[-2000:]
    assert not (tmp_path / "results").exists()
