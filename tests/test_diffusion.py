"""CSDI-T and MissDiff: accuracy on the synthetic fixture, the masked losses, determinism, configs."""
import numpy as np
import pytest
import torch

from knewimp.baselines.diffusion import CSDITImputer, MissDiffImputer
from knewimp.baselines.diffusion.csdi_t import choose_targets, csdi_t_loss
from knewimp.baselines.diffusion.missdiff import missdiff_loss
from knewimp.baselines.diffusion.network import DiffusionNet, encoder_layer_eval, encoder_layer_train
from knewimp.baselines.diffusion.schedule import make_schedule
from knewimp.baselines.diffusion.train import masked_eps_loss, milestone_epochs
from conftest import low_rank_matrix, mae, mcar
from knewimp.harness.methods import preset_params

METHODS = {"csdi_t": CSDITImputer, "missdiff": MissDiffImputer}


def preset(method, name):
    return preset_params(f"{method}/{name}")[1]


@pytest.fixture(scope="module", params=sorted(METHODS))
def fitted(request):
    X = low_rank_matrix()
    Xm, mask = mcar(X)
    out = METHODS[request.param](**preset(request.param, "quick"), random_state=0, device="cpu").fit_transform(Xm)
    return request.param, X, Xm, mask, out


def test_beats_column_mean(fitted):
    name, X, Xm, mask, out = fitted
    mean_fill = np.where(mask, np.nanmean(Xm, axis=0), Xm)
    assert mae(X, out, mask) <= 0.9 * mae(X, mean_fill, mask), name


def test_observed_entries_unchanged(fitted):
    _, _, Xm, mask, out = fitted
    assert np.array_equal(out[~mask], Xm[~mask])
    assert np.isfinite(out).all()


TINY = dict(n_layers=1, channels=8, step_emb_dim=8, pos_emb_dim=4, feat_emb_dim=4, n_steps=4, epochs=2,
            batch_size=16, n_samples=3, device="cpu")


@pytest.mark.parametrize("cls", [CSDITImputer, MissDiffImputer])
def test_deterministic_for_a_seed(cls):
    Xm, mask = mcar(low_rank_matrix(n=40, d=5), seed=3)
    a = cls(**TINY, random_state=7).fit_transform(Xm)
    b = cls(**TINY, random_state=7).fit_transform(Xm)
    c = cls(**TINY, random_state=8).fit_transform(Xm)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[mask], c[mask])


def _net(d, in_channels, mask_channel):
    net = DiffusionNet(d, 10, in_channels=in_channels, mask_channel=mask_channel, channels=8, n_layers=2,
                       step_emb_dim=8, pos_emb_dim=4, feat_emb_dim=4, dropout=0.0)
    net.reset_parameters(torch.Generator().manual_seed(0))
    # out2 is zero-initialised (eps_hat = bias); give it weights so inputs reach the loss
    torch.nn.init.normal_(net.out2.weight, generator=torch.Generator().manual_seed(1))
    return net


def _batch(seed=0, B=6, d=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, d, generator=g)
    observed = torch.rand(B, d, generator=g) > 0.3
    observed[:, 0] = True
    t = torch.randint(0, 10, (B,), generator=g)
    noise = torch.randn(B, d, generator=g)
    return x, observed, t, noise


def test_masked_eps_loss_counts_only_covered_entries():
    eps, covered = torch.randn(4, 3), torch.rand(4, 3) > 0.5
    pred = torch.randn(4, 3)
    base = masked_eps_loss(eps, pred, covered)
    assert torch.allclose(base, ((eps - pred)[covered] ** 2).mean())
    assert masked_eps_loss(eps, torch.where(covered, pred, pred + 100.0), covered) == base
    assert masked_eps_loss(eps, torch.where(covered, pred + 1.0, pred), covered) != base


def test_missdiff_loss_ignores_missing_entries():
    net, sch = _net(5, 1, False), make_schedule(10)
    x, observed, t, noise = _batch()
    base = missdiff_loss(net, x, observed, t, noise, sch)
    for fill in (1e3, float("nan")):
        assert missdiff_loss(net, torch.where(observed, x, fill), observed, t, noise, sch) == base
    changed = x.clone()
    changed[observed] += 1.0
    assert missdiff_loss(net, changed, observed, t, noise, sch) != base


def test_csdi_t_loss_ignores_non_target_entries():
    net, sch = _net(5, 2, True), make_schedule(10)
    x, observed, t, noise = _batch()
    target = choose_targets(observed, "fixed", 0.6, torch.Generator().manual_seed(2))
    cond = observed & ~target
    assert cond.any() and target.any()
    base = csdi_t_loss(net, x, observed, target, t, noise, sch)
    # missing entries: their values never enter; condition entries: their noise never enters
    assert csdi_t_loss(net, torch.where(observed, x, float("nan")), observed, target, t, noise, sch) == base
    assert csdi_t_loss(net, x, observed, target, t, torch.where(cond, noise + 5.0, noise), sch) == base
    assert csdi_t_loss(net, torch.where(target, x + 1.0, x), observed, target, t, noise, sch) != base


