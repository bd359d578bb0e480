"""The torch shim that trains a logistic regression student on the DiXtill loss.

A binary student has one weight vector and its logits are ``[0, X w + b]``; a
multiclass student has one weight vector per class. This is the
parameterisation of scikit-learn's ``LogisticRegression``, and the shim
minimises the same objective with the same optimiser (scipy's L-BFGS-B, the
same ``tol`` and ``max_iter``), so with ``alpha=0`` it reproduces
``LogisticRegression.fit``:

    (1 - alpha) * CE + alpha * (KD + beta * XAI) + ||W||^2 / (2 * C * sum(w))

``sum(w)`` being the sum of sample weights after class weights, as in
scikit-learn. The intercept is not penalised.

The student's SHAP values are closed form and differentiable in the weights:
``phi_j(x) = sum over the columns c of j of w_c (z_c(x) - E[z_c])``, the
expectation over the training rows. For a student without interactions this
is its exact interventional SHAP value against that background.
"""

# License: BSD-3-Clause

import contextlib

import numpy as np
import torch
from scipy import optimize

from .._losses import (
    alignment_loss,
    cross_entropy,
    distillation_loss,
    dixtill_loss,
)
from ..attributions._linear import linear_attributions


class LinearStudentProblem:
    """The DiXtill objective of a linear student, as a function of its weights.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_columns)
    y : ndarray of shape (n_samples,)
        Labels encoded as 0..n_classes-1.
    n_classes : int
    teacher_logits : ndarray of shape (n_samples, n_classes) or None
    ce_weights : ndarray of shape (n_samples,)
        Sample weights times class weights, for the cross-entropy.
    weights : ndarray of shape (n_samples,)
        Sample weights, for the distillation and alignment terms.
    alignment : dict or None
        ``rows`` (indices into Z), ``teacher_phi`` (normalised, of shape
        (n_rows, n_features, n_outputs)), ``mean`` and ``groups_matrix``.
    alpha, beta, temperature : float
    l2_strength : float
        Zero for an unpenalised student.
    fit_intercept : bool
    """

    def __init__(
        self,
        Z,
        y,
        n_classes,
        teacher_logits,
        ce_weights,
        weights,
        alignment,
        alpha,
        beta,
        temperature,
        l2_strength,
        fit_intercept,
    ):
        as_tensor = torch.as_tensor
        # A read-only X (a memory map from joblib's n_jobs) would make torch
        # warn about non-writable tensors, so such arrays are copied.
        Z = np.require(Z, dtype=np.float64, requirements="W")
        self.Z = as_tensor(Z, dtype=torch.float64)
        self.y = as_tensor(y, dtype=torch.int64)
        self.n_classes = n_classes
        self.n_outputs = 1 if n_classes == 2 else n_classes
        self.n_columns = Z.shape[1]
        self.teacher_logits = None
        if teacher_logits is not None:
            self.teacher_logits = as_tensor(teacher_logits, dtype=torch.float64)
        self.ce_weights = as_tensor(ce_weights, dtype=torch.float64)
        self.weights = as_tensor(weights, dtype=torch.float64)
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.l2_strength = l2_strength
        self.fit_intercept = fit_intercept

        self.alignment = None
        if alignment is not None:
            rows = np.asarray(alignment["rows"])
            self.alignment = {
                "Z": self.Z[rows],
                "weights": self.weights[rows],
                "teacher_phi": as_tensor(alignment["teacher_phi"], dtype=torch.float64),
                "mean": as_tensor(alignment["mean"], dtype=torch.float64),
                "groups_matrix": as_tensor(
                    alignment["groups_matrix"], dtype=torch.float64
                ),
            }
        self.last_terms = {}
        # The alignment term is left out while ``align`` is False.
        self.align = True

    @property
    def has_alignment(self):
        """Whether the objective has an alignment term at all."""
        return self.alpha > 0 and self.beta > 0 and self.alignment is not None

    @property
    def n_parameters(self):
        return self.n_outputs * (self.n_columns + int(self.fit_intercept))

    def unpack(self, parameters):
        """Split a flat parameter vector into (coef, intercept)."""
        shaped = parameters.reshape(self.n_outputs, -1)
        coef = shaped[:, : self.n_columns]
        if self.fit_intercept:
            return coef, shaped[:, self.n_columns]
        return coef, torch.zeros(self.n_outputs, dtype=parameters.dtype)

    def logits(self, coef, intercept, Z):
        scores = Z @ coef.T + intercept
        if self.n_classes == 2:
            return torch.cat([torch.zeros_like(scores), scores], dim=1)
        return scores

    def loss(self, parameters):
        """Return the objective and store its terms in ``last_terms``."""
        coef, intercept = self.unpack(parameters)
        logits = self.logits(coef, intercept, self.Z)
        zero = torch.zeros((), dtype=torch.float64)

        ce = cross_entropy(logits, self.y, self.ce_weights) if self.alpha < 1 else zero
        kd = zero
        if self.alpha > 0 and self.teacher_logits is not None:
            kd = distillation_loss(
                logits, self.teacher_logits, self.temperature, self.weights
            )
        xai = zero
        if self.align and self.has_alignment:
            xai = self._alignment_term(coef)
        penalty = 0.5 * self.l2_strength * torch.sum(coef**2)
        total = dixtill_loss(ce, kd, xai, self.alpha, self.beta) + penalty

        self.last_terms = {
            "loss": total.item(),
            "ce": ce.item(),
            "kd": kd.item(),
            # None in the first stage, where the term exists but is left out.
            "xai": None if self.has_alignment and not self.align else xai.item(),
        }
        return total

    def _alignment_term(self, coef):
        data = self.alignment
        student_phi = linear_attributions(
            data["Z"], coef, data["mean"], data["groups_matrix"]
        )
        return alignment_loss(data["teacher_phi"], student_phi, data["weights"])

    def loss_and_gradient(self, flat):
        """Return the objective and its gradient for scipy, as float64 arrays."""
        parameters = torch.tensor(flat, dtype=torch.float64, requires_grad=True)
        total = self.loss(parameters)
        (gradient,) = torch.autograd.grad(total, parameters)
        return total.item(), gradient.numpy().copy()


