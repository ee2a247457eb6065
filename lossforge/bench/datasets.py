"""Offline preference datasets on MuJoCo: pairs of H-step segments from a shared start state.

One pair is built like one LLM comparison (prompt, two responses, a judge):

1. *prompt* -- a start state s0: from ``env.reset(seed)`` the scenario's ``start_policy``
   (a zoo level, stochastic actions) walks a uniform number of steps in ``start_steps``
   (a walk that terminates early is retried from a new reset). The full MuJoCo state at s0 is
   snapshotted (``mj_copyData``: qpos, qvel, warm start and derived quantities), so both
   segments restart from a bit-identical simulator state -- a superset of
   ``env.unwrapped.set_state(qpos, qvel)`` that also keeps Ant's contact-force observations and
   the solver's warm start exact.
2. *responses* -- two segments, each an H-step rollout of a zoo level (stochastic actions)
   from s0, ending early if the episode terminates; which mix entry a pair belongs to is
   allocated exactly by the mix weights, the side each level lands on is a fair coin.
3. *judge* -- a Bradley-Terry teacher on the true segment returns,
   ``P(seg0 preferred) = sigmoid((R0 - R1) / T)`` (T = 0: the better one, ties by coin),
   then each label flips with probability ``flip_rate`` (at T = 0 this is B-Pref's "mistake"
   teacher). The scenario's ``teacher`` picks a B-Pref-style variant (``apply_teacher`` in
   lossforge/bench/teachers.py):
   BT on discounted returns ("myopic"), near-ties dropped ("skip") or labelled 1/2 ("equal").

Length control (``length_control = "absorbing"``): a segment whose episode terminates is
padded to H with an absorbing state that earns 0 reward (so returns, and labels, are those of
``"none"``); the arrays stay as built (zero-padded, ``lengths`` = valid steps) and the dataset
says how the trainer must hide the length from a loss (``lossforge/bench/lengths.py``).

Everything is deterministic from (scenario, seed): pair i draws from its own
``SeedSequence([seed, i])``, so results do not depend on worker count or chunking, and labels
draw from a separate stream that does not depend on T or the flip rate -- the noisy variants
of a scenario are its clean labels with flips on a nested set of pairs, on the same segments.

Segments are cached on disk (``$LOSSFORGE_CACHE/datasets``, default ``~/.cache/lossforge``)
under a content hash of everything that defines them: env, H, pair count, mix, start recipe,
seed, the zoo's weights and the mujoco/gymnasium versions. Labels are recomputed (they take
milliseconds), so clean and noisy scenarios share one cached build. Cache files are ``.npz``
(``allow_pickle=False``) plus a JSON sidecar with the npz's sha256; a corrupted or mismatched
file is detected, reported with a warning and rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from lossforge.bench.cache import cache_root
from lossforge.bench.envs import env_key, make_env
from lossforge.bench.progress import progress_bar
from lossforge.bench.scenarios import Scenario, load_scenario
from lossforge.bench.teachers import apply_teacher, check_pairs_kept, teacher_stats
from lossforge.bench.zoo import Zoo, ZooPolicy, load_zoo
from lossforge.errors import ConfigError, LossforgeError
from lossforge.io import atomic_write, atomic_write_json, canonical_json, sha256_file

DATASET_FORMAT = 1
_ASSIGN_STREAM = 0xA5516     # spawn key of the pair -> mix-entry assignment


# ----------------------------------------------------------------------------------------------
# The dataset
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PreferenceDataset:
    env_id: str
    horizon: int
    obs: np.ndarray      # float32 [N, 2, H, obs_dim]: state before each action
    actions: np.ndarray  # float32 [N, 2, H, act_dim]: in the env's action box, zero-padded
    lengths: np.ndarray  # int32 [N, 2]: valid steps (< H if the episode terminated)
    returns: np.ndarray  # float64 [N, 2]: true segment returns
    chosen: np.ndarray   # int8 [N]: index 0/1 of the teacher's preferred segment (after noise)
    sources: np.ndarray  # int16 [N, 2]: zoo level index of each segment's policy
    meta: dict = field(default_factory=dict)  # scenario name, seed, teacher stats, build time
    # float32 [N]: probability that ``chosen`` is the preferred side; None: 1 for every pair.
    # 0.5 marks a tie (teacher "equal"): the trainer then uses 0.5 L(c, r) + 0.5 L(r, c).
    label_prob: np.ndarray | None = None
    length_control: str = "none"          # see lossforge/bench/lengths.py
    absorbing_logp: str = "reference-mean"  # absorbing only

    def __len__(self) -> int:
        return int(self.chosen.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[-1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[-1])

    def subset(self, index: np.ndarray, note: str | None = None) -> "PreferenceDataset":
        index = np.asarray(index)
        meta = dict(self.meta)
        if note is not None:
            meta["subset"] = note
        return replace(self, obs=self.obs[index], actions=self.actions[index],
                       lengths=self.lengths[index], returns=self.returns[index],
                       chosen=self.chosen[index], sources=self.sources[index], meta=meta,
                       label_prob=None if self.label_prob is None else self.label_prob[index])

    def split(self, fraction: float, rng: np.random.Generator
              ) -> tuple["PreferenceDataset", "PreferenceDataset"]:
        """(train, held-out): a random ``fraction`` of the pairs (rounded, at least one on each
        side) goes to train, the rest to held-out; ``rng`` draws the permutation."""
        n = len(self)
        if not 0.0 < fraction < 1.0 or n < 2:
            raise ConfigError(f"split: fraction must lie in (0, 1) and the dataset hold 2+ "
                              f"pairs, got fraction={fraction} with {n} pairs")
        k = min(max(int(round(fraction * n)), 1), n - 1)
        perm = rng.permutation(n)
        tr, te = np.sort(perm[:k]), np.sort(perm[k:])
        return (self.subset(tr, f"train {k}/{n}"), self.subset(te, f"held-out {n - k}/{n}"))

    def chosen_rejected(self):
        """(obs_c, act_c, len_c, obs_r, act_r, len_r): ``[N, H, .]`` arrays of the chosen and the
        rejected segment of each pair."""
        i = np.arange(len(self))
        c = self.chosen.astype(np.int64)
        r = 1 - c
        return (self.obs[i, c], self.actions[i, c], self.lengths[i, c],
                self.obs[i, r], self.actions[i, r], self.lengths[i, r])


# ----------------------------------------------------------------------------------------------
# Segment generation
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentSpec:
    """Everything that defines the (unlabelled) segments of a dataset."""

    env_id: str
    horizon: int
    n_pairs: int
    mix: tuple[tuple[int, int, float], ...]   # (level index a, level index b, weight)
    start_level: int
    start_steps: tuple[int, int]
    seed: int
    step_rewards: bool = False   # also keep per-step rewards [N, 2, H] (v2 scenarios)

    def allocation(self) -> np.ndarray:
        """int [n_pairs]: mix entry of each pair; counts by largest remainder, order shuffled."""
        w = np.array([m[2] for m in self.mix], dtype=np.float64)
        exact = w / w.sum() * self.n_pairs
        counts = np.floor(exact).astype(np.int64)
        rest = self.n_pairs - counts.sum()
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:rest]] += 1
        entries = np.repeat(np.arange(len(self.mix)), counts)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed,
                                                           spawn_key=(_ASSIGN_STREAM,)))
        return entries[rng.permutation(self.n_pairs)]


def _snapshot(u, env_data):
    import mujoco

    snap = mujoco.MjData(u.model)
    mujoco.mj_copyData(snap, u.model, env_data)
    return snap


def _build_pairs(spec: SegmentSpec, policies: Sequence[ZooPolicy], pair_ids: np.ndarray,
                 entries: np.ndarray, progress=None) -> dict[str, np.ndarray]:
    """Roll out the pairs ``pair_ids`` (with mix entries ``entries``)."""
    import mujoco

    env = make_env(spec.env_id)
    u = env.unwrapped
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    n, h = len(pair_ids), spec.horizon
    obs = np.zeros((n, 2, h, obs_dim), np.float32)
    act = np.zeros((n, 2, h, act_dim), np.float32)
    lengths = np.zeros((n, 2), np.int32)
    returns = np.zeros((n, 2), np.float64)
    rewards = np.zeros((n, 2, h), np.float64) if spec.step_rewards else None
    sources = np.zeros((n, 2), np.int16)
    start_t = np.zeros(n, np.int32)
    start_pol = policies[spec.start_level]
    lo, hi = spec.start_steps
    try:
        for row, (pid, entry) in enumerate(zip(pair_ids, entries)):
            ss = np.random.SeedSequence(spec.seed, spawn_key=(int(pid),))
            s_rng, *seg_rngs = [np.random.default_rng(c) for c in ss.spawn(3)]
            la, lb, _ = spec.mix[int(entry)]
            levels = (la, lb) if s_rng.random() < 0.5 else (lb, la)
            # 1. walk to the start state (retry from a new reset if the walk falls)
            for attempt in range(1000):
                k = int(s_rng.integers(lo, hi + 1))
                o, _ = env.reset(seed=int(s_rng.integers(2**31 - 1)))
                ok = True
                for _ in range(k):
                    o, _, term, _, _ = u.step(start_pol.act(o, s_rng))
                    if term:
                        ok = False
                        break
                if ok:
                    break
            else:
                raise LossforgeError(
                    f"{spec.env_id}: start policy (level {spec.start_level}) never survived "
                    f"{lo}-{hi} steps in 1000 attempts; lower start_steps")
            snap = _snapshot(u, u.data)
            o0 = np.asarray(o, np.float64).copy()
            start_t[row] = k
            # 2. two segments from the same snapshot
            for j in range(2):
                mujoco.mj_copyData(u.data, u.model, snap)
                pol, rng = policies[levels[j]], seg_rngs[j]
                o, total, t = o0, 0.0, 0
                while t < h:
                    a = pol.act(o, rng)
                    obs[row, j, t] = o
                    act[row, j, t] = a
                    o, r, term, _, _ = u.step(a)
                    total += float(r)
                    if rewards is not None:
                        rewards[row, j, t] = r
                    t += 1
                    if term:
                        break
                lengths[row, j] = t
                returns[row, j] = total
                sources[row, j] = levels[j]
            if progress is not None:
                progress()
    finally:
        env.close()
    out = {"obs": obs, "actions": act, "lengths": lengths, "returns": returns,
           "sources": sources, "start_steps": start_t}
    if rewards is not None:
        out["rewards"] = rewards
    return out


def _worker(args):
    spec, policies, ids, entries = args
    return _build_pairs(spec, policies, ids, entries)


def build_segments(spec: SegmentSpec, policies: Sequence[ZooPolicy], workers: int = 1,
                   quiet: bool = True, console=None) -> dict[str, np.ndarray]:
    entries = spec.allocation()
    ids = np.arange(spec.n_pairs)
    parallel = workers > 1 and spec.n_pairs >= 64
    with progress_bar(not quiet and (console or True)) as bar:
        task = bar.add_task(f"rolling out {spec.n_pairs} pairs ({spec.env_id}"
                            + (f", {workers} processes)" if parallel else ")"),
                            total=spec.n_pairs)
        if not parallel:
            return _build_pairs(spec, policies, ids, entries, progress=lambda: bar.advance(task))
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        chunks = np.array_split(ids, workers * 4)
        jobs = [(spec, list(policies), c, entries[c]) for c in chunks if len(c)]
        parts = []
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            for (_, _, chunk, _), part in zip(jobs, ex.map(_worker, jobs)):
                parts.append(part)
                bar.advance(task, len(chunk))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ----------------------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------------------

_ARRAYS = {"obs": np.float32, "actions": np.float32, "lengths": np.int32,
           "returns": np.float64, "sources": np.int16, "start_steps": np.int32}
_REWARDS = {"rewards": np.float64}   # only in caches of specs with step_rewards


def _arrays_of(spec: SegmentSpec) -> dict:
    return {**_ARRAYS, **(_REWARDS if spec.step_rewards else {})}


def segment_key(spec: SegmentSpec, zoo_fp: str, level_names: Sequence[str]) -> dict:
    import gymnasium
    import mujoco

    return {"format": DATASET_FORMAT, "env_id": spec.env_id, **env_key(spec.env_id),
            "horizon": spec.horizon,
            "n_pairs": spec.n_pairs, "mix": [list(m) for m in spec.mix],
            "levels": list(level_names), "start_level": spec.start_level,
            "start_steps": list(spec.start_steps), "seed": spec.seed, "zoo": zoo_fp,
            "mujoco": mujoco.__version__, "gymnasium": gymnasium.__version__,
            # only when set, so every cache key of a v1 scenario is what it was
            **({"step_rewards": True} if spec.step_rewards else {})}


def _cache_paths(cache_dir: Path, digest: str) -> tuple[Path, Path]:
    return cache_dir / f"{digest}.npz", cache_dir / f"{digest}.json"


def _read_cache(npz: Path, js: Path, key: dict, spec: SegmentSpec) -> dict | None:
    """The cached arrays, or None if absent; raises ValueError with a reason if corrupted."""
    if not npz.exists() and not js.exists():
        return None
    if not js.exists() or not npz.exists():
        raise ValueError("one of the .npz/.json pair is missing")
    try:
        side = json.loads(js.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"unreadable JSON sidecar ({e})") from None
    if side.get("key") != key:
        raise ValueError("sidecar key does not match the dataset definition")
    digest = sha256_file(npz)
    if digest != side.get("npz_sha256"):
        raise ValueError(f"npz sha256 {digest[:12]}... differs from the sidecar's")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _arrays_of(spec)}
    except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many types
        raise ValueError(f"unreadable npz ({type(e).__name__}: {e})") from None
    n, h = spec.n_pairs, spec.horizon
    for k, dt in _arrays_of(spec).items():
        a = arrays[k]
        if a.dtype != dt or a.shape[0] != n or (k in ("obs", "actions", "rewards")
                                                and a.shape[2] != h):
            raise ValueError(f"array {k} has dtype {a.dtype} shape {a.shape}")
    return {**arrays, "_build_seconds": float(side.get("build_seconds", float("nan")))}


def _write_cache(npz: Path, js: Path, key: dict, arrays: dict, seconds: float) -> None:
    def write(f):
        np.savez(f, **{k: arrays[k] for k in _ARRAYS}, **{k: arrays[k] for k in _REWARDS
                                                          if k in arrays})

    atomic_write(npz, write)
    atomic_write_json(js, {"key": key, "npz_sha256": sha256_file(npz),
                           "build_seconds": seconds,
                           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------

def _spec_for(scenario: Scenario, zoo: Zoo, seed: int) -> SegmentSpec:
    where = scenario.source or scenario.name
    if zoo.env_id != scenario.env_id:
        raise ConfigError(f"{where}: field 'env_id': scenario is {scenario.env_id} but the zoo "
                          f"given is {zoo.env_id}")

    def idx(name: str, fieldname: str) -> int:
        if name not in zoo.level_names:
            raise ConfigError(f"{where}: field '{fieldname}': no zoo level {name!r} for "
                              f"{zoo.env_id} (levels: {', '.join(zoo.level_names)})")
        return zoo.level_names.index(name)

    mix = tuple((idx(m.level_a, f"pair_mix[{i}][0]"), idx(m.level_b, f"pair_mix[{i}][1]"),
                 float(m.weight)) for i, m in enumerate(scenario.pair_mix))
    return SegmentSpec(env_id=scenario.env_id, horizon=scenario.horizon,
                       n_pairs=scenario.n_pairs, mix=mix,
                       start_level=idx(scenario.start_policy, "start_policy"),
                       start_steps=tuple(scenario.start_steps), seed=int(seed),
                       step_rewards=scenario.step_rewards)


def build_dataset(scenario: Scenario | str, seed: int | None = None, *, zoo: Zoo | None = None,
                  cache: bool = True, cache_dir: str | os.PathLike | None = None,
                  workers: int = 1, quiet: bool = True, console=None,
                  budget: str | None = None) -> PreferenceDataset:
    """The labelled dataset of ``scenario`` (a Scenario, a scenario name or a TOML path) for
    ``seed`` (default: the scenario's ``dataset_seed``); segments come from the cache if a
    valid entry exists, else are rolled out (``workers`` processes) and cached. Unless
    ``quiet``, a roll-out shows its progress on ``console`` (a rich Console; default stderr).
    A "skip" teacher that keeps fewer pairs than ``budget``'s batch (default: the smallest
    budget's) is refused (``check_pairs_kept``)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seed = scenario.dataset_seed if seed is None else int(seed)
    if zoo is None:
        zoo = load_zoo(scenario.env_id)
    spec = _spec_for(scenario, zoo, seed)
    zoo_fp = zoo.fingerprint()
    key = segment_key(spec, zoo_fp, zoo.level_names)
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()[:32]
    cdir = Path(cache_dir) if cache_dir is not None else cache_root() / "datasets"
    npz, js = _cache_paths(cdir, digest)

    arrays, status = None, "built"
    if cache:
        try:
            arrays = _read_cache(npz, js, key, spec)
            status = "cache hit" if arrays is not None else "built"
        except ValueError as e:
            warnings.warn(f"{npz}: corrupted dataset cache ({e}); rebuilding", stacklevel=2)
            status = "rebuilt (corrupted cache)"
    if arrays is None:
        t0 = time.perf_counter()
        arrays = build_segments(spec, zoo.policies, workers=workers, quiet=quiet,
                                console=console)
        seconds = time.perf_counter() - t0
        if cache:
            _write_cache(npz, js, key, arrays, seconds)
        arrays["_build_seconds"] = seconds

    chosen, clean, flipped, label_prob, keep = apply_teacher(
        arrays["returns"], arrays.get("rewards"), scenario.teacher, scenario.bt_temperature,
        scenario.flip_rate, seed, gamma=scenario.teacher_gamma,
        threshold=scenario.teacher_threshold)
    check_pairs_kept(scenario, int(keep.sum()), seed, budget)
    stats = teacher_stats(arrays["returns"][keep], arrays["sources"][keep], chosen[keep],
                          clean[keep], flipped[keep], scenario.bt_temperature, zoo.level_names)
    stats.update(teacher=scenario.teacher, skipped_pairs=int((~keep).sum()),
                 equal_pairs=int((label_prob[keep] < 1).sum()))
    lengths = arrays["lengths"]
    meta = {
        "scenario": scenario.name,
        "scenario_file": scenario.source,
        "seed": seed,
        "env_id": scenario.env_id,
        "horizon": scenario.horizon,
        "length_control": scenario.length_control,
        "bt_temperature": scenario.bt_temperature,
        "flip_rate": scenario.flip_rate,
        "levels": list(zoo.level_names),
        "zoo_fingerprint": zoo_fp,
        "segments_hash": digest,
        "cache": status,
        "cache_file": str(npz) if cache else None,
        "build_seconds": arrays["_build_seconds"],
        "mean_segment_length": float(lengths.mean()),
        "terminated_fraction": float(np.mean(lengths < scenario.horizon)),
        "mean_start_step": float(arrays["start_steps"].mean()),
        "teacher": stats,
    }
    ds = PreferenceDataset(env_id=scenario.env_id, horizon=scenario.horizon,
                           obs=arrays["obs"], actions=arrays["actions"],
                           lengths=arrays["lengths"], returns=arrays["returns"],
                           chosen=chosen, sources=arrays["sources"], meta=meta,
                           label_prob=label_prob if scenario.teacher == "equal" else None,
                           length_control=scenario.length_control,
                           absorbing_logp=scenario.absorbing_logp)
    if not keep.all():
        ds = ds.subset(np.flatnonzero(keep), note=f"teacher skip: {int(keep.sum())} of "
                                                  f"{len(keep)} pairs kept")
    return ds


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lossforge.bench.datasets",
                                description="Build (or load from cache) a scenario's preference "
                                            "dataset and print its teacher statistics.")
    p.add_argument("scenarios", nargs="+", help="scenario names or TOML paths")
    p.add_argument("--seed", type=int, default=None, help="default: the scenario's dataset_seed")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--json", action="store_true", help="print the meta as JSON")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        for name in args.scenarios:
            t0 = time.perf_counter()
            ds = build_dataset(name, args.seed, cache=not args.no_cache, workers=args.workers,
                               quiet=args.quiet)
            wall = time.perf_counter() - t0
            if args.json:
                print(json.dumps(ds.meta, indent=2))
                continue
            t = ds.meta["teacher"]
            print(f"{ds.meta['scenario']}: {len(ds)} pairs, H={ds.horizon}, {ds.meta['cache']} "
                  f"(built in {ds.meta['build_seconds']:.1f} s; this call {wall:.1f} s); "
                  f"labels agree with true order {t['label_true_order_agreement']:.3f} "
                  f"(clean {t['clean_label_true_order_agreement']:.3f}, expected "
                  f"{t['expected_clean_agreement']:.3f}), with better level "
                  f"{t['label_level_agreement']}, flip rate {t['realised_flip_rate']:.3f}, "
                  f"mean length {ds.meta['mean_segment_length']:.1f}, length control "
                  f"{ds.length_control}, teacher {t['teacher']} (skipped {t['skipped_pairs']}, "
                  f"ties {t['equal_pairs']})")
            for m in t["by_mix"]:
                print(f"    {m['levels'][0]:>6s} vs {m['levels'][1]:<6s} {m['pairs']:5d} pairs  "
                      f"returns {m['return_mean'][0]:8.1f} / {m['return_mean'][1]:8.1f}  "
                      f"higher level truly better {m.get('higher_level_truly_better', '-')}")
        return 0
    except LossforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
