"""The searcher's options: the GP kernels' NumPy evaluation, the greedy qLogEI step, the trust region."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("botorch")

from gpunet_hub.errors import InputError
from gpunet_search.search.bo import AUTO_KERNELS, GPSurrogate, fit_surrogate
from gpunet_search.search.grid import LevelGrid
from gpunet_search.search.kernels import NumpyKernel, build_covar_module
from gpunet_search.search.searcher import LamctsBoSearcher, SearcherConfig


def _fitted(kernel: str, n: int = 40, seed: int = 0) -> tuple[GPSurrogate, LevelGrid, np.random.Generator]:
    grid = LevelGrid("table1")
    rng = np.random.default_rng(seed)
    x = grid.normalise(grid.random(n, rng))
    y = -((x - 0.3) ** 2).sum(1) + 0.2 * np.sin(9 * x[:, 0])
    return GPSurrogate(x, y, kernel=kernel, max_iter=15, n_levels=grid.n_levels), grid, rng


@pytest.mark.parametrize("kernel", ["matern", "matern+additive"])
def test_numpy_kernel_and_prior_variance_equal_the_fitted_module_on_grid_points(kernel: str) -> None:
    import torch

    gp, grid, rng = _fitted(kernel)
    a = grid.normalise(grid.random(9, rng))
    b = grid.normalise(grid.random(5, rng))
    with torch.no_grad():
        covar = gp._model.covar_module
        ref = covar(torch.as_tensor(a), torch.as_tensor(b)).to_dense().numpy()
        ref_diag = covar(torch.as_tensor(a), diag=True).numpy()
    assert np.allclose(gp.kernel(a, b), ref, atol=1e-10)
    assert np.allclose(gp.prior_var(a), ref_diag, atol=1e-10)


def test_grid_additive_kernel_equals_botorchs_orthogonal_additive_kernel_on_grid_points() -> None:
    import torch
    from botorch.models.kernels.orthogonal_additive_kernel import OrthogonalAdditiveKernel
    from gpytorch.kernels import MaternKernel

    grid = LevelGrid("table1")
    d = grid.n_digits
    ours = build_covar_module("matern+additive", d, grid.n_levels).kernels[1]
    components = MaternKernel(nu=2.5, batch_shape=torch.Size([d])).to(torch.float64)
    reference = OrthogonalAdditiveKernel(d, base_kernel=components, dtype=torch.float64)
    rng = np.random.default_rng(3)
    with torch.no_grad():
        for kernel in (ours, reference):
            kernel.base_kernel.lengthscale = torch.as_tensor(rng.uniform(0.2, 2.0, (d, 1, 1)))
            kernel.coeffs_1 = torch.as_tensor(rng.uniform(0.1, 1.0, d))
            rng = np.random.default_rng(3)  # the same draws for both
        a = torch.as_tensor(grid.normalise(grid.random(7, rng)))
        b = torch.as_tensor(grid.normalise(grid.random(5, rng)))
        assert torch.allclose(ours.forward(a, b), reference.forward(a, b), atol=1e-12)
        assert torch.allclose(ours.forward(a, a, diag=True), reference.forward(a, a, diag=True), atol=1e-12)


def test_additive_kernel_gives_an_additive_function_its_variance() -> None:
    grid = LevelGrid("table1")
    rng = np.random.default_rng(1)
    x = grid.normalise(grid.random(60, rng))
    gp = GPSurrogate(x, -((x - 0.3) ** 2).sum(1), kernel="matern+additive", max_iter=30, n_levels=grid.n_levels)
    full, additive = gp._model.covar_module.kernels
    # A sum of per-digit terms: the fit moves the variance from the full kernel to the additive one.
    assert float(full.outputscale.detach()) < float(additive.coeffs_1.detach().sum())


def test_loo_log_density_equals_refitting_the_posterior_without_each_point() -> None:
    gp, _, _ = _fitted("matern", n=25)
    x, y = gp._x.numpy(), gp._y.numpy()
    densities = []
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        post = gp.posterior()
        post = type(post)(gp, x[rest], y[rest])
        mean, var = post.mean_var(x[i : i + 1])
        var = var + gp._noise  # the left-out observation carries the noise too
        densities.append(-0.5 * np.log(2 * np.pi * var[0]) - 0.5 * (y[i] - mean[0]) ** 2 / var[0])
    assert gp.loo_log_density() == pytest.approx(float(np.mean(densities)), rel=1e-8)


def test_auto_kernel_keeps_the_better_predictor_and_every_warm_start() -> None:
    grid = LevelGrid("table1")
    rng = np.random.default_rng(2)
    x = grid.normalise(grid.random(60, rng))
    coupled = 8 * (x[:, 0] - 0.5) * (x[:, 1] - 0.5)  # a pure interaction: no additive part at all
    additive = -((x - 0.3) ** 2).sum(1) - 0.5 * np.abs(x[:, 5] - 0.5)
    for y in (additive, coupled):
        fits = {k: GPSurrogate(x, y, kernel=k, max_iter=20, n_levels=grid.n_levels,
                               rng=np.random.default_rng(0)) for k in AUTO_KERNELS}  # fmt: skip
        best = max(fits, key=lambda k: fits[k].loo_log_density())
        _, kernel, hyper = fit_surrogate(x, y, kernel="auto", max_iter=20, n_levels=grid.n_levels,
                                          rng=np.random.default_rng(0))  # fmt: skip
        assert kernel == best
        assert {key.split("/")[0] for key in hyper} == set(AUTO_KERNELS)
        # The next fit starts from each kernel's own previous hyper-parameters (the first kernel is
        # fitted first, with the same random state as a fit of it alone).
        first = AUTO_KERNELS[0]
        own = {key.split("/", 1)[1]: value for key, value in hyper.items() if key.startswith(first + "/")}
        again = fit_surrogate(x, y, kernel="auto", max_iter=3, n_levels=grid.n_levels, init=hyper,
                              rng=np.random.default_rng(0))[2]  # fmt: skip
        alone = GPSurrogate(x, y, kernel=first, max_iter=3, n_levels=grid.n_levels, init=own,
                            rng=np.random.default_rng(0)).hyper_state()  # fmt: skip
        assert again.keys() == hyper.keys()
        assert all(np.allclose(again[f"{first}/{key}"], value) for key, value in alone.items())
    assert fit_surrogate(x, additive, kernel="auto", max_iter=20, n_levels=grid.n_levels)[1] == "matern+additive"
    assert fit_surrogate(x, coupled, kernel="auto", max_iter=20, n_levels=grid.n_levels)[1] == "matern"


@pytest.mark.parametrize("warm", [False, True])
def test_gp_fit_starts_from_the_previous_hyper_parameters_only_with_a_warm_start(warm: bool) -> None:
    from dataclasses import replace

    from gpunet_search.search._proposal import propose

    config = SearcherConfig(n_init=8, pool_size=256, max_pool_candidates=128, n_random_candidates=64,
                            batch_candidates=64, climb_steps=2, gp_max_iter=3, gp_warm_start=warm)  # fmt: skip
    searcher = LamctsBoSearcher("table1", mode="min", seed=0, config=config)
    first = searcher.ask(12)
    searcher.tell(first, [float(sum(v)) for v in first])
    state = searcher.search_state()

    def proposal_from(hyper):
        return propose(replace(state, gp_hyper=hyper), 2, np.random.default_rng(0), lambda rows: np.ones(len(rows), bool))

    fresh = proposal_from(None)
    again = proposal_from({key: [v + 3.0 for v in value] for key, value in fresh.gp_hyper.items()})  # far from BoTorch's start
    same = all(np.allclose(again.gp_hyper[key], value) for key, value in fresh.gp_hyper.items())
    assert same is not warm  # three L-BFGS steps from +3 do not reach the fresh fit's values


def test_additive_kernel_needs_level_counts() -> None:
    with pytest.raises(InputError, match="level counts"):
        build_covar_module("matern+additive", 3)
    with pytest.raises(InputError, match="level counts"):
        NumpyKernel(build_covar_module("matern+additive", 3, np.array([2, 3, 4])), "matern+additive", None)
    with pytest.raises(InputError, match="level counts"):
        GPSurrogate(np.zeros((3, 2)), np.arange(3.0), kernel="matern+additive")
    with pytest.raises(InputError, match="unknown GP kernel"):
        build_covar_module("laplace", 3)
    with pytest.raises(InputError, match="auto"):
        fit_surrogate(np.zeros((3, 2)), np.arange(3.0), kernel="laplace")


def test_batch_log_ei_is_the_expected_gain_of_adding_a_point_to_the_batch() -> None:
    gp, _, rng = _fitted("matern", n=30)
    post = gp.posterior()
    best = post.x[np.argmax(post.y)]
    batch = np.clip(best + 0.05 * rng.standard_normal((2, best.size)), 0, 1)
    cands = np.clip(best + 0.1 * rng.standard_normal((3, best.size)), 0, 1)
    got = np.exp(post.batch_log_ei(cands, batch, rng.standard_normal((4000, 2))))
    # Brute force: qEI(batch + x) - qEI(batch) from joint posterior samples of the three points.
    from scipy.linalg import solve_triangular

    for i, cand in enumerate(cands):
        pts = np.vstack([batch, cand[None, :]])
        mean, _ = post.mean_var(pts)
        v = solve_triangular(post._chol[0], gp.kernel(post.x, pts), lower=True)
        cov = gp.kernel(pts, pts) - v.T @ v + 1e-9 * np.eye(3)
        f = mean + rng.standard_normal((200_000, 3)) @ np.linalg.cholesky(cov).T
        gain = np.maximum(f.max(1) - gp.best_f, 0).mean() - np.maximum(f[:, :2].max(1) - gp.best_f, 0).mean()
        assert got[i] == pytest.approx(gain, rel=0.1, abs=1e-4)
    assert np.allclose(post.batch_log_ei(cands, batch[:0], np.zeros((8, 0))), post.log_ei(cands))


def test_batch_log_ei_avoids_a_point_already_in_the_batch() -> None:
    gp, grid, rng = _fitted("matern", n=30)
    post = gp.posterior()
    cands = grid.normalise(grid.random(200, rng))
    top = int(np.argmax(post.log_ei(cands)))
    gain = post.batch_log_ei(cands, cands[top][None, :], rng.standard_normal((256, 1)))
    assert gain[top] < post.log_ei(cands)[top] - 1.0  # a repeat adds (almost) nothing
    assert int(np.argmax(gain)) != top


@pytest.mark.parametrize(
    "overrides",
    [{"batch_acquisition": "qlogei"}, {"gp_kernel": "matern+additive"}, {"gp_kernel": "auto"}, {"climb": "sweep"}],
)
def test_searcher_options_propose_distinct_unseen_networks(overrides: dict) -> None:
    config = SearcherConfig(n_init=8, pool_size=256, max_pool_candidates=128, n_random_candidates=64,
                            batch_candidates=64, climb_steps=2, gp_max_iter=5, **overrides)  # fmt: skip
    searcher = LamctsBoSearcher("table1", mode="min", seed=0, config=config)
    first = searcher.ask(8)
    searcher.tell(first, [float(sum(v)) for v in first])
    picks = searcher.ask(4)
    assert len({tuple(v) for v in picks}) == 4
    assert not {tuple(v) for v in picks} & {tuple(v) for v in first}


def test_unknown_batch_acquisition_is_refused() -> None:
    with pytest.raises(InputError, match="batch_acquisition"):
        SearcherConfig(batch_acquisition="kriging")
    with pytest.raises(InputError, match="power of two"):
        SearcherConfig(batch_samples=100)
    with pytest.raises(InputError, match="climb"):
        SearcherConfig(climb="anneal")


def test_trust_region_keeps_proposals_near_a_stale_best() -> None:
    config = SearcherConfig(n_init=8, pool_size=256, max_pool_candidates=128, n_random_candidates=64,
                            batch_candidates=64, climb_steps=2, gp_max_iter=5, trust_region=True,
                            tr_patience=1, tr_min_radius=3)  # fmt: skip
    searcher = LamctsBoSearcher("table1", mode="max", seed=0, config=config)
    first = searcher.ask(8)
    searcher.tell(first[:1], [10.0])  # the best, told first: every later observation is worse
    searcher.tell(first[1:], [0.0] * 7)
    for _ in range(4):
        batch = searcher.ask(4)
        searcher.tell(batch, [0.0] * len(batch))
    # 19 observations after the best at the last ask, patience 4: 41 digits halved 4 times, floor 3.
    assert searcher.last_info["trust_radius"] == 3
    best = np.array(searcher.best()[0])
    picks = np.array(searcher.ask(4))
    assert len(picks) == 4
    assert ((picks != best).sum(1) <= 3).all()
