"""The GP's covariance functions, built in GPyTorch for the fit and evaluated in NumPy for scoring.

Three kernels over normalised level rows (every digit in ``[0, 1]``):

* ``matern``: ARD Matern-5/2 with BoTorch's dimension-scaled length-scale prior (Hvarfner et al.,
  2024); the covariance of the full 41-digit interaction.
* ``rbf``: the same with a squared-exponential kernel.
* ``matern+additive``: a scaled ``matern`` plus BoTorch's first-order orthogonal additive kernel
  (Lu et al., 2022): one component per digit, orthogonalised against the uniform measure on
  ``[0, 1]``, each with its own length-scale and weight. The fit decides how much of the variance is
  additive; an additive model generalises from few observations in many dimensions, because every
  observation informs each digit's effect (Duvenaud et al., 2011), and the full kernel keeps the
  interactions it cannot express.

The acquisition optimiser scores tens of thousands of rows per ``ask``; :class:`NumpyKernel`
evaluates the fitted kernel there. The additive part is exact on the grid: each digit's component
is tabulated once on that digit's levels, and a covariance block is a product of a gathered table
with a one-hot matrix (no per-digit loop over rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunet_hub.errors import InputError

GP_KERNELS = ("matern", "rbf", "matern+additive")


def build_covar_module(kernel: str, n_dims: int, n_levels: np.ndarray | None = None) -> Any:
    """The GPyTorch covariance module for ``kernel`` on ``n_dims`` inputs in ``[0, 1]``.

    Args:
        kernel: One of :data:`GP_KERNELS`.
        n_dims: Input dimensions.
        n_levels: Levels per dimension; the additive kernel needs them (its inputs are grid points,
            ``level / (n_levels - 1)``).

    Raises:
        InputError: On an unknown kernel, or the additive kernel without ``n_levels``.
    """
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from gpytorch.kernels import MaternKernel, ScaleKernel

    if kernel not in GP_KERNELS:
        raise InputError(f"unknown GP kernel {kernel!r}; choose one of {', '.join(GP_KERNELS)}")
    full = get_covar_module_with_dim_scaled_prior(n_dims, use_rbf_kernel=kernel == "rbf")
    if kernel != "matern+additive":
        return full
    if n_levels is None:
        raise InputError("the additive kernel needs the digits' level counts")
    import torch

    components = MaternKernel(nu=2.5, batch_shape=torch.Size([n_dims])).to(torch.float64)
    additive = _grid_additive_kernel(np.asarray(n_levels), components)
    return _sum_kernel(ScaleKernel(full), additive)


def _grid_additive_kernel(n_levels: np.ndarray, components: Any) -> Any:
    """BoTorch's first-order orthogonal additive kernel, with each digit's component tabulated on its levels.

    A digit takes at most a handful of levels, so its orthogonalised component is computed on them
    (digits x levels x levels) and a covariance block is ``one_hot(x1) @ blockdiag(c_d * table_d) @
    one_hot(x2).T``, instead of evaluating every component, with its quadrature correction, for every
    pair of rows: the same values on grid points (tested), and a hyper-parameter fit whose gradient
    is two matrix products.
    """
    import torch
    from botorch.models.kernels.orthogonal_additive_kernel import OrthogonalAdditiveKernel

    width = int(n_levels.max())
    steps = torch.as_tensor(np.maximum(n_levels - 1, 1), dtype=torch.float64)
    levels = torch.arange(width, dtype=torch.float64)[:, None]
    grid = torch.minimum(levels / steps, torch.ones(()))  # L x D; a digit's unused rows repeat its last level
    total = int(n_levels.sum())
    first = _first_columns(n_levels)
    columns = torch.as_tensor(first)  # a digit's first column in the one-hot encoding
    # Every (digit, level, level) entry of the block diagonal, and its place in the flat matrix.
    d = np.repeat(np.arange(len(n_levels)), n_levels * n_levels)
    i = np.concatenate([np.repeat(np.arange(n), n) for n in n_levels])
    j = np.concatenate([np.tile(np.arange(n), n) for n in n_levels])
    entries = tuple(torch.as_tensor(v) for v in (d, i, j))
    places = torch.as_tensor((first[d] + i) * total + first[d] + j)

    def one_hot(x: Any) -> Any:
        index = torch.round(x * steps).long() + columns  # n x D
        hot = torch.zeros(*x.shape[:-1], total, dtype=torch.float64)
        return hot.scatter_(-1, index, 1.0)

    class GridOrthogonalAdditiveKernel(OrthogonalAdditiveKernel):
        def blocks(self) -> Any:
            """``blockdiag(c_d * table_d)`` over the one-hot columns (every digit's levels)."""
            # BoTorch's private _orthogonal_base_kernels (the pinned version's): the equality test
            # with BoTorch's own kernel fails if its meaning changes.
            weighted = self.coeffs_1[:, None, None] * self._orthogonal_base_kernels(grid, grid)  # D x L x L
            flat = torch.zeros(total * total, dtype=weighted.dtype).index_put((places,), weighted[entries])
            return flat.reshape(total, total)

        def forward(self, x1: Any, x2: Any, diag: bool = False, last_dim_is_batch: bool = False) -> Any:
            if diag or last_dim_is_batch or self.coeffs_2 is not None:
                return super().forward(x1, x2, diag=diag, last_dim_is_batch=last_dim_is_batch)
            return one_hot(x1) @ self.blocks() @ one_hot(x2).transpose(-1, -2) + self.offset

    return GridOrthogonalAdditiveKernel(len(n_levels), base_kernel=components, dtype=torch.float64)


def _first_columns(n_levels: np.ndarray) -> np.ndarray:
    """Each digit's first column in the one-hot encoding of a level row (its levels side by side)."""
    return np.concatenate([[0], np.cumsum(n_levels)[:-1]]).astype(np.int64)


def _sum_kernel(full: Any, additive: Any) -> Any:
    """``full + additive`` as one kernel without a batch shape.

    GPyTorch's ``AdditiveKernel`` infers its batch shape from every sub-kernel, including the
    per-digit batch of the orthogonal additive kernel's components, which that kernel handles
    internally; the sum would then be evaluated as a batch of 41 matrices.
    """
    import torch
    from gpytorch.kernels import Kernel

    class FullPlusAdditive(Kernel):
        def __init__(self) -> None:
            super().__init__()
            self.kernels = torch.nn.ModuleList([full, additive])

        @property
        def batch_shape(self) -> torch.Size:
            return torch.Size([])

        @property
        def is_stationary(self) -> bool:
            return False

        def forward(self, x1: Any, x2: Any, diag: bool = False, **params: Any) -> Any:
            k_full = full.forward(x1, x2, diag=diag, **params)
            return k_full + additive.forward(x1, x2, diag=diag)

    return FullPlusAdditive()


class NumpyKernel:
    """A fitted covariance module evaluated in NumPy (the values equal the module's; tested).

    Args:
        covar: The fitted module from :func:`build_covar_module`.
        kernel: Its name.
        n_levels: Levels per digit; the additive part is tabulated on them (inputs must be grid
            points, ``level / (n_levels - 1)``).
    """

    def __init__(self, covar: Any, kernel: str, n_levels: np.ndarray | None) -> None:
        import torch

        self._matern = kernel != "rbf"
        full = covar
        self._scale = 1.0
        self._tables: np.ndarray | None = None
        if kernel == "matern+additive":
            scaled, additive = covar.kernels
            full = scaled.base_kernel
            self._scale = float(scaled.outputscale.detach())
            if n_levels is None:
                raise InputError("the additive kernel needs the digits' level counts")
            self._n_levels = np.asarray(n_levels, dtype=np.int64)
            self._offsets = _first_columns(self._n_levels)
            with torch.no_grad():
                self._tables = additive.blocks().numpy()
                self._offset = float(additive.offset.detach())
        self._lengthscale = full.lengthscale.detach().numpy().reshape(-1).astype(np.float64)

    def _columns(self, x: np.ndarray) -> np.ndarray:
        """The one-hot column of each digit's level, per row of normalised grid points (rows x D)."""
        return self._offsets + np.rint(x * np.maximum(self._n_levels - 1, 1)).astype(np.int64)

    def _one_hot(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), len(self._tables)))  # type: ignore[arg-type]
        out[np.arange(len(x))[:, None], self._columns(x)] = 1.0
        return out

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Covariance matrix between the rows of ``a`` and ``b``."""
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        sa, sb = a / self._lengthscale, b / self._lengthscale
        # In place: these are (rows x rows) arrays on every scoring step of an ask.
        k = sa @ sb.T
        k *= -2.0
        k += (sa * sa).sum(1)[:, None]
        k += (sb * sb).sum(1)[None, :]
        np.maximum(k, 0.0, out=k)
        if self._matern:
            k *= 5.0
            r = np.sqrt(k, out=k)
            decay = np.exp(-r)
            k = r * r
            k /= 3.0
            k += r
            k += 1.0
            k *= decay
        else:
            k *= -0.5
            np.exp(k, out=k)
        if self._tables is None:
            return k
        k *= self._scale
        k += self._offset
        k += (self._one_hot(a) @ self._tables) @ self._one_hot(b).T
        return k

    def diag(self, a: np.ndarray) -> np.ndarray:
        """Prior variance at the rows of ``a``."""
        a = np.atleast_2d(np.asarray(a, dtype=np.float64))
        if self._tables is None:
            return np.ones(len(a))
        return self._scale + self._offset + np.diag(self._tables)[self._columns(a)].sum(1)
