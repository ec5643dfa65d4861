"""Convex training of two-layer ReLU networks (Pilanci & Ergen, ICML 2020) by ADMM
(Bai, Gautam & Sojoudi, SIMODS 2023, arXiv 2201.01965), with a CVXPY reference solver.
"""

from .admm import choose_linear_solver, solve_admm
from .patterns import Patterns, patterns_from_weights, propagate_features, sample_patterns
from .programs import ConvergenceWarning, ConvexReLUProgram, ConvexSolution
from .recovery import GatedReLUNetwork, TwoLayerReLU, active_neurons, recover_network
from .reference import cvxpy_problem, solve_cvxpy

__all__ = ["Patterns", "sample_patterns", "patterns_from_weights", "propagate_features",
           "ConvexReLUProgram", "ConvexSolution", "ConvergenceWarning", "solve_admm",
           "choose_linear_solver", "solve_cvxpy", "cvxpy_problem", "TwoLayerReLU",
           "GatedReLUNetwork", "recover_network", "active_neurons"]