def test_fixed_targets_hide_80_percent_of_observed():
    observed = torch.rand(200, 10, generator=torch.Generator().manual_seed(0)) > 0.3
    target = choose_targets(observed, "fixed", 0.8, torch.Generator().manual_seed(1))
    assert not (target & ~observed).any()
    assert torch.equal(target.sum(1), torch.round(observed.sum(1) * 0.8).long())
    rand = choose_targets(observed, "random", 0.8, torch.Generator().manual_seed(1))
    assert not (rand & ~observed).any() and len(set(rand.sum(1).tolist())) > 3


def test_transformer_paths_match_torch_layer():
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, activation="gelu", batch_first=True).eval()
    x = torch.randn(5, 7, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = layer(x)
    assert torch.allclose(encoder_layer_train(layer, x, 0.0, None), ref, atol=1e-5)
    assert torch.allclose(encoder_layer_eval(layer, x), ref, atol=1e-5)
    dropped = encoder_layer_train(layer, x, 0.3, torch.Generator().manual_seed(1))
    again = encoder_layer_train(layer, x, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(dropped, again) and not torch.allclose(dropped, ref, atol=1e-3)


def test_schedule_and_milestones():
    assert make_schedule(150).alpha_bars[-1] < 1e-6  # published: sampling from N(0, I) is consistent
    assert 0.25 < float(make_schedule(5).alpha_bars[-1]) < 0.35  # the KnewImp group's T = 5
    assert milestone_epochs(500, [0.25, 0.5, 0.75, 0.9]) == [125, 250, 375, 450]
    with pytest.raises(ValueError, match="cosine"):
        make_schedule(10, kind="cosine")


def test_bad_arguments_are_refused_at_fit():
    Xm = mcar(low_rank_matrix(n=20, d=3))[0]
    with pytest.raises(ValueError, match="target_strategy"):
        CSDITImputer(target_strategy="half").fit(Xm)
    with pytest.raises(ValueError, match="schedule"):
        MissDiffImputer(schedule="cosine").fit(Xm)
    with pytest.raises(ValueError, match="n_steps"):
        MissDiffImputer(n_steps=0).fit(Xm)


def test_diverged_reverse_chain_is_an_error_not_a_number():
    # lr ~ 0 keeps the zero-initialised head: eps_hat = 0, so each reverse step multiplies the
    # sample by 1 / sqrt(alpha_t), in total 1 / sqrt(abar_T) ~ 1e7 with 150 steps up to beta 0.5
    from knewimp.base import ImputationError

    Xm, _ = mcar(low_rank_matrix(n=30, d=4), seed=1)
    params = {**TINY, "n_steps": 150, "epochs": 1, "lr": 1e-12, "n_samples": 2}
    with pytest.raises(ImputationError, match="imputations out of range"):
        CSDITImputer(**params, random_state=0).fit_transform(Xm)


def test_shared_feature_embedding_is_one_vector_and_the_default_one_per_feature():
    per, shared = (DiffusionNet(5, 10, shared_feature_embedding=s) for s in (False, True))
    assert per.feat_embed.weight.shape == (5, 16) and shared.feat_embed.weight.shape == (1, 16)
    side = shared.side_constant()
    assert side.shape == (5, 48) and torch.equal(side[:, 32:], side[:1, 32:].expand(5, -1))
    Xm, mask = mcar(low_rank_matrix(n=60, d=4))
    quick = {**preset("csdi_t", "quick"), "epochs": 2}
    out = CSDITImputer(**quick, feature_embedding="shared", random_state=0, device="cpu").fit_transform(Xm)
    assert np.isfinite(out).all() and np.array_equal(out[~mask], Xm[~mask])
    with pytest.raises(ValueError, match="feature_embedding 'none'; valid choices: per_feature, shared"):
        CSDITImputer(feature_embedding="none").fit(Xm)


@pytest.mark.parametrize("mask_channel,n_layers", [(True, 2), (False, 1)])
def test_eps_at_wanted_entries_equals_the_full_forward(mask_channel, n_layers):
    g = torch.Generator().manual_seed(0)
    net = DiffusionNet(6, 5, in_channels=2 if mask_channel else 1, mask_channel=mask_channel, channels=8,
                       n_layers=n_layers, n_heads=2, ff_dim=16, step_emb_dim=8, pos_emb_dim=4, feat_emb_dim=4)
    net.reset_parameters(g)
    torch.nn.init.normal_(net.out2.weight, generator=g)  # zero-initialised head: make eps non-zero
    net.eval()
    u = torch.randn(40, 6, 2 if mask_channel else 1, generator=g)
    mask = (torch.rand(40, 6, generator=g) > 0.5).float() if mask_channel else None
    wanted = torch.rand(40, 6, generator=g) > 0.6
    t = torch.tensor([3])
    with torch.inference_mode():
        full, part = net(u, t, mask), net(u, t, mask, wanted=wanted)
    assert torch.allclose(part[wanted], full[wanted], atol=1e-6, rtol=1e-5)
    assert (part[~wanted] == 0).all() and full[~wanted].abs().min() > 0
    with pytest.raises(ValueError, match="eval mode"):
        net.train()(u, t, mask, wanted=wanted)
