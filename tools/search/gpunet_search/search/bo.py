"""Bayesian optimisation surrogate: a BoTorch ``SingleTaskGP`` on normalised level indices.

The GP has an ARD kernel (BoTorch's default RBF with one length-scale per digit and its
dimension-scaled priors). Its hyper-parameters are fitted once per ``ask`` with a capped L-BFGS
budget, warm-started from the previous fit and, past ``fit_subsample`` observations, on a subset
(the best half plus a random half), because an uncapped fit at 41 dimensions takes seconds. The
posterior over a fixed candidate set is then computed directly from a Cholesky factor, and pending
points enter as fantasies by rank-one updates (kriging believer: the posterior mean; or a constant
liar), so the points of one batch repel each other without a refit.

Everything is maximised here; the searcher negates values for minimisation.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError

LIARS = ("mean", "min", "max")


class GPSurrogate:
    """A GP fitted to normalised level rows (BoTorch ``SingleTaskGP``, ARD RBF kernel).

    Args:
        x: Training inputs (N, D) in ``[0, 1]``.
        y: Training values (N,), larger is better.
        max_iter: L-BFGS iterations of the hyper-parameter fit (the cap).
        fit_subsample: Most observations used to fit the hyper-parameters.
        init: Hyper-parameters of a previous fit (:meth:`hyper_state`) to start from.
        rng: Picks the random half of the fit subset and seeds torch for the fit's restarts, so a
            fit is reproducible.

    Raises:
        InputError: On fewer than two observations.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        max_iter: int = 30,
        fit_subsample: int = 128,
        init: dict[str, Any] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        rng = rng if rng is not None else np.random.default_rng(0)
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) < 2:
            raise InputError("the GP needs at least two observations")
        self._torch = torch
        mu, sd = float(y.mean()), float(y.std()) or 1.0
        self._x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        self._y = torch.as_tensor((y - mu) / sd)
        self.best_f = float(self._y.max())
        self.worst_f = float(self._y.min())
        fit_rows = np.arange(len(y))
        if len(y) > fit_subsample:
            order = np.argsort(-y, kind="stable")
            best = order[: fit_subsample // 2]
            rest = rng.choice(order[fit_subsample // 2 :], fit_subsample - len(best), replace=False)
            fit_rows = np.sort(np.concatenate([best, rest]))
        index = torch.as_tensor(fit_rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BoTorch warns that a subset is not exactly standardised
            model = SingleTaskGP(self._x[index], self._y[index].unsqueeze(-1), outcome_transform=None)
        if init:
            params = dict(model.named_parameters())
            with torch.no_grad():
                for name, value in init.items():
                    if name in params and params[name].numel() == len(value):
                        params[name].copy_(torch.as_tensor(value, dtype=params[name].dtype).reshape(params[name].shape))
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(int(rng.integers(2**31)))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": max_iter}}, max_attempts=2)
        finally:
            torch.random.set_rng_state(generator_state)
        model.eval()
        self._model = model
        with torch.no_grad():
            x_all = self._x
            k = model.covar_module(x_all).to_dense()
            self._noise = float(model.likelihood.noise.reshape(-1)[0]) + 1e-8
            self._chol = torch.linalg.cholesky(k + self._noise * torch.eye(len(x_all), dtype=k.dtype))
            self._const = float(model.mean_module(x_all[:1]).reshape(-1)[0])
            self._alpha = torch.cholesky_solve((self._y - self._const).unsqueeze(-1), self._chol).reshape(-1)
            self._prior_var = float(model.covar_module(x_all[:1], diag=True).reshape(-1)[0])

    def hyper_state(self) -> dict[str, list[float]]:
        """The fitted hyper-parameters (raw values), JSON-able, for warm-starting the next fit."""
        return {name: p.detach().reshape(-1).tolist() for name, p in self._model.named_parameters()}

    @property
    def lengthscales(self) -> np.ndarray:
        """The fitted ARD length-scales, one per input dimension."""
        return self._model.covar_module.lengthscale.detach().numpy().ravel().copy()

    def kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Prior covariance matrix between rows of ``a`` and ``b``."""
        torch = self._torch
        with torch.no_grad():
            ta = torch.as_tensor(np.asarray(a, dtype=np.float64))
            tb = torch.as_tensor(np.asarray(b, dtype=np.float64))
            return self._model.covar_module(ta, tb).to_dense().numpy()

    def scorer(self, candidates: np.ndarray) -> CandidateScorer:
        """A posterior over the fixed candidate set ``candidates`` (C, D), ready for fantasies."""
        torch = self._torch
        with torch.no_grad():
            cross = torch.as_tensor(self.kernel(self._x.numpy(), candidates))  # N x C
            v = torch.linalg.solve_triangular(self._chol, cross, upper=False)
            mean = self._const + cross.T @ self._alpha
            var = (self._prior_var - (v * v).sum(0)).clamp_min(1e-12)
        return CandidateScorer(self, np.asarray(candidates, dtype=np.float64), mean.numpy(), var.numpy(), v.numpy())


class CandidateScorer:
    """Posterior mean/variance over a candidate set, updated in place as fantasies are added.

    Adding a fantasy at ``f`` is the rank-one Cholesky extension: with ``l = L^-1 k(X, f)`` and
    ``d^2 = k(f, f) + noise - l.l``, the candidates' new row is ``w = (k(f, C) - l.V) / d``; the variance
    drops by ``w^2`` and the mean moves by ``w (y_f - m(f)) / d`` (zero for the kriging believer).
    """

    def __init__(self, gp: GPSurrogate, cands: np.ndarray, mean: np.ndarray, var: np.ndarray, v: np.ndarray) -> None:
        from scipy.linalg import solve_triangular

        self._gp = gp
        self._cands = cands
        self.mean = mean
        self.var = var
        self._v = v  # L^-1 k(X, C) of the training points
        self._v_extra: list[np.ndarray] = []  # one row per fantasy (no copy of the big block)
        self._train = gp._x.numpy().copy()
        self._chol = gp._chol.numpy().copy()
        self._white = solve_triangular(self._chol, gp._y.numpy() - gp._const, lower=True)  # L^-1 (y - m)

    def log_ei(self, rows: np.ndarray | None = None) -> np.ndarray:
        """LogEI over the incumbent for all candidates, or the candidate indices ``rows``."""
        mean, var = (self.mean, self.var) if rows is None else (self.mean[rows], self.var[rows])
        return log_ei(mean, np.sqrt(var), self._gp.best_f)

    def condition(self, x: np.ndarray, liar: str = "mean") -> None:
        """Adds fantasised observations at the rows of ``x`` (K, D).

        Args:
            x: Pending points (normalised).
            liar: ``mean`` (kriging believer), ``min`` or ``max`` (constant liar with the worst or
                best standardised observation).

        Raises:
            InputError: On an unknown liar.
        """
        from scipy.linalg import solve_triangular

        if liar not in LIARS:
            raise InputError(f"unknown liar {liar!r}; choose one of {', '.join(LIARS)}")
        gp = self._gp
        n_base = len(self._v)
        for f in np.atleast_2d(np.asarray(x, dtype=np.float64)):
            ell = solve_triangular(self._chol, gp.kernel(self._train, f[None, :]).ravel(), lower=True)
            d = float(np.sqrt(max(gp._prior_var + gp._noise - float(ell @ ell), 1e-12)))
            projected = ell[:n_base] @ self._v
            for coef, row in zip(ell[n_base:], self._v_extra, strict=True):
                projected += coef * row
            w = (gp.kernel(f[None, :], self._cands).ravel() - projected) / d
            mean_f = gp._const + float(ell @ self._white)
            residual = {"mean": mean_f, "min": gp.worst_f, "max": gp.best_f}[liar] - mean_f
            self.mean = self.mean + w * residual / d
            self.var = np.maximum(self.var - w * w, 1e-12)
            n = len(self._chol)
            chol = np.zeros((n + 1, n + 1))
            chol[:n, :n] = self._chol
            chol[n, :n] = ell
            chol[n, n] = d
            self._chol = chol
            self._train = np.vstack([self._train, f[None, :]])
            self._white = np.append(self._white, residual / d)
            self._v_extra.append(w)


def log_ei(mean: np.ndarray, std: np.ndarray, best_f: float) -> np.ndarray:
    """Numerically stable ``log E[max(f - best_f, 0)]`` for Gaussian ``f`` (the LogEI of Ament et al.).

    Args:
        mean: Posterior means.
        std: Posterior standard deviations (> 0).
        best_f: The incumbent.

    Returns:
        LogEI per point; finite even far below the incumbent.
    """
    from scipy.special import erfcx, log_ndtr

    u = (np.asarray(mean, dtype=np.float64) - best_f) / np.asarray(std, dtype=np.float64)
    out = np.empty_like(u)
    log_phi = -0.5 * u * u - 0.5 * np.log(2 * np.pi)
    hi = u > -1.0
    uh = u[hi]
    out[hi] = np.log(np.exp(log_phi[hi]) + uh * np.exp(log_ndtr(uh)))  # no cancellation here
    lo = ~hi
    ul = -u[lo]
    # phi(u) * (1 - sqrt(pi/2) |u| erfcx(|u| / sqrt 2)); the bracket ~ 1/u^2 for large |u|.
    bracket = 1.0 - np.sqrt(np.pi / 2) * ul * erfcx(ul / np.sqrt(2))
    asymptotic = -2.0 * np.log(np.maximum(ul, 1.0))
    out[lo] = log_phi[lo] + np.where(bracket > 1e-10, np.log(np.maximum(bracket, 1e-300)), asymptotic)
    return out + np.log(np.asarray(std, dtype=np.float64))
