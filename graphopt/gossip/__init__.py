"""Decentralized optimization over communication graphs (Nabli & Oyallon, DADAO, arXiv 2208.00779).

``spectral``: χ1, χ2, effective resistances and λ2 of a rate-weighted gossip Laplacian.
``rates``: edge-rate design (uniform at DADAO's threshold, the min-total-rate SDP and its
first-order counterpart, max-λ2, FMMC/FDLA, Metropolis and max-degree weights).
``problems``: distributed least squares and ℓ2-logistic regression with μ, L and the exact optimum.
``methods``: asynchronous methods as per-worker state plus event handlers (``WorkerRule``), driven
by two drivers: the event simulator (``simulator``) and the process runtime (``runtime``, one
process per worker over torch.distributed). ``dadao``, ``baselines``: DADAO and gossip / DGD / MSDA
/ ADOM+ / Continuized; ``runner.run`` picks a method by name; ``report`` plots and writes CSV.
"""

from graphopt.gossip.spectral import (
    DENSE_MAX_NODES,
    GossipSpectrum,
    algebraic_connectivity,
    chi1,
    chi2,
    edge_rates,
    effective_resistances,
    gossip_condition_number,
    gossip_spectrum,
    rate_laplacian,
    threshold_ratio,
)
from graphopt.gossip.rates import (
    RATE_DESIGNS,
    FirstOrderStep,
    averaging_matrix,
    compare_rate_designs,
    fdla_weights,
    first_order_rates,
    fmmc_weights,
    max_degree_weights,
    max_lambda2_rates,
    metropolis_weights,
    mixing_rate,
    scale_to_threshold,
    sdp_rates,
    uniform_rates,
)

__all__ = ["DENSE_MAX_NODES", "GossipSpectrum", "algebraic_connectivity", "chi1", "chi2",
           "edge_rates", "effective_resistances", "gossip_condition_number", "gossip_spectrum",
           "rate_laplacian", "threshold_ratio",
           "RATE_DESIGNS", "FirstOrderStep", "averaging_matrix", "compare_rate_designs",
           "fdla_weights", "first_order_rates", "fmmc_weights", "max_degree_weights",
           "max_lambda2_rates", "metropolis_weights", "mixing_rate", "scale_to_threshold",
           "sdp_rates", "uniform_rates"]
from graphopt.gossip.problems import (
    DistributedProblem,
    LeastSquares,
    Logistic,
    ModuleTask,
    averaging_problem,
    libsvm_problem,
    mnist_task,
    split_rows,
    synthetic_least_squares,
    synthetic_logistic,
)
from graphopt.gossip.simulator import GossipMethod, History
from graphopt.gossip.methods import GossipSGDRule, WorkerRule
from graphopt.gossip.dadao import DADAO, DadaoRule, dadao_constants
from graphopt.gossip.baselines import (
    DGD,
    MSDA,
    ADOMPlus,
    Continuized,
    RandomizedGossip,
    SynchronousGossip,
)
from graphopt.gossip.runner import METHODS, make_method, run
from graphopt.gossip.report import (plot_convergence, plot_runtime, save_convergence_plot,
                                    save_histories_csv, save_runtime_csv, save_runtime_plot)
from graphopt.gossip.runtime import RuntimeResult, WorkerFailure, train

__all__ += ["DistributedProblem", "LeastSquares", "Logistic", "averaging_problem",
            "libsvm_problem", "split_rows", "synthetic_least_squares", "synthetic_logistic",
            "GossipMethod", "History", "DADAO", "dadao_constants", "DGD", "MSDA", "ADOMPlus",
            "Continuized", "RandomizedGossip", "SynchronousGossip", "METHODS", "make_method", "run",
            "plot_convergence", "save_convergence_plot", "save_histories_csv",
            "ModuleTask", "mnist_task", "WorkerRule", "GossipSGDRule", "DadaoRule",
            "plot_runtime", "save_runtime_csv", "save_runtime_plot", "RuntimeResult",
            "WorkerFailure", "train"]
