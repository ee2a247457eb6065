"""The one progress display of every long step: an ETA from a (fake) clock on a terminal and in a
log file, nothing when disabled, nothing on stdout, and no effect on the numbers it watches."""

from __future__ import annotations

import io
import re

import numpy as np
from rich.console import Console

from lossforge.bench.progress import progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fake_long_step(bar, clock: FakeClock, steps: int = 10, seconds_per_step: float = 30.0):
    task = bar.add_task("fake dataset build", total=steps)
    for _ in range(steps):
        clock.now += seconds_per_step
        bar.advance(task)
        yield


def test_log_lines_carry_an_eta_from_the_clock():
    """In a file (not a terminal): a line at most every `every` seconds, each with the ETA the
    rate so far implies (hand-derived: after k of 10 steps of 30 s, (10 - k) * 30 s are left),
    and one 'done' line at the end."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    clock = FakeClock()
    with progress_bar(console, get_time=clock, every=60.0) as bar:
        for _ in _fake_long_step(bar, clock):
            pass
    lines = out.getvalue().splitlines()
    # lines at 60, 120, ... 270 s (every 60 s: after steps 2, 4, 6, 8) and the final one
    assert [re.sub(r"^\d\d:\d\d:\d\d ", "", x) for x in lines] == [
        "fake dataset build: 2/10 (20 %), 0:01:00 elapsed, ETA 0:04:00",
        "fake dataset build: 4/10 (40 %), 0:02:00 elapsed, ETA 0:03:00",
        "fake dataset build: 6/10 (60 %), 0:03:00 elapsed, ETA 0:02:00",
        "fake dataset build: 8/10 (80 %), 0:04:00 elapsed, ETA 0:01:00",
        "fake dataset build: 10/10 (100 %), 0:05:00 elapsed, done",
    ]


def test_terminal_bar_shows_the_eta():
    """On a terminal: rich's bar, whose rendered text has the ETA of the fake clock (3 of 10
    steps done in 90 s: 3:30 to go)."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, color_system=None)
    clock = FakeClock()
    with progress_bar(console, get_time=clock) as bar:
        steps = _fake_long_step(bar, clock)
        for _ in range(3):
            next(steps)
        console.print(bar.get_renderable())   # what the live display shows at this moment
        text = out.getvalue()
    assert "fake dataset build" in text and "3/10" in text
    assert re.search(r"ETA\s+0:03:30", text), text


def test_disabled_prints_nothing_anywhere(capsys):
    clock = FakeClock()
    with progress_bar(False, get_time=clock, every=0.0) as bar:
        for _ in _fake_long_step(bar, clock):
            pass
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_enabled_goes_to_stderr_never_stdout(capsys):
    clock = FakeClock()
    with progress_bar(True, get_time=clock, every=0.0) as bar:
        for _ in _fake_long_step(bar, clock, steps=2):
            pass
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fake dataset build: 2/2 (100 %)" in captured.err


def test_progress_does_not_change_the_reference_logps():
    """The reference log-probs with a visible progress display are bitwise those without."""
    import torch

    from lossforge.bench.policy import PackedSegments, PolicySpec, bin_centres, init_params
    from lossforge.bench.trainer import reference_logps

    gen = np.random.default_rng(0)
    n, horizon, obs_dim, act_dim = 12, 7, 3, 2
    spec = PolicySpec(obs_dim=obs_dim, act_dim=act_dim, hidden=(8,), bins=5)
    centres = bin_centres(-1.0, 1.0, 5, act_dim)
    params = init_params(spec, torch.Generator().manual_seed(0))
    obs = gen.normal(size=(n, 2, horizon, obs_dim)).astype(np.float32)
    actions = gen.uniform(-1, 1, size=(n, 2, horizon, act_dim)).astype(np.float32)
    lengths = gen.integers(1, horizon + 1, size=(n, 2))
    segs = PackedSegments.from_arrays(obs, actions, lengths, centres)
    quiet = reference_logps(params, segs, chunk_rows=16)
    shown = reference_logps(params, segs, chunk_rows=16,
                            progress=Console(file=io.StringIO(), force_terminal=False))
    assert torch.equal(quiet["sum"], shown["sum"]) and torch.equal(quiet["mean"], shown["mean"])
