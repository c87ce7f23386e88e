"""LA-MCTS: a learned partition of the search space, written from the paper.

Wang, Fonseca and Tian, "Learning Search Space Partition for Black-box Optimization using Monte
Carlo Tree Search" (NeurIPS 2020), section 3: every node holds the observations that fall in its
region. A node with more than ``leaf_size`` observations is split in two: k-means (two clusters) on
the observed values labels each sample good or bad, an SVM learns the boundary between the two
labels in input space, and the SVM's own predictions assign the samples (and any future point) to
the good or the bad child. A leaf is chosen by walking down from the root, taking at each node the
child with the larger UCB score ``mean + 2 Cp sqrt(2 ln n_parent / n_child)`` over values normalised
to ``[0, 1]``. Pending points add *virtual visits* along their path (counted as visits of value 0,
the "virtual loss" of parallel MCTS), so the proposals of one batch spread over leaves. The tree is
re-learned from all observations at every ``ask``.

Only the tree is written here; k-means and the SVM are scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError

KERNELS = ("rbf", "linear", "poly")


@dataclass
class Node:
    """One region of the partition.

    Attributes:
        rows: Indices of the observations inside the region.
        depth: Root is 0.
        parent: Index of the parent node (-1 for the root).
        children: ``(good, bad)`` child indices, empty for a leaf.
        classifier: The SVM separating the children (``predict`` -> 1 good, 0 bad).
        virtual: Visits by pending points.
    """

    rows: np.ndarray
    depth: int
    parent: int = -1
    children: tuple[int, ...] = ()
    classifier: Any = None  # a fitted scikit-learn SVC on inner nodes
    virtual: int = 0
    mean: float = 0.0
    side: int = 1  # 1 if this node is its parent's good child

    @property
    def visits(self) -> int:
        return len(self.rows) + self.virtual


@dataclass
class PartitionTree:
    """The LA-MCTS tree over a set of observations.

    Build it with :meth:`fit`; then :meth:`select` a leaf (a root-to-leaf path), :meth:`contains`
    tests candidates against a path's regions, :meth:`visit` records a pending point.

    Attributes:
        leaf_size: A node with more observations than this is split.
        cp: UCB exploration constant, in units of the value range (values are scaled to [0, 1]).
        kernel: SVM kernel (``rbf``, ``linear`` or ``poly``).
        max_depth: Deepest level of the tree.
        svm_c: SVM regularisation.
        virtual_loss: Count pending points as visits of value 0 (the worst) in a node's mean, not
            only in its visit count, as parallel MCTS does; without it a clearly better leaf takes
            the whole batch.
    """

    leaf_size: int = 20
    cp: float = 0.05
    kernel: str = "rbf"
    max_depth: int = 6
    svm_c: float = 1.0
    virtual_loss: bool = True
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise InputError(f"unknown SVM kernel {self.kernel!r}; choose one of {', '.join(KERNELS)}")
        if self.leaf_size < 2:
            raise InputError(f"leaf_size must be at least 2, got {self.leaf_size}")
        if self.cp < 0:
            raise InputError(f"Cp must be non-negative, got {self.cp}")

    # -- learning ----------------------------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> PartitionTree:
        """(Re-)learns the partition from observations.

        Args:
            x: Inputs (N, D), normalised.
            y: Values (N,), larger is better.
            seed: Seeds k-means.

        Returns:
            self.
        """
        y = np.asarray(y, dtype=np.float64)
        span = float(y.max() - y.min()) if len(y) else 0.0
        self._y = (y - y.min()) / span if span > 0 else np.zeros_like(y)
        self.nodes = [Node(rows=np.arange(len(y)), depth=0)]
        queue = [0]
        while queue:
            index = queue.pop(0)
            for child in self._split(index, x, seed + index):
                queue.append(child)
        for node in self.nodes:
            node.mean = float(self._y[node.rows].mean()) if len(node.rows) else 0.0
        return self

    def _split(self, index: int, x: np.ndarray, seed: int) -> list[int]:
        from sklearn.cluster import KMeans
        from sklearn.svm import SVC

        node = self.nodes[index]
        rows = node.rows
        if len(rows) <= self.leaf_size or node.depth >= self.max_depth:
            return []
        values = self._y[rows]
        if np.ptp(values) <= 0:
            return []
        labels = KMeans(n_clusters=2, n_init=3, random_state=seed).fit_predict(values.reshape(-1, 1))
        if labels.min() == labels.max():
            return []
        good_label = int(values[labels == 1].mean() > values[labels == 0].mean())
        target = (labels == good_label).astype(int)
        svm = SVC(kernel=self.kernel, C=self.svm_c, gamma="scale").fit(x[rows], target)
        predicted = svm.predict(x[rows])
        good, bad = rows[predicted == 1], rows[predicted == 0]
        if len(good) == 0 or len(bad) == 0:
            return []
        node.classifier = svm
        first = len(self.nodes)
        self.nodes.append(Node(rows=good, depth=node.depth + 1, parent=index, side=1))
        self.nodes.append(Node(rows=bad, depth=node.depth + 1, parent=index, side=0))
        node.children = (first, first + 1)
        return [first, first + 1]

    # -- selection ---------------------------------------------------------------------------------
    @property
    def leaves(self) -> list[int]:
        """Indices of the leaf nodes."""
        return [i for i, n in enumerate(self.nodes) if not n.children]

    def ucb(self, index: int) -> float:
        """UCB score of a non-root node, counting virtual visits."""
        node = self.nodes[index]
        parent = self.nodes[node.parent]
        if node.visits == 0:
            return float("inf")
        mean = node.mean * len(node.rows) / node.visits if self.virtual_loss else node.mean
        return mean + 2.0 * self.cp * float(np.sqrt(2.0 * np.log(max(parent.visits, 1)) / node.visits))

    def select(self, allowed: set[int] | None = None) -> list[int]:
        """Walks from the root to a leaf by UCB (ties go to the good child).

        Args:
            allowed: If given, only nodes in this set may be entered (used to skip exhausted
                regions); the walk stops early when neither child is allowed.

        Returns:
            The path as node indices, root first.
        """
        path = [0]
        while self.nodes[path[-1]].children:
            good, bad = self.nodes[path[-1]].children
            options = [c for c in (good, bad) if allowed is None or c in allowed]
            if not options:
                break
            path.append(max(options, key=lambda c: (self.ucb(c), self.nodes[c].side)))
        return path

    def visit(self, path: list[int]) -> None:
        """Records a virtual visit (a pending point) on every node of ``path``."""
        for index in path:
            self.nodes[index].virtual += 1

    # -- regions -----------------------------------------------------------------------------------
    def route(self, x: np.ndarray) -> np.ndarray:
        """Leaf index of each row of ``x`` (points are routed down by the SVMs)."""
        x = np.atleast_2d(x)
        where = np.zeros(len(x), dtype=np.int64)
        for index, node in enumerate(self.nodes):
            if not node.children:
                continue
            here = np.flatnonzero(where == index)
            if len(here) == 0:
                continue
            good = node.classifier.predict(x[here]) == 1
            where[here] = np.where(good, node.children[0], node.children[1])
        return where

    def region(self, index: int, x: np.ndarray, cache: dict[int, np.ndarray]) -> np.ndarray:
        """Mask of the rows of ``x`` inside node ``index``'s region, evaluating only the SVMs on its path.

        Args:
            index: The node.
            x: Candidate points (C, D), the same array for every call sharing ``cache``.
            cache: Masks computed so far, by node (start with an empty dict per candidate set).
        """
        if index in cache:
            return cache[index]
        node = self.nodes[index]
        if node.parent < 0:
            mask = np.ones(len(x), dtype=bool)
        else:
            parent_mask = self.region(node.parent, x, cache)
            rows = np.flatnonzero(parent_mask)
            good = self.nodes[node.parent].classifier.predict(x[rows]) == 1 if len(rows) else np.zeros(0, bool)
            for child, side in zip(self.nodes[node.parent].children, (True, False), strict=True):
                child_mask = np.zeros(len(x), dtype=bool)
                child_mask[rows[good == side]] = True
                cache[child] = child_mask
            mask = cache[index]
        cache[index] = mask
        return mask

    def paths(self, leaves: np.ndarray) -> list[list[int]]:
        """Root-to-leaf paths for leaf indices."""
        out = []
        for leaf in np.atleast_1d(leaves):
            path = [int(leaf)]
            while self.nodes[path[-1]].parent >= 0:
                path.append(self.nodes[path[-1]].parent)
            out.append(path[::-1])
        return out

    def descendants(self, index: int) -> set[int]:
        """The node and all nodes below it."""
        out, stack = set(), [index]
        while stack:
            i = stack.pop()
            out.add(i)
            stack.extend(self.nodes[i].children)
        return out