# Iterations without the alignment term before it is switched on.
WARM_UP_ITERATIONS = 10


@contextlib.contextmanager
def single_torch_thread():
    """Run torch on one thread, restoring the previous setting afterwards.

    The linear student's matrices are small, so torch's thread pool costs
    more than it saves: on 2 cores with another process busy, one loss and
    gradient evaluation on Adult took 13 ms on one thread and 105 ms on two.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_linear_student(problem, max_iter, tol, verbose=0, log=print):
    """Minimise the objective with L-BFGS-B, from zero weights.

    With an alignment term, the student first takes up to
    ``WARM_UP_ITERATIONS`` iterations without it, then minimises the whole
    objective from there. The scale normalisation of the alignment term has
    gradients of order ``1 / sqrt(1e-8)`` near zero weights. Started there on
    unscaled columns, L-BFGS-B stalled with a student that predicted one
    class (breast cancer data), while from the warmed-up weights it
    converges.

    Returns
    -------
    coef : ndarray of shape (n_outputs, n_columns)
    intercept : ndarray of shape (n_outputs,)
    n_iter : int
        Iterations of both stages, which share the ``max_iter`` budget.
    history : list of dict
        The loss and its CE, KD and XAI terms after each iteration; ``xai``
        is None in the first stage.
    converged : bool
        False when a stage stopped at ``max_iter``.
    """
    history = []

    def record(intermediate_result):
        row = {"iteration": len(history) + 1, **problem.last_terms}
        history.append(row)
        if verbose > 1 or (verbose == 1 and row["iteration"] % 10 == 1):
            log(_format_row(row))

    if verbose > 0:
        log(_format_header())
    stages = [False, True] if problem.has_alignment else [True]
    start = np.zeros(problem.n_parameters)
    n_iter, converged = 0, True
    with single_torch_thread():
        for align in stages:
            problem.align = align
            # The first stage only has to move the weights away from zero, and
            # both stages share the max_iter budget.
            budget = max_iter - n_iter if align else min(max_iter, WARM_UP_ITERATIONS)
            if budget <= 0:
                converged = False
                break
            result = _minimize(problem, start, budget, tol, record)
            start = result.x
            n_iter += int(result.nit)
            if align:
                converged = result.nit < budget
    parameters = torch.as_tensor(start, dtype=torch.float64)
    coef, intercept = problem.unpack(parameters)
    if verbose == 1 and history and history[-1]["iteration"] % 10 != 1:
        log(_format_row(history[-1]))
    return coef.numpy().copy(), intercept.numpy().copy(), n_iter, history, converged


def _minimize(problem, start, max_iter, tol, callback):
    # The options of scikit-learn's own L-BFGS-B fit of LogisticRegression.
    return optimize.minimize(
        problem.loss_and_gradient,
        start,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )


def _format_header():
    return f"{'iter':>6}  {'loss':>10}  {'ce':>10}  {'kd':>10}  {'xai':>10}"


def _format_row(row):
    xai = "-" if row["xai"] is None else f"{row['xai']:.5f}"
    return (
        f"{row['iteration']:>6}  {row['loss']:>10.5f}  {row['ce']:>10.5f}  "
        f"{row['kd']:>10.5f}  {xai:>10}"
    )
