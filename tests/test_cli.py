"""The command line as a newcomer meets it: light --help, --version, defaults and plain text in help,
graph datasets only where a graph is needed, a default --parts, --threads, logging and total time."""

import argparse
import json
import subprocess
import sys

import pytest

from graphopt.cli import CLIError, auto_parts, build_parser, datasets_of, main, set_threads

HEAVY = ("torch", "torch_geometric", "cvxpy", "scipy", "matplotlib", "networkx", "numpy", "sklearn")
TRAINING = (("cluster-gcn",), ("lagnn",), ("convex-relu",), ("gossip", "run"))


def _subparsers(parser: argparse.ArgumentParser, path=()):
    """(command path, parser) for every command and nested command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


def test_help_of_every_command_imports_nothing_heavy():
    # one fresh interpreter runs every --help, then reports what got imported
    commands = [[]] + [list(path) for path, _ in _subparsers(build_parser())]
    script = (
        "import sys, io, contextlib\n"
        "from graphopt.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            main(argv + ['--help'])\n"
        "        except SystemExit as e:\n"
        "            assert e.code == 0, (argv, e.code)\n"
        "    assert 'usage: graphopt' in out.getvalue(), argv\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"--help imported {out.stdout.strip()}"
    assert len(commands) >= 10  # the root, 7 commands and gossip's 3


def test_import_graphopt_is_lazy_but_graph_and_partition_resolve():
    script = ("import sys, graphopt\n"
              "assert 'scipy' not in sys.modules and 'numpy' not in sys.modules\n"
              "from graphopt import Graph, Partition\n"
              "import graphopt.graph, graphopt.partition\n"
              "assert Graph is graphopt.graph.Graph and Partition is graphopt.partition.Partition\n"
              "assert 'Graph' in dir(graphopt)\n"
              "try:\n    graphopt.nope\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "has no attribute 'nope'" in out.stdout


def test_version(capsys):
    import graphopt

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"graphopt {graphopt.__version__}"


def test_help_shows_defaults_in_plain_text():
    for path, sub in _subparsers(build_parser()):
        text = sub.format_help()
        assert "``" not in text and ":func:" not in text and ":class:" not in text, path
        for action in sub._actions:
            d = action.default
            if not action.option_strings or d is None or d is False or d == argparse.SUPPRESS or d == []:
                continue
            assert "default" in sub._get_formatter()._get_help_string(action), (path, action.dest)
    cg = dict(_subparsers(build_parser()))["cluster-gcn",].format_help()
    assert "(default: 128)" in " ".join(cg.split())  # --hidden


def test_library_names_repeated_for_light_help_match_the_library():
    from graphopt import datasets, graph
    from graphopt.cli import cluster_gcn, gossip
    from graphopt.gossip import rates, runner

    assert cluster_gcn.NORMALIZATIONS == graph.NORMALIZATIONS
    assert sorted(gossip.COMMUNICATION_GRAPHS) == sorted(datasets.COMMUNICATION_GRAPHS)
    assert gossip.RATE_DESIGNS == rates.RATE_DESIGNS
    assert sorted(gossip.METHODS) == sorted(runner.METHODS)
    assert datasets_of() == datasets.list_datasets()
    assert datasets_of("planetoid") == datasets.list_datasets("planetoid")


def test_graph_commands_list_only_graph_datasets():
    parsers = dict(_subparsers(build_parser()))
    for path in (("cluster-gcn",), ("partition",), ("lagnn",)):
        text = " ".join(parsers[path].format_help().split())
        assert "cora" in text, path
        for name in ("a9a", "w8a", "mnist"):
            assert name not in text, (path, name)
    assert "a9a" in parsers["info",].format_help()  # info describes feature-vector datasets too


def test_graph_command_refuses_a_feature_vector_dataset(capsys):
    assert main(["cluster-gcn", "--dataset", "a9a", "--epochs", "1"]) == 2
    assert "holds feature vectors, not a graph" in capsys.readouterr().err


def test_auto_parts_rule():
    assert auto_parts(2708) == 2                           # Cora: batches of about 1,350 nodes
    assert auto_parts(34493) == 23                         # Coauthor-Physics, one part per batch
    assert auto_parts(34493, 10) == 230                    # q = 10: still ~1,500 nodes per batch
    assert auto_parts(56944, 1) == 38                      # PPI's size (the paper: 50 parts)
    assert auto_parts(100, 3) == 3 and auto_parts(100) == 1  # small graphs: one batch is everything
    assert auto_parts(2, 5) == 2                           # never more parts than nodes


def test_cluster_gcn_trains_without_parts(shared_root, capsys):
    code = main(["cluster-gcn", "--dataset", "cora", "--root", str(shared_root), "--epochs", "1",
                 "--hidden", "8", "--threads", "1", "--quiet", "--clusters-per-batch", "2"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert f"metis into {auto_parts(2708, 2)} parts" in out
    assert err.splitlines()[-1].startswith("total time:") and "s CPU" in err


def test_every_training_command_takes_threads():
    parsers = dict(_subparsers(build_parser()))
    for path in TRAINING:
        options = {s for a in parsers[path]._actions for s in a.option_strings}
        assert "--threads" in options, path


def test_set_threads_sets_torch_and_blas():
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits():  # restores the BLAS pools afterwards
        try:
            set_threads(1)
            assert torch.get_num_threads() == 1
            assert all(p["num_threads"] == 1 for p in threadpool_info())
        finally:
            torch.set_num_threads(before)
    with pytest.raises(CLIError, match="--threads must be positive"):
        set_threads(0)


def test_gossip_run_threads_total_time_and_exit_code(tmp_path, capsys):
    code = main(["gossip", "run", "--graph", "cycle", "--n", "4", "--max-grads", "200",
                 "--threads", "1", "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0 and err.splitlines()[-1].startswith("total time:")
    assert main(["gossip", "run", "--threads", "0", "--out", str(tmp_path)]) == 2


def test_logging_is_configured_for_per_epoch_lines_when_piped(tmp_path):
    # stdout is a pipe here, so no progress bar: INFO records from the library must still show
    script = ("import logging\n"
              "from graphopt.cli import main\n"
              f"main(['gossip', 'rates', '--graph', 'cycle', '--n', '4', '--designs', 'uniform'])\n"
              "logging.getLogger('graphopt.cluster_gcn').info('epoch 1 loss 0.5')\n"
              "logging.getLogger('graphopt.cluster_gcn').debug('not shown')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "epoch 1 loss 0.5" in out.stderr and "not shown" not in out.stderr
    # an application that set up logging itself keeps its configuration
    script = ("import logging, sys\n"
              "logging.basicConfig(level=logging.ERROR, stream=sys.stdout)\n"
              "from graphopt.cli import main\n"
              f"main(['gossip', 'rates', '--graph', 'cycle', '--n', '4', '--designs', 'uniform'])\n"
              "logging.getLogger('graphopt').info('hidden')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "hidden" not in out.stdout + out.stderr


def test_json_of_a_run_has_no_cli_internals(shared_root, tmp_path, capsys):
    path = tmp_path / "run.json"
    assert main(["cluster-gcn", "--dataset", "cora", "--root", str(shared_root), "--epochs", "1",
                 "--hidden", "8", "--threads", "1", "--quiet", "--json", str(path)]) == 0
    args = json.loads(path.read_text())["args"]
    assert args["parts"] == auto_parts(2708) and not {"func", "parser", "timed"} & set(args)
