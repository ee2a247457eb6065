"""Every v1 scenario builds what it built before benchmark v2's fields existed.

The reference is the code itself at commit ``PRE_V2`` (main's HEAD before the v2 fields), run
from ``git archive`` in a subprocess: for every v1 scenario it prints the segments cache key and
a digest of its labels on fixed returns, and rolls out 4 tiny pairs. This process computes the
same with the current code. Equal cache keys mean the cached datasets (and the BC references
keyed by their arrays) are the very same files; equal labels and rollouts mean a rebuild is
bit-identical too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lossforge.bench import datasets
from lossforge.bench.scenarios import list_scenarios, load_scenario
from lossforge.bench.zoo import load_zoo

REPO = Path(__file__).resolve().parents[2]
PRE_V2 = "baffa1d"

PROBE = r'''
import dataclasses, hashlib, json, sys
import numpy as np
from lossforge.bench import datasets
from lossforge.bench.scenarios import load_scenario
from lossforge.bench.zoo import load_zoo

def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()

returns = np.random.default_rng(0).normal(size=(500, 2)) * 100
out, zoos = {"keys": {}, "labels": {}}, {}
for name in sys.argv[1:]:
    sc = load_scenario(name)
    zoo = zoos.setdefault(sc.env_id, load_zoo(sc.env_id))
    spec = datasets._spec_for(sc, zoo, sc.dataset_seed)
    out["keys"][name] = datasets.segment_key(spec, zoo.fingerprint(), zoo.level_names)
    out["labels"][name] = digest(*datasets.label_pairs(returns, sc.bt_temperature, sc.flip_rate,
                                                       sc.dataset_seed))
sc = load_scenario("quick")
zoo = zoos["Hopper-v5"]
spec = dataclasses.replace(datasets._spec_for(sc, zoo, 0), n_pairs=4, horizon=30)
a = datasets._build_pairs(spec, zoo.policies, np.arange(4), spec.allocation())
out["rollout"] = digest(*(a[k] for k in ("obs", "actions", "lengths", "returns", "sources")))
print(json.dumps(out))
'''


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def old_code(tmp_path_factory):
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{PRE_V2}^{{commit}}"],
                      capture_output=True).returncode != 0:
        pytest.skip(f"needs the git history with commit {PRE_V2} (main before benchmark v2)")
    root = tmp_path_factory.mktemp("pre_v2")
    tar = root / "lossforge.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(tar), PRE_V2, "lossforge"],
                   check=True)
    with tarfile.open(tar) as t:
        t.extractall(root, filter="data")
    return root


def test_v1_scenarios_keep_keys_labels_and_rollouts(old_code):
    v1 = [n for n in list_scenarios() if load_scenario(n).length_control == "none"
          and load_scenario(n).teacher == "bt"]
    assert {"quick", "hopper-clean", "ant-mixed-quality", "hopper-noisy-0.3"} <= set(v1)
    env = dict(os.environ, PYTHONPATH=str(old_code),
               LOSSFORGE_SCENARIOS=str(REPO / "benchmarks" / "scenarios"),
               LOSSFORGE_ZOO=str(REPO / "benchmarks" / "zoo"))
    run = subprocess.run([sys.executable, "-c", PROBE, *v1], env=env, cwd=old_code,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    old = json.loads(run.stdout.strip().splitlines()[-1])

    returns = np.random.default_rng(0).normal(size=(500, 2)) * 100
    zoos = {}
    for name in v1:
        sc = load_scenario(name)
        zoo = zoos.setdefault(sc.env_id, load_zoo(sc.env_id))
        spec = datasets._spec_for(sc, zoo, sc.dataset_seed)
        assert datasets.segment_key(spec, zoo.fingerprint(), zoo.level_names) == \
            old["keys"][name], name
        chosen, clean, flipped, prob, keep = datasets.apply_teacher(
            returns, None, sc.teacher, sc.bt_temperature, sc.flip_rate, sc.dataset_seed)
        assert _digest(chosen, clean, flipped) == old["labels"][name], name
        assert keep.all() and (prob == 1).all()
    import dataclasses

    sc = load_scenario("quick")
    spec = dataclasses.replace(datasets._spec_for(sc, zoos["Hopper-v5"], 0), n_pairs=4,
                               horizon=30)
    a = datasets._build_pairs(spec, zoos["Hopper-v5"].policies, np.arange(4), spec.allocation())
    assert "rewards" not in a
    assert _digest(*(a[k] for k in ("obs", "actions", "lengths", "returns", "sources"))) == \
        old["rollout"]
