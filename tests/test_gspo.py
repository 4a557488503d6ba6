"""GSPO (arXiv:2507.18071, `importance_sampling_level="sequence"`): the sequence-level loss against a plain loop
(values, gradients, metrics), its reduction to GRPO on-policy, the pinned preset, config validation, and a CPU
training run with `algo=gspo` that passes the sequence level and clip range to the loss and changes parameters.
TRL parity of the same loss is in tests/test_trl_parity.py."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import compose_run
from tests.test_grpo_math import D, make_inputs
from tests.test_grpo_module import FAST, Capture, fit
from vrft.errors import ConfigError
from vrft.grpo import policy_loss
from vrft.grpo.loss import log_importance_weights


def loop_gspo_loss(lp, old, ref, adv, mask, beta, el, eh, loss_type):
    """Sequence by sequence with 0-d tensors: s_i = exp(mean of the masked log-ratios), one clip per sequence."""
    n, t = lp.shape
    seq_sums, seq_counts, kls, clips, ratios = [], [], [], [], []
    for i in range(n):
        tokens = [j for j in range(t) if mask[i, j] != 0]
        log_s = lp.new_zeros(())
        for j in tokens:
            log_s = log_s + (lp[i, j] - old[i, j])
        s = torch.exp(log_s / max(len(tokens), 1))
        bounded = min(max(s, torch.tensor(1 - el, dtype=D)), torch.tensor(1 + eh, dtype=D))
        objective = min(s * adv[i], bounded * adv[i])
        clips.append(float((s < 1 - el and adv[i] < 0) or (s > 1 + eh and adv[i] > 0)))
        ratios.append(s.item())
        total = lp.new_zeros(())
        for j in tokens:
            token = -objective
            if beta != 0:
                d = ref[i, j] - lp[i, j]
                k3 = torch.exp(d) - d - 1
                kls.append(k3.item())
                token = token + beta * k3
            total = total + token
        seq_sums.append(total)
        seq_counts.append(len(tokens))
    if loss_type == "grpo":
        loss = sum(s / max(c, 1) for s, c in zip(seq_sums, seq_counts, strict=True)) / n
    else:  # dapo: token-level
        loss = sum(seq_sums) / max(sum(seq_counts), 1)
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return loss, {"kl": mean(kls), "clip_fraction": mean(clips), "ratio_mean": mean(ratios)}


@pytest.mark.parametrize(
    ("loss_type", "beta", "eps", "drift"),
    [
        ("grpo", 0.0, (3e-4, 4e-4), 0.05),  # the preset: nearly every sequence outside the narrow range
        ("grpo", 0.04, (0.2, 0.2), 0.5),  # wide range, large drift: some sequences clipped, some not
        ("grpo", 0.04, (0.2, 0.28), 0.02),  # small drift: no sequence clipped
        ("dapo", 0.04, (0.2, 0.2), 0.5),
    ],
)
def test_gspo_loss_matches_loop(loss_type, beta, eps, drift):
    lp, old, ref, adv, mask = make_inputs(seed=21, n=8, t=6, drift=drift)
    el, eh = eps
    got, metrics = policy_loss(
        lp, old, ref if beta else None, adv, mask, beta=beta, epsilon_low=el, epsilon_high=eh,
        loss_type=loss_type, importance_sampling_level="sequence", return_metrics=True,
    )  # fmt: skip
    want, want_metrics = loop_gspo_loss(lp, old, ref, adv, mask, beta, el, eh, loss_type)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    (g_got,) = torch.autograd.grad(got, lp)
    (g_want,) = torch.autograd.grad(want, lp)
    torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)
    assert metrics == pytest.approx(want_metrics, rel=1e-9, abs=1e-12)
    assert (metrics["clip_fraction"] > 0) == (drift > 0.03)  # each case exercises what it claims
    assert torch.all(g_got[0] == 0)  # the empty sequence gets no gradient and causes no NaN
    assert torch.all(g_got[mask == 0] == 0) or beta != 0  # padding never carries the policy gradient


def test_gspo_differs_from_token_level_off_policy():
    lp, old, ref, adv, mask = make_inputs(seed=22, drift=0.5)
    seq = policy_loss(lp, old, ref, adv, mask, beta=0.04, importance_sampling_level="sequence")
    tok = policy_loss(lp, old, ref, adv, mask, beta=0.04, importance_sampling_level="token")
    assert abs(seq.item() - tok.item()) > 1e-3


def test_gspo_on_policy_equals_grpo():
    """With old = logps.detach() every ratio is 1: the loss and its gradient are GRPO's."""
    lp, _, ref, adv, mask = make_inputs(seed=23)
    kw = {"beta": 0.04, "epsilon_low": 3e-4, "epsilon_high": 4e-4}
    seq, m_seq = policy_loss(
        lp, None, ref, adv, mask, importance_sampling_level="sequence", return_metrics=True, **kw
    )
    tok = policy_loss(lp, None, ref, adv, mask, importance_sampling_level="token", **kw)
    torch.testing.assert_close(seq, tok, rtol=1e-12, atol=1e-12)
    g_seq = torch.autograd.grad(seq, lp, retain_graph=True)[0]
    torch.testing.assert_close(g_seq, torch.autograd.grad(tok, lp)[0], rtol=1e-12, atol=1e-12)
    assert m_seq["ratio_mean"] == 1.0 and m_seq["clip_fraction"] == 0.0


