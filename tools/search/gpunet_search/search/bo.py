"""Bayesian optimisation surrogate: a BoTorch ``SingleTaskGP`` on normalised level indices.

The GP has an ARD kernel with one length-scale per digit and BoTorch's dimension-scaled
length-scale prior (Hvarfner et al., 2024): Matern-5/2 by default, RBF, or Matern-5/2 plus an
additive kernel over the digits (:mod:`.kernels`). Every digit is an
ordinal level index scaled to ``[0, 1]``; the categorical digits of the space (kernel size,
activation, SE) have two levels each, for which a one-hot or categorical kernel gives the same
family of covariances as the ARD distance on ``{0, 1}`` (one length-scale per digit). The
hyper-parameters are fitted afresh at every ``ask`` with a capped L-BFGS budget (optionally
warm-started from the previous fit) and, past ``fit_subsample`` observations, on a subset (the best
half plus a random half), because an uncapped fit at 41 dimensions takes seconds.
:class:`Posterior` then evaluates the posterior and LogEI at any points, with pending points as
fantasies, and the greedy qLogEI step of a batch (:meth:`Posterior.batch_log_ei`).

Everything is maximised here; the searcher negates values for minimisation.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError

from .kernels import GP_KERNELS, NumpyKernel, build_covar_module

LIARS = ("mean", "min", "max")
AUTO_KERNELS = ("matern", "matern+additive")
KERNEL_CHOICES = (*GP_KERNELS, "auto")
BATCH_ACQUISITIONS = ("liar", "qlogei")


class GPSurrogate:
    """A GP fitted to normalised level rows (BoTorch ``SingleTaskGP``, ARD Matern-5/2 or RBF kernel).

    Args:
        x: Training inputs (N, D) in ``[0, 1]``.
        y: Training values (N,), larger is better.
        kernel: ``matern`` (Matern-5/2) or ``rbf``, both ARD with the dimension-scaled prior.
        max_iter: L-BFGS iterations of the hyper-parameter fit (the cap).
        fit_subsample: Most observations used to fit the hyper-parameters.
        init: Hyper-parameters of a previous fit (:meth:`hyper_state`) to start from.
        n_levels: Levels per input dimension (the grid's); required by the additive kernel, which
            is evaluated exactly on the grid points ``level / (n_levels - 1)``.
        rng: Picks the random half of the fit subset and seeds torch for the fit's restarts, so a
            fit is reproducible.

    Raises:
        InputError: On fewer than two observations, an unknown kernel, or the additive kernel
            without ``n_levels``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        kernel: str = "matern",
        max_iter: int = 30,
        fit_subsample: int = 128,
        init: dict[str, Any] | None = None,
        rng: np.random.Generator | None = None,
        n_levels: np.ndarray | None = None,
    ) -> None:
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        rng = rng if rng is not None else np.random.default_rng(0)
        y = np.asarray(y, dtype=np.float64).ravel()
        if kernel == "matern+additive" and n_levels is None:
            raise InputError("the additive kernel needs the digits' level counts (n_levels)")
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
            covar = build_covar_module(kernel, self._x.shape[1], n_levels)
            model = SingleTaskGP(
                self._x[index], self._y[index].unsqueeze(-1), covar_module=covar, outcome_transform=None
            )
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
            self._noise = float(model.likelihood.noise.reshape(-1)[0]) + 1e-8
            self._const = float(model.mean_module(self._x[:1]).reshape(-1)[0])
        self._numpy_kernel = NumpyKernel(model.covar_module, kernel, n_levels)

    def loo_log_density(self) -> float:
        """Mean leave-one-out log predictive density of the standardised observations.

        The closed form at fixed hyper-parameters (Rasmussen and Williams, 2006, eq. 5.10-5.12):
        with ``C = K + noise * I``, observation ``i`` left out has the predictive mean
        ``y_i - [C^-1 y]_i / [C^-1]_ii`` and variance ``1 / [C^-1]_ii``. It scores how well a
        kernel generalises to the points it has not seen, where the marginal likelihood favours the
        kernel with more hyper-parameters.
        """
        from scipy.linalg import cho_factor, cho_solve

        x, y = self._x.numpy(), self._y.numpy() - self._const
        k = self.kernel(x, x)
        k[np.diag_indices_from(k)] += self._noise
        inverse = cho_solve(cho_factor(k, lower=True, check_finite=False), np.eye(len(y)), check_finite=False)
        precision = np.diag(inverse)
        residual = (inverse @ y) / precision
        return float(np.mean(0.5 * np.log(precision / (2 * np.pi)) - 0.5 * residual * residual * precision))

    def hyper_state(self) -> dict[str, list[float]]:
        """The fitted hyper-parameters (raw values), JSON-able, for warm-starting the next fit (``gp_warm_start``)."""
        return {name: p.detach().reshape(-1).tolist() for name, p in self._model.named_parameters()}

    def kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Prior covariance matrix between rows of ``a`` and ``b``: the fitted kernel, in NumPy.

        The acquisition optimiser calls this on tens of thousands of rows per ``ask``, where
        GPyTorch's lazy kernel tensors cost more than the arithmetic; the values equal
        ``covar_module(a, b)`` (tested).
        """
        return self._numpy_kernel(a, b)

    def prior_var(self, a: np.ndarray) -> np.ndarray:
        """Prior variance at the rows of ``a`` (constant for a stationary kernel)."""
        return self._numpy_kernel.diag(a)

    def posterior(self, max_rows: int | None = None, rng: np.random.Generator | None = None) -> Posterior:
        """The GP's posterior given its training data (add pending points with :meth:`Posterior.believe`).

        Args:
            max_rows: Condition on at most this many observations (the best half plus a random
                half of the rest), which bounds the cost of scoring a point as the history grows.
            rng: Draws the random half.
        """
        x, y = self._x.numpy(), self._y.numpy()
        if max_rows is not None and len(y) > max_rows:
            rng = rng if rng is not None else np.random.default_rng(0)
            order = np.argsort(-y, kind="stable")
            rest = rng.choice(order[max_rows // 2 :], max_rows - max_rows // 2, replace=False)
            rows = np.sort(np.concatenate([order[: max_rows // 2], rest]))
            x, y = x[rows], y[rows]
        return Posterior(self, x, y)


class Posterior:
    """The exact GP posterior at fixed hyper-parameters, evaluated at any points, with fantasies.

    The acquisition optimiser scores thousands of grid points per step, so the posterior is computed
    from one Cholesky factor of the training covariance as a batch (BoTorch's analytic LogEI treats
    every point as its own batch, about fifteen times slower here). Fantasies (pending points, or the
    earlier picks of a batch) are added by :meth:`believe`, which refactors the covariance with them
    appended at their fantasised values: the kriging believer keeps the mean and shrinks the
    variance around them, so a batch spreads out without a refit.

    Args:
        gp: The fitted surrogate (kernel, noise, constant mean, incumbent).
        x: Training inputs (N, D).
        y: Standardised training values (N,).
    """

    def __init__(self, gp: GPSurrogate, x: np.ndarray, y: np.ndarray) -> None:
        from scipy.linalg import cho_factor, cho_solve

        self._gp = gp
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        k = gp.kernel(self.x, self.x)
        k[np.diag_indices_from(k)] += gp._noise
        self._chol = cho_factor(k, lower=True, check_finite=False)
        self._alpha = cho_solve(self._chol, self.y - gp._const, check_finite=False)

    def mean_var(self, x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance at the rows of ``x`` (C, D), computed ``chunk`` rows at a time."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        mean, var = np.empty(len(x)), np.empty(len(x))
        for lo in range(0, len(x), chunk):
            _, mean[lo : lo + chunk], var[lo : lo + chunk] = self._project(x[lo : lo + chunk])
        return mean, np.maximum(var, 1e-12)

    def _project(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``L^-1 k(X, rows)`` (N, R), the posterior mean and the (unclipped) variance at ``rows``."""
        from scipy.linalg import solve_triangular

        gp = self._gp
        cross = gp.kernel(self.x, rows)  # N x R
        v = solve_triangular(self._chol[0], cross, lower=True, check_finite=False)
        return v, gp._const + cross.T @ self._alpha, gp.prior_var(rows) - (v * v).sum(0)

    def log_ei(self, x: np.ndarray) -> np.ndarray:
        """LogEI over the incumbent (the best real observation) at the rows of ``x``."""
        mean, var = self.mean_var(x)
        return log_ei(mean, np.sqrt(var), self._gp.best_f)

    def batch_log_ei(self, x: np.ndarray, batch: np.ndarray, normals: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Log of the expected improvement that each row of ``x`` adds to ``batch`` (qLogEI's greedy step).

        ``qEI(batch + x) = E[max(f(batch + x)) - best]^+`` is computed by Monte Carlo over the joint
        posterior of ``batch`` only: given a sample ``f_b`` of the batch, ``f(x)`` is Gaussian, so the
        expectation over ``f(x)`` is an analytic EI over ``max(best, max f_b)``. The part of qEI that
        does not depend on ``x`` is dropped, so the result ranks rows of ``x`` as qLogEI would with
        far fewer samples (Wilson et al., 2018, on greedy batch qEI).

        Args:
            x: Candidate rows (C, D), normalised.
            batch: Rows already in the batch (B, D), pending or picked.
            normals: Standard normal draws (S, B) shared by every call of one batch (e.g. QMC).
            chunk: Candidate rows computed at once.

        Returns:
            ``log(mean_s EI_s(x))`` per row; LogEI when ``batch`` is empty.
        """
        from scipy.linalg import cholesky, solve_triangular
        from scipy.special import logsumexp

        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        batch = np.atleast_2d(np.asarray(batch, dtype=np.float64))
        if len(batch) == 0:
            return self.log_ei(x)
        gp = self._gp
        v_b, mean_b, _ = self._project(batch)
        cov_b = gp.kernel(batch, batch) - v_b.T @ v_b
        cov_b[np.diag_indices_from(cov_b)] += 1e-9 + 1e-6 * gp.prior_var(batch)
        chol_b = cholesky(cov_b, lower=True, check_finite=False)
        z = np.asarray(normals, dtype=np.float64)[:, : len(batch)]
        samples = mean_b + z @ chol_b.T  # S x B
        threshold = np.maximum(gp.best_f, samples.max(1))  # S
        out = np.empty(len(x))
        for lo in range(0, len(x), chunk):
            rows = x[lo : lo + chunk]
            v_x, mean, var = self._project(rows)
            cov_xb = gp.kernel(rows, batch) - v_x.T @ v_b  # c x B
            w = solve_triangular(chol_b, cov_xb.T, lower=True, check_finite=False)  # B x c
            cond_mean = mean[:, None] + w.T @ z.T  # c x S
            cond_std = np.sqrt(np.maximum(var - (w * w).sum(0), 1e-12))[:, None]
            per_sample = log_ei(cond_mean, np.broadcast_to(cond_std, cond_mean.shape), threshold[None, :])
            out[lo : lo + chunk] = logsumexp(per_sample, axis=1) - np.log(len(z))
        return out

    def believe(self, x: np.ndarray, liar: str = "mean") -> Posterior:
        """A posterior with fantasised observations at the rows of ``x`` (K, D).

        Args:
            x: Pending points (normalised).
            liar: ``mean`` (kriging believer: the posterior mean), ``min`` or ``max`` (constant liar
                with the worst or best standardised observation).

        Raises:
            InputError: On an unknown liar.
        """
        if liar not in LIARS:
            raise InputError(f"unknown liar {liar!r}; choose one of {', '.join(LIARS)}")
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if len(x) == 0:
            return self
        gp = self._gp
        fantasy = {"mean": None, "min": gp.worst_f, "max": gp.best_f}[liar]
        values = self.mean_var(x)[0] if fantasy is None else np.full(len(x), fantasy)
        return Posterior(gp, np.vstack([self.x, x]), np.concatenate([self.y, values]))


def fit_surrogate(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kernel: str,
    init: dict[str, list[float]] | None = None,
    **options: Any,
) -> tuple[GPSurrogate, str, dict[str, list[float]]]:
    """Fits the GP; with ``kernel="auto"``, each of :data:`AUTO_KERNELS`, keeping the one that predicts best.

    The automatic choice compares the kernels' leave-one-out log predictive densities
    (:meth:`GPSurrogate.loo_log_density`) on the same observations at every fit, so it can change
    as the search moves: the additive kernel wins where the objective is close to a sum over the
    digits, the full one where digits interact.

    Args:
        x: Training inputs (N, D) in ``[0, 1]``.
        y: Training values (N,), larger is better.
        kernel: One of :data:`GP_KERNELS`, or ``auto``.
        init: Hyper-parameters of the previous fit (the returned state), or ``None``.
        **options: Passed to :class:`GPSurrogate` (``max_iter``, ``fit_subsample``, ``rng``,
            ``n_levels``).

    Returns:
        The fitted surrogate, its kernel, and the hyper-parameters to warm-start the next fit
        (with ``auto``, every kernel's, keyed ``"{kernel}/{name}"``).

    Raises:
        InputError: As :class:`GPSurrogate`, or on an unknown kernel.
    """
    if kernel not in KERNEL_CHOICES:
        raise InputError(f"unknown GP kernel {kernel!r}; choose one of {', '.join(KERNEL_CHOICES)}")
    if kernel != "auto":
        gp = GPSurrogate(x, y, kernel=kernel, init=init, **options)
        return gp, kernel, gp.hyper_state()
    fits: list[tuple[float, str, GPSurrogate]] = []
    hyper: dict[str, list[float]] = {}
    for name in AUTO_KERNELS:
        prefix = f"{name}/"
        own = {key[len(prefix) :]: value for key, value in (init or {}).items() if key.startswith(prefix)}
        gp = GPSurrogate(x, y, kernel=name, init=own, **options)
        hyper.update({prefix + key: value for key, value in gp.hyper_state().items()})
        fits.append((gp.loo_log_density(), name, gp))
    _, name, gp = max(fits, key=lambda fit: fit[0])
    return gp, name, hyper


def log_ei(mean: np.ndarray, std: np.ndarray, best_f: float | np.ndarray) -> np.ndarray:
    """Numerically stable ``log E[max(f - best_f, 0)]`` for Gaussian ``f`` (the LogEI of Ament et al.).

    Args:
        mean: Posterior means.
        std: Posterior standard deviations (> 0).
        best_f: The incumbent (or one per point, broadcast against ``mean``).

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
