import numpy as np
import pytest
import torch
from conftest import mae, mean_fill
from knewimp.harness.methods import preset_params

from knewimp.baselines.remasker import ReMaskerImputer, _build

QUICK = preset_params("remasker/quick")[1]


def test_quick_beats_mean_keeps_observed_and_is_deterministic(synthetic):
    X, Xm, mask = synthetic
    out = ReMaskerImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    assert mae(X, out, mask) < 0.75 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    short = {**QUICK, "n_epochs": 10}  # determinism does not need the full run twice
    once, again = (ReMaskerImputer(**short, random_state=0, device="cpu").fit_transform(Xm) for _ in range(2))
    np.testing.assert_array_equal(once, again)


def test_remasking_shows_only_observed_entries():
    rng = np.random.default_rng(0)
    observed = torch.as_tensor(rng.random((500, 9)) < rng.uniform(0.05, 1.0, (500, 1)))  # from 0 to 9 observed
    imp = ReMaskerImputer(mask_ratio=0.5)
    visible = imp._remask(observed, torch.Generator().manual_seed(0))
    assert not (visible & ~observed).any()
    n_obs, n_vis = observed.sum(1), visible.sum(1)
    expected = torch.where(n_obs > 0, torch.clamp(n_obs - torch.round(0.5 * n_obs), min=1), 0)
    assert torch.equal(n_vis, expected)


def test_encoder_never_sees_a_non_visible_entry():
    model = _build(6, 16, 2, 1, 2, 2.0, torch.Generator().manual_seed(0)).eval()
    rng = np.random.default_rng(1)
    visible = torch.as_tensor(rng.random((50, 6)) < 0.6)
    x = torch.as_tensor(rng.random((50, 6)), dtype=torch.float32)
    other = torch.where(visible, x, torch.as_tensor(rng.normal(0, 100, (50, 6)), dtype=torch.float32))
    other.requires_grad_()
    out = model(other, visible)
    torch.testing.assert_close(out, model(x, visible), rtol=0, atol=0)
    out.sum().backward()
    assert (other.grad[~visible] == 0).all() and (other.grad[visible] != 0).any()
    # a visible value does count
    bumped = x.clone()
    bumped[visible] += 0.5
    assert not torch.allclose(model(bumped, visible), out)


def test_learning_rate_schedule():
    imp = ReMaskerImputer(n_epochs=100, warmup_epochs=10, base_lr=1e-3, batch_size=128, min_lr=1e-5)
    imp.lr_ = 2e-3  # base_lr * batch / 64
    assert imp._lr_at(0.0) == 0.0 and imp._lr_at(5.0) == pytest.approx(1e-3)
    assert imp._lr_at(10.0) == pytest.approx(2e-3) and imp._lr_at(100.0) == pytest.approx(1e-5)
    assert imp._lr_at(55.0) == pytest.approx(1e-5 + (2e-3 - 1e-5) / 2)


def test_seed_changes_result(synthetic):
    _, Xm, mask = synthetic
    kw = dict(n_epochs=1, depth=1, decoder_depth=1, embed_dim=8, num_heads=2, warmup_epochs=0)
    a = ReMaskerImputer(**kw, random_state=0, device="cpu").fit_transform(Xm)
    b = ReMaskerImputer(**kw, random_state=1, device="cpu").fit_transform(Xm)
    assert not np.allclose(a[mask], b[mask])


@pytest.mark.parametrize("kw", [dict(n_epochs=0), dict(batch_size=0), dict(embed_dim=30), dict(num_heads=0),
                                dict(mask_ratio=1.0), dict(base_lr=0), dict(min_lr=1.0), dict(warmup_epochs=-1),
                                dict(weight_decay=-0.1), dict(depth=0)])
def test_bad_arguments_refused_at_fit(synthetic, kw):
    _, Xm, _ = synthetic
    imp = ReMaskerImputer(**kw)
    assert all(getattr(imp, k) == v for k, v in kw.items())
    with pytest.raises(ValueError, match=next(iter(kw))):
        imp.fit_transform(Xm)


def test_the_original_count_rule_keeps_a_fixed_number_of_observed_tokens_visible():
    rng = np.random.default_rng(0)
    observed = torch.as_tensor(rng.random((500, 9)) < rng.uniform(0.05, 1.0, (500, 1)))
    imp = ReMaskerImputer(mask_ratio=0.5, remask_rule="count")
    visible = imp._remask(observed, torch.Generator().manual_seed(0))
    assert not (visible & ~observed).any()
    assert torch.equal(visible.sum(1), torch.clamp(observed.sum(1), max=4))  # floor(9 * 0.5) = 4
    with pytest.raises(ValueError, match="remask_rule must be one of ratio, count"):
        ReMaskerImputer(remask_rule="all")._validate_params()


def test_a_row_predicts_the_same_alone_and_padded_in_a_batch():
    # the encoder gathers each row's visible tokens and pads the batch to its largest count:
    # padding must not reach a row's predictions
    model = _build(7, 16, 2, 1, 2, 2.0, torch.Generator().manual_seed(0)).eval()
    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.random((40, 7)), dtype=torch.float32)
    visible = torch.as_tensor(rng.random((40, 7)) < rng.uniform(0.1, 0.9, (40, 1)))
    visible[0] = True  # the batch's largest count is all seven
    visible[1] = False  # CLS alone
    with torch.no_grad():
        batch = model(x, visible)
        alone = torch.cat([model(x[i:i + 1], visible[i:i + 1]) for i in range(40)])
    assert len({int(v) for v in visible.sum(1)}) > 3
    torch.testing.assert_close(batch, alone, rtol=0, atol=1e-6)


def test_flat_adamw_steps_as_multi_tensor_adamw_bit_for_bit():
    from knewimp.baselines.remasker import _FlatAdamW
    from knewimp.baselines.steps import MultiTensorAdam

    models = [_build(7, 16, 2, 1, 2, 2.0, torch.Generator().manual_seed(0)) for _ in range(2)]
    opts = (MultiTensorAdam(models[0].parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01, decoupled=True),
            _FlatAdamW(models[1].parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01))
    gen = torch.Generator().manual_seed(3)
    for it in range(5):
        x, visible = torch.rand(33, 7, generator=gen), torch.rand(33, 7, generator=gen) < 0.5
        for model, opt in zip(models, opts):
            opt.lr = 1e-3 * (it + 1) / 5
            loss = ((model(x, visible) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(next(models[1].parameters()), next(_build(7, 16, 2, 1, 2, 2.0, torch.Generator().manual_seed(0)).parameters()))
