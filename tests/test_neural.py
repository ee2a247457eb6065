"""The neural mirror-map family: valid by construction, DPO exactly at init, plain JSON."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from lossforge.errors import CheckError, ConfigError, FormulaError
from lossforge.objectives import get
from lossforge.objectives.neural import NeuralMap, NeuralObjective, NeuralSpec, from_spec, n_params



def _random_map(rng: np.random.Generator, hidden: int, scale: float) -> NeuralMap:
    return NeuralMap(tuple(rng.normal(0.0, scale, n_params(hidden))), hidden, (-1500.0, 0.0))


@pytest.mark.parametrize("scale", [0.5, 2.0, 6.0])
def test_phi_inverse_strictly_increasing_for_random_parameters(scale):
    """phi^-1(p) = phi~(log p) strictly increases on (0, 1) whatever the parameters: checked
    on values (finite differences) and on torch's autograd derivative, against exp(a)."""
    rng = np.random.default_rng(int(scale * 10))
    l_grid = np.unique(np.concatenate([np.linspace(-1500.0, -1.0, 4000), -np.logspace(0, -4, 200)]))
    for _ in range(25):
        m = _random_map(rng, int(rng.integers(1, 7)), scale)
        p = np.exp(l_grid[l_grid > -700])          # p representable in float64
        for vals in (m.phi_inv(p), m.phi_tilde_np(l_grid)):
            assert np.all(np.isfinite(vals)) and np.all(np.diff(vals) > 0)
        lt = torch.tensor(l_grid, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(m.phi_tilde(lt).sum(), lt)
        assert bool((grad >= np.exp(m.params[0]) * (1 - 1e-12)).all())
        np.testing.assert_allclose(grad.numpy(), m.phi_tilde_prime(l_grid), rtol=1e-9)
        report = m.check()
        assert report.valid and report.convex.status == "proved"


def test_check_fails_with_a_witness_when_the_slope_floor_underflows():
    m = NeuralMap((-800.0,) + (0.0,) * 12, 4)   # exp(-800) == 0.0 in float64: phi~ is flat
    report = m.check()
    assert report.convex.status == "failed" and not report.valid
    with pytest.raises(CheckError, match="not valid"):
        NeuralObjective(NeuralSpec(params=m.params))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.1, 0.7])
def test_at_init_equals_the_zoo_dpo_to_the_last_bit(dtype, beta):
    g = torch.Generator().manual_seed(1)
    pc = (-1400 * torch.rand(256, generator=g, dtype=torch.float64)).to(dtype)
    pr = (-1400 * torch.rand(256, generator=g, dtype=torch.float64)).to(dtype)
    rc = pc + torch.randn(256, generator=g, dtype=torch.float64).to(dtype) * 5
    rr = pr + torch.randn(256, generator=g, dtype=torch.float64).to(dtype) * 5
    neural = NeuralObjective(NeuralSpec(name="n", beta=beta))
    dpo = get("dpo", beta=beta)
    outs = []
    for obj in (neural, dpo):
        a, b = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
        loss = obj(a, b, rc, rr)
        outs.append((loss.detach(), *torch.autograd.grad(loss.sum(), (a, b))))
    for x, y in zip(*outs):
        assert torch.equal(x, y)
    assert (neural.name, neural.aggregation, neural.needs_reference, neural.temporal) == \
        ("n", dpo.aggregation, dpo.needs_reference, dpo.temporal)


def test_at_init_scores_exactly_like_dpo_on_the_benchmark():
    """Through the real harness (quick scenario): the same training, the same score."""
    from lossforge.bench.fitness import evaluate

    neural = NeuralObjective(NeuralSpec(name="neural-init", beta=0.1))
    res_n, res_d = evaluate([neural, get("dpo", beta=0.1)], "quick", "quick", workers=1)
    assert res_n.status == res_d.status == "ok"
    assert res_n.per_seed == res_d.per_seed and res_n.curve == res_d.curve


