"""Every command line reports a usage error as one line naming the flag, with exit code 2.

argparse's default prints the whole usage block first (a dozen lines for `search`), which buries
the one line that says what was wrong.
"""

import importlib
import os
import signal
import subprocess
import sys

import pytest

# (module, its parser builder, arguments with one bad value, the flag the error must name)
CASES = [
    ("lossforge.search.__main__", "build_parser", ["--generations", "many"], "--generations"),
    ("lossforge.search.__main__", "build_show_parser", ["run", "--top", "x"], "--top"),
    ("lossforge.report.__main__", "build_parser", ["--nosuchflag"], "--nosuchflag"),
    ("lossforge.distill.__main__", "build_parser", ["run", "--nosuchflag"], "--nosuchflag"),
    ("lossforge.bench.__main__", "build_parser", ["--budget", "nope"], "--budget"),
    ("lossforge.export.__main__", "build_parser", ["run", "--rank", "x"], "--rank"),
    ("lossforge.formula", "build_parser", ["p*log(p)", "--nosuchflag"], "--nosuchflag"),
]


@pytest.mark.parametrize("module,builder,argv,flag", CASES,
                         ids=[f"{c[0].split('.')[1]}-{c[1]}" for c in CASES])
def test_a_usage_error_is_one_line(module, builder, argv, flag, capsys):
    parser = getattr(importlib.import_module(module), builder)()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, err
    assert lines[0].startswith("error: ") and flag in lines[0] and "usage:" not in err


# every command that reads a run directory, given a path that is not one
RUN_READERS = [
    ("lossforge.search.__main__", ["--resume", "{run}"]),
    ("lossforge.search.__main__", ["show", "{run}"]),
    ("lossforge.report.__main__", ["{run}"]),
    ("lossforge.distill.__main__", ["{run}", "--no-rescore"]),
    ("lossforge.export.__main__", ["{run}"]),
]


@pytest.mark.parametrize("module,argv", RUN_READERS,
                         ids=[f"{m.split('.')[1]}-{a[0]}" for m, a in RUN_READERS])
def test_a_wrong_run_path_gets_the_same_one_line(module, argv, tmp_path, capsys):
    run = tmp_path / "no-such-run"
    main = importlib.import_module(module).main
    assert main([a.format(run=run) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == f"error: {run}: not a run directory"
    assert not run.exists()        # nothing created on the way


# every command with output on stdout: a report or an export written by print/write, and
# buffered or not; the usage of --help is only seen failing when buffered (argparse ignores a
# failed write, and the buffer's flush fails after its exit)
PIPED = [
    ("lossforge.formula", ["p**p**p**p"], True),
    ("lossforge.formula", ["p**p**p**p"], False),
    ("lossforge.export", ["--zoo", "dpo", "--format", "torch"], True),
    ("lossforge.export", ["--zoo", "dpo", "--format", "torch"], False),
    ("lossforge.bench", ["--help"], True),
    # printed through rich, whose own handler of a closed pipe exits 1 (cli.PipeConsole)
    ("lossforge.bench", ["--list-scenarios"], True),
    ("lossforge.bench", ["--list-scenarios"], False),
    ("lossforge.search", ["show", "--help"], True),
    ("lossforge.report", ["--help"], True),
    ("lossforge.distill", ["--help"], True),
]


@pytest.mark.parametrize("module,argv,buffered", PIPED,
                         ids=[f"{m.split('.')[1]}-{a[0]}-{'buffered' if b else 'unbuffered'}"
                              for m, a, b in PIPED])
def test_a_closed_stdout_pipe_ends_quietly(module, argv, buffered):
    """`python -m lossforge.formula ... | head -2`: the reader goes away before the output is
    written; the command stops without a traceback or warning, with the shell's code for a
    broken pipe (128 + SIGPIPE = 141), not 1 ("a check failed")."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", module, *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                     # the reader closes before the first line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE and err == ""
