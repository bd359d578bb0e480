"""The alignment mechanisms that ``xai`` selects, with their settings.

``DiXtillClassifier(xai=...)`` takes a name, ``"shap"``, ``"gradient"`` or
``"attention"``, for the default settings, or one of these objects to change
them. The objects hold settings only; the computations are in
``_alignment.py``.
"""

# License: BSD-3-Clause

from numbers import Integral, Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ._attention import LAYER_MAPPINGS


class AlignmentMechanism(BaseEstimator):
    """Base class of the settings of an alignment mechanism."""

    #: The name that ``xai`` gives this mechanism.
    name = None

    def build_term(self, context):
        """Compute the teacher's side of the alignment term of a neural student.

        Parameters
        ----------
        context : AlignmentContext

        Returns
        -------
        term : object
            Its ``bind(module, seed)`` fits it to the student's initialised
            module. The bound term, called with the module, returns the
            alignment loss on a sample of ``n_rows`` attributed rows.
        """
        raise NotImplementedError


class ShapAlignment(AlignmentMechanism):
    """Align SHAP values: the settings of ``xai="shap"``.

    A linear or additive student uses its closed-form SHAP values and ignores
    these settings. A neural student's SHAP values are estimated, at every
    training step, on ``n_rows`` rows drawn from those whose teacher
    attributions are cached, against ``n_background`` rows drawn from the
    distiller's background sample. They are interventional SHAP values, so
    a tree teacher explained with ``feature_perturbation="interventional"``
    is compared like with like.

    Parameters
    ----------
    method : {"kernel", "expected_gradients"}, default="kernel"
        ``"kernel"``: KernelSHAP as a fixed linear map of the student's
        log-odds on masked inputs, exact over all coalitions when
        ``2 ** n_features - 2 <= n_coalitions``, else over ``n_coalitions``
        paired samples drawn once per fit. Each original column is one
        player, so all the columns it expands to are masked together.
        ``"expected_gradients"``: expected gradients with ``n_samples`` draws
        per row, cheaper with many features but equal to SHAP values only for
        models linear in their input.
    n_rows : int, default=32
        Attributed rows the alignment term is computed on at each step.
    n_coalitions : int, default=32
        Coalitions evaluated per row by ``"kernel"``.
    n_background : int, default=4
        Background rows drawn at each step.
    n_samples : int, default=16
        Draws per row of ``"expected_gradients"``.

    Notes
    -----
    ``"kernel"`` evaluates the student on ``n_rows * (n_coalitions + 2) *
    n_background`` rows per step, so these three settings set its cost. A
    few background rows per step give a noisy but unbiased estimate of the
    coalition values, and the noise averages out over the steps. This was
    measured on Adult by ``benchmarks/neural_students.py`` on 2 CPU cores,
    with an MLP (128, 64) student of XGBoost, 10 epochs and ``beta=0.3``.
    There these defaults trained in 3.6 times the time of classic
    distillation and raised the SHAP correlation with the teacher on test
    rows from 0.917 to 0.936. With 66 coalitions and 16 background rows per
    step, a trial run reached 0.935 in about 7 times the training time of
    the defaults.

    See Also
    --------
    KernelShap : The differentiable KernelSHAP estimate.
    expected_gradients : The differentiable expected-gradients estimate.

    Examples
    --------
    >>> from skdixtill.neural import ShapAlignment
    >>> ShapAlignment(method="expected_gradients", n_rows=64)
    ShapAlignment(method='expected_gradients', n_rows=64)
    """

    name = "shap"

    _parameter_constraints = {
        "method": [StrOptions({"kernel", "expected_gradients"})],
        "n_rows": [Interval(Integral, 1, None, closed="left")],
        "n_coalitions": [Interval(Integral, 2, None, closed="left")],
        "n_background": [Interval(Integral, 1, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        method="kernel",
        *,
        n_rows=32,
        n_coalitions=32,
        n_background=4,
        n_samples=16,
    ):
        self.method = method
        self.n_rows = n_rows
        self.n_coalitions = n_coalitions
        self.n_background = n_background
        self.n_samples = n_samples

    def build_term(self, context):
        from ._alignment import ShapTerm

        return ShapTerm.build(self, context)


class GradientAlignment(AlignmentMechanism):
    """Align input gradients: the settings of ``xai="gradient"``.

    The term compares ``grad_x log p(y* | x)`` of teacher and student, summed
    onto the original columns and scale-normalised as SHAP values are. The
    teacher must expose a torch module: a skorch ``NeuralNetClassifier`` or a
    :class:`ModuleClassifier`, alone or at the end of a Pipeline. Its
    gradients are computed once per fit on the attributed rows.

    Parameters
    ----------
    target : {"predicted", "true"}, default="predicted"
        ``y*``: the class the teacher predicts, or the true label.
    n_rows : int, default=32
        Attributed rows the term is computed on at each step.
    smoothgrad_samples : int, default=0
        Noisy copies per row for SmoothGrad; 0 uses plain gradients.
    smoothgrad_noise : float, default=0.1
        Standard deviation of the SmoothGrad noise, as a fraction of each
        input column's standard deviation.

    Examples
    --------
    >>> from skdixtill.neural import GradientAlignment
    >>> GradientAlignment(target="true", smoothgrad_samples=8)
    GradientAlignment(smoothgrad_samples=8, target='true')
    """

    name = "gradient"

    _parameter_constraints = {
        "target": [StrOptions({"predicted", "true"})],
        "n_rows": [Interval(Integral, 1, None, closed="left")],
        "smoothgrad_samples": [Interval(Integral, 0, None, closed="left")],
        "smoothgrad_noise": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        target="predicted",
        *,
        n_rows=32,
        smoothgrad_samples=0,
        smoothgrad_noise=0.1,
    ):
        self.target = target
        self.n_rows = n_rows
        self.smoothgrad_samples = smoothgrad_samples
        self.smoothgrad_noise = smoothgrad_noise

    def build_term(self, context):
        from ._alignment import GradientTerm

        return GradientTerm.build(self, context)


class AttentionAlignment(AlignmentMechanism):
    """Align attention maps: the settings of ``xai="attention"``.

    Teacher and student modules must follow the attention interface
    (``forward(X, return_attention=True)`` returns ``(logits, attention)``,
    see :class:`FeatureTokenTransformer`) over the same tokens. The teacher's
    maps are computed once per fit on the attributed rows. Attention rows are
    distributions already, so no scale normalisation is applied.

    Parameters
    ----------
    layer_mapping : {"uniform", "last", "skip"}, default="uniform"
        Which teacher layer each student layer is aligned with, see
        :func:`layer_mapping`.
    skip_step : int or None, default=None
        The step of ``"skip"``; None takes ``n_teacher_layers //
        n_student_layers``.
    n_rows : int, default=32
        Attributed rows the term is computed on at each step.

    Examples
    --------
    >>> from skdixtill.neural import AttentionAlignment
    >>> AttentionAlignment(layer_mapping="last")
    AttentionAlignment(layer_mapping='last')
    """

    name = "attention"

    _parameter_constraints = {
        "layer_mapping": [StrOptions(set(LAYER_MAPPINGS))],
        "skip_step": [Interval(Integral, 1, None, closed="left"), None],
        "n_rows": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, layer_mapping="uniform", *, skip_step=None, n_rows=32):
        self.layer_mapping = layer_mapping
        self.skip_step = skip_step
        self.n_rows = n_rows

    def build_term(self, context):
        from ._alignment import AttentionTerm

        return AttentionTerm.build(self, context)


_DEFAULTS = {
    "shap": ShapAlignment,
    "gradient": GradientAlignment,
    "attention": AttentionAlignment,
}


def resolve_mechanism(xai):
    """Return the settings object of an ``xai`` name or object, validated."""
    mechanism = _DEFAULTS[xai]() if isinstance(xai, str) else xai
    mechanism._validate_params()
    return mechanism