def test_json_round_trip_and_pickle_give_the_same_loss():
    rng = np.random.default_rng(7)
    m = _random_map(rng, 3, 1.0)
    spec = NeuralSpec(name="x", params=m.params, hidden=3, beta=0.3)
    text = json.dumps(spec.to_json())
    assert "params" in json.loads(text) and json.loads(text)["kind"] == "neural"
    again = from_spec(json.loads(text))
    pickled = pickle.loads(pickle.dumps(NeuralObjective(spec)))
    l = -torch.rand(4, 64, dtype=torch.float64) * 1400
    want = NeuralObjective(spec)(*l)
    assert torch.equal(again(*l), want) and torch.equal(pickled(*l), want)
    assert again.spec == spec and NeuralSpec.from_json(again.spec.to_json()) == spec
    # a symbolic spec still builds a symbolic objective
    assert type(from_spec(get("dpo").spec.to_json())).__name__ == "Objective"


@pytest.mark.parametrize("bad, match", [
    ({"params": "1,2,3"}, "list of numbers"),
    ({"params": [0.0] * 5}, "need 13 parameters"),
    ({"params": [float("nan")] + [0.0] * 12}, "finite"),
    ({"l_range": [0.0, -10.0]}, "l_range"),
    ({"hidden": 0}, "positive integer"),
    ({"weights": [1]}, "unknown fields"),
    ({"imitation": 3}, "imitation must be a formula string"),
])
def test_malformed_neural_specs_get_clear_errors(bad, match):
    d = {**NeuralSpec().to_json(), **bad}
    with pytest.raises(ConfigError, match=match):
        from_spec(d)


def test_old_neural_spec_without_imitation_round_trips_and_trains_as_before():
    """A neural spec written before the imitation field (an ES winner of the mixed-quality
    study) reads and writes back unchanged (no ``imitation`` key appears) and its loss is still
    DPO's link on the network's rewards, nothing added; with an imitation term (ES with the
    imitation slot) the term is added as its formula says and JSON keeps it."""
    from pathlib import Path

    import torch.nn.functional as F

    path = Path(__file__).resolve().parents[1] / "benchmarks/results/winners/es-mq-net.json"
    old = json.loads(path.read_text())["spec"]
    assert "imitation" not in old
    spec = NeuralSpec.from_json(old)
    assert spec.imitation is None and spec.to_json() == old
    assert json.dumps(spec.to_json()) == json.dumps(old)  # same keys in the same order
    obj = from_spec(old)
    assert obj.imitation_expr is None and not obj.needs_lengths and "+" not in \
        obj.formula().split("L = ")[1]
    g = torch.Generator().manual_seed(3)
    pc, pr, rc, rr = -torch.rand(4, 128, generator=g, dtype=torch.float64) * 1400
    phi = spec.map.phi_tilde
    by_hand = -F.logsigmoid(spec.beta * ((phi(pc) - phi(rc)) - (phi(pr) - phi(rr))))
    assert torch.equal(obj(pc, pr, rc, rr), by_hand)
    with_psi = NeuralSpec.from_json({**old, "imitation": "-0.07*l"})
    assert NeuralSpec.from_json(with_psi.to_json()) == with_psi
    assert with_psi.to_json()["imitation"] == "-0.07*l"
    with pytest.raises(FormulaError, match="imitation: .*unknown name 'q'"):
        from_spec({**old, "imitation": "-l*q"})
    torch.testing.assert_close(from_spec(with_psi.to_json())(pc, pr, rc, rr),
                               by_hand - 0.07 * pc, rtol=1e-14, atol=1e-12)


def test_the_json_type_tables_list_exactly_each_specs_fields():
    """export checks a spec file's fields against these tables, and NeuralSpec.from_json
    refuses a field not in its table: a field added to a spec and not to its table would be
    refused in every file that has it."""
    import dataclasses

    from lossforge.objectives import MPOSpec, NeuralSpec
    from lossforge.objectives.mpo import SPEC_JSON_TYPES
    from lossforge.objectives.neural import NEURAL_JSON_TYPES

    for cls, table in ((MPOSpec, SPEC_JSON_TYPES), (NeuralSpec, NEURAL_JSON_TYPES)):
        assert set(table) == {f.name for f in dataclasses.fields(cls)}, cls.__name__
    full = NeuralSpec(imitation="0.1*l", description="d")
    assert set(full.to_json()) == set(NEURAL_JSON_TYPES)
    assert NeuralSpec.from_json(full.to_json()) == full