def test_sequence_weight_is_geometric_mean_of_token_ratios():
    lp, old, _, _, mask = make_inputs(seed=24)
    w = log_importance_weights(lp, old, mask, "sequence")
    assert w.shape == (lp.shape[0], 1)
    for i in range(lp.shape[0]):
        r = torch.exp(lp[i] - old[i])[mask[i] == 1]
        want = r.prod() ** (1 / len(r)) if len(r) else torch.tensor(1.0, dtype=D)
        torch.testing.assert_close(torch.exp(w[i, 0]), want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(log_importance_weights(lp, old, mask, "token"), lp - old)
    with pytest.raises(ValueError, match="importance_sampling_level='seq' is invalid: must be one of token"):
        policy_loss(
            lp, old, None, torch.zeros(lp.shape[0], dtype=D), mask, beta=0.0, importance_sampling_level="seq"
        )


def test_gspo_preset_pins_the_paper_settings(tmp_path, cache_dir):
    a = compose_run(["algo=gspo"], tmp_path, cache_dir).algo
    assert (a.name, a.importance_sampling_level, a.loss_type) == ("gspo", "sequence", "grpo")
    assert (a.epsilon_low, a.epsilon_high, a.beta, a.num_iterations) == (3e-4, 4e-4, 0.0, 4)
    assert compose_run(["algo=grpo"], tmp_path, cache_dir).algo.importance_sampling_level == "token"


def test_bad_importance_sampling_level_is_one_line(tmp_path, cache_dir):
    with pytest.raises(ConfigError) as err:
        compose_run(["algo=gspo", "algo.importance_sampling_level=sentence"], tmp_path, cache_dir)
    msg = str(err.value)
    assert "algo.importance_sampling_level='sentence'" in msg and "token, sequence" in msg
    assert "\n" not in msg


def test_gspo_trains(tmp_path, cache_dir, monkeypatch):
    """One rollout batch of algo=gspo, mu = 4 optimizer steps on it (trainer.max_steps counts optimizer steps):
    every loss call is sequence-level with the preset's clip range, the ratio is 1 on the first update and off-policy
    after, parameters change, no reference is loaded."""
    import vrft.grpo.module as grpo_module

    calls = []

    def spy(*args, **kwargs):
        out = policy_loss(*args, **kwargs)
        calls.append({**kwargs, "ratio_mean": out[1]["ratio_mean"]})
        return out

    monkeypatch.setattr(grpo_module, "policy_loss", spy)
    cfg = compose_run([*FAST, "algo=gspo", "trainer.max_steps=4"], tmp_path, cache_dir)
    module, trainer, changed, _ = fit(cfg, Capture())
    assert changed, "no trainable parameter changed"
    assert trainer.global_step == 4 and module.reference is None
    micro = cfg.algo.grad_accum
    assert len(calls) == 4 * micro
    assert all(c["importance_sampling_level"] == "sequence" for c in calls)
    assert all((c["epsilon_low"], c["epsilon_high"], c["beta"]) == (3e-4, 4e-4, 0.0) for c in calls)
    first = [c["ratio_mean"] for k, c in enumerate(calls) if (k // micro) % 4 == 0]
    later = [c["ratio_mean"] for k, c in enumerate(calls) if (k // micro) % 4 != 0]
    assert first == pytest.approx([1.0] * len(first), abs=1e-6)  # old log-probs = the policy before updating
    assert any(abs(r - 1.0) > 1e-6 for r in later)  # the updated policy sees a sequence ratio != 1
