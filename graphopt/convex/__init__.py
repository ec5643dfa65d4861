"""Convex training of two-layer ReLU networks (Pilanci & Ergen, ICML 2020) by ADMM
(Bai, Gautam & Sojoudi, SIMODS 2023, arXiv 2201.01965), with a CVXPY reference solver, the
paper's sampled convex program (SCP), PGD attacks for robust accuracy, and scikit-learn style
estimators that return the recovered network as a ``torch.nn.Module``.
"""

from .admm import choose_linear_solver, solve_admm
from .patterns import Patterns, patterns_from_weights, propagate_features, sample_patterns
from .programs import ConvergenceWarning, ConvexReLUProgram, ConvexSolution, zero_beta
from .recovery import GatedReLUNetwork, TwoLayerReLU, active_neurons, recover_network, reduce_neurons
from .reference import cvxpy_problem, solve_cvxpy
from .attacks import pgd_attack, predict_labels, robust_accuracy
from .baselines import train_nonconvex
from .data import BinaryTask, a9a, mnist_pair
from .estimators import ConvexReLUClassifier, ConvexReLURegressor, NotFittedError, beta_max, beta_path
from .scp import SCPSolution, scp_sample_size, solve_scp

__all__ = ["zero_beta", "Patterns", "sample_patterns", "patterns_from_weights", "propagate_features",
           "ConvexReLUProgram", "ConvexSolution", "ConvergenceWarning", "solve_admm",
           "choose_linear_solver", "solve_cvxpy", "cvxpy_problem", "TwoLayerReLU",
           "GatedReLUNetwork", "recover_network", "active_neurons", "reduce_neurons"]
__all__ += ["pgd_attack", "predict_labels", "robust_accuracy", "train_nonconvex", "BinaryTask", "a9a",
            "mnist_pair", "ConvexReLUClassifier", "ConvexReLURegressor", "NotFittedError", "beta_max",
            "beta_path", "SCPSolution", "scp_sample_size", "solve_scp"]
