"""Stage 2 of the pipeline: LA-MCTS-boosted Bayesian optimisation inside one tier (paper, section 3.3.1).

:mod:`.grid` is the level-index view of a search space every searcher works in, :mod:`.bo` the GP
surrogate, :mod:`.lamcts` the learned partition tree, :mod:`.searcher` the ask/tell searcher with its
versioned state.
"""
