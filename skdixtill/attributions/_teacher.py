"""Teacher outputs and SHAP attributions, checked for additivity.

Tree ensembles are explained with TreeSHAP (``shap.TreeExplainer``), which is
exact. Boosted trees (XGBoost, LightGBM, scikit-learn's gradient boosting)
are explained in their margin, the log-odds; forests and single trees in
probability. Any other teacher is explained with ``shap``'s permutation
explainer on the log-odds of ``predict_proba`` (or on ``decision_function``),
which is model-agnostic but costs many model calls per row.

Internally every attribution array has shape ``(n_samples, n_features,
n_outputs)``: ``n_outputs`` is 1 for binary problems (the output for
``classes_[1]``) and ``n_classes`` otherwise, in the order of the distiller's
``classes_``.
"""

# License: BSD-3-Clause

import contextlib
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

LOG_ODDS = "log-odds"
PROBABILITY = "probability"
DECISION_FUNCTION = "decision function"

# Probabilities are clipped before the logarithm so that a teacher certain of
# a class still has finite logits.
PROBA_CLIP = 1e-7

_MARGIN_TREE_MODELS = (
    "XGBClassifier",
    "LGBMClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
)
_PROBABILITY_TREE_MODELS = (
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
)


class AttributionWarning(UserWarning):
    """Warning about the cost or the exactness of attributions."""


class AdditivityError(ValueError):
    """Raised when attributions plus the base value do not add up to the output."""


def unwrap(model):
    """Return the model inside a FrozenEstimator, or the model itself."""
    while isinstance(model, FrozenEstimator):
        model = model.estimator
    return model


def split_pipeline(model):
    """Split a fitted model into its preprocessing steps and final estimator.

    Returns
    -------
    preprocessor : Pipeline or None
        The steps before the final estimator, ``None`` when there are none.
    final : estimator
        The final estimator, with any FrozenEstimator removed.
    """
    model = unwrap(model)
    if isinstance(model, Pipeline):
        final = unwrap(model.steps[-1][1])
        if len(model.steps) == 1:
            return None, final
        return model[:-1], final
    return None, model


def is_tree_model(final):
    """Return whether TreeSHAP supports ``final`` for its number of classes."""
    name = type(final).__name__
    if name == "GradientBoostingClassifier":
        # shap 0.51 explains only its binary form.
        return len(final.classes_) == 2
    return name in _MARGIN_TREE_MODELS + _PROBABILITY_TREE_MODELS


def tree_output_space(final):
    """Return the output space that TreeSHAP explains for ``final``."""
    if type(final).__name__ in _MARGIN_TREE_MODELS:
        return LOG_ODDS
    return PROBABILITY


def class_positions(model_classes, classes):
    """Return where each class of ``classes`` sits in ``model_classes``."""
    lookup = {label: i for i, label in enumerate(list(model_classes))}
    return np.array([lookup[label] for label in classes], dtype=int)


def teacher_logits(teacher, X, classes):
    """Return the teacher's logits, shape (n_samples, n_classes), in ``classes`` order.

    Teachers with ``predict_proba`` give the log of their clipped
    probabilities, whose softmax is the teacher's own probabilities. Teachers
    with only ``decision_function`` give their decision values.
    """
    positions = class_positions(teacher.classes_, classes)
    if hasattr(teacher, "predict_proba"):
        proba = np.asarray(teacher.predict_proba(X), dtype=float)
        return np.log(np.clip(proba[:, positions], PROBA_CLIP, 1.0))
    decision = np.asarray(teacher.decision_function(X), dtype=float)
    if decision.ndim == 1:
        # Binary decision values score teacher.classes_[1] against classes_[0].
        sign = 1.0 if positions[1] == 1 else -1.0
        return np.column_stack([np.zeros_like(decision), sign * decision])
    return decision[:, positions]


def to_dense(Z):
    """Return ``Z`` as a dense float64 array."""
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    return np.asarray(Z, dtype=float)


def center_classes(phi):
    """Subtract the mean over classes, leaving binary attributions as they are.

    Softmax is unchanged by a shift common to all classes, so only the
    differences between the classes of a multiclass model are identified.
    """
    if phi.shape[-1] == 1:
        return phi
    return phi - phi.mean(axis=-1, keepdims=True)


class TeacherExplainer:
    """Compute a fitted teacher's SHAP attributions on its final estimator's input.

    Parameters
    ----------
    teacher : fitted classifier or Pipeline
    classes : ndarray of shape (n_classes,)
        The distiller's classes; attributions are given in this order.
    feature_perturbation : {"tree_path_dependent", "interventional"}
    background : array-like or None
        Rows of the original columns for the interventional mode and for the
        model-agnostic explainer.
    verbose : int
    seed : int or None
        Seed of the permutations drawn by the model-agnostic explainer.
    """

    def __init__(
        self, teacher, classes, feature_perturbation, background, verbose=0, seed=None
    ):
        self.teacher = teacher
        self.classes = np.asarray(classes)
        self.feature_perturbation = feature_perturbation
        self.verbose = verbose
        self.seed = seed

        self.preprocessor, self.final = split_pipeline(teacher)
        self.positions = class_positions(self.final.classes_, self.classes)
        self.is_tree = is_tree_model(self.final)
        self.background = None
        if background is not None:
            self.background = to_dense(self._transform(background))
        if self.is_tree:
            self.output_space = tree_output_space(self.final)
            self.method = f"TreeSHAP ({feature_perturbation})"
        else:
            self.output_space = (
                LOG_ODDS if hasattr(self.final, "predict_proba") else DECISION_FUNCTION
            )
            self.method = "permutation SHAP (model-agnostic)"

    def _transform(self, X):
        if self.preprocessor is None:
            return X
        return self.preprocessor.transform(X)

    def transformed(self, X):
        """Return X as the final estimator receives it, dense."""
        return to_dense(self._transform(X))

    def explain(self, X):
        """Return (phi, base_values) on the final estimator's input columns.

        phi has shape (n_samples, n_columns, n_outputs) and base_values shape
        (n_outputs,). Raises AdditivityError when they do not add up to the
        explained output.
        """
        Z = self.transformed(X)
        with warnings.catch_warnings():
            # The final estimator is called on arrays here, also when it was
            # fitted on a DataFrame, which is expected and worth no warning.
            warnings.filterwarnings(
                "ignore",
                message="X does not have valid feature names",
                category=UserWarning,
            )
            start = time.perf_counter()
            if self.is_tree:
                phi, base = self._tree_shap(Z)
            else:
                phi, base = self._permutation_shap(Z)
            self.seconds_ = time.perf_counter() - start
            self._check_additivity(Z, phi, base)
        return phi, base

    def _tree_shap(self, Z):
        import shap

        if self.feature_perturbation == "interventional":
            explainer = shap.TreeExplainer(
                self.final,
                data=self.background,
                feature_perturbation="interventional",
                model_output="raw",
            )
        else:
            explainer = shap.TreeExplainer(
                self.final, feature_perturbation="tree_path_dependent"
            )
        # Additivity is checked below against the teacher's own predictions.
        with _quiet_stderr(self.verbose == 0), warnings.catch_warnings():
            # shap 0.51 warns on every LightGBM binary model that its output
            # "has changed to a list of ndarray", yet returns one array.
            warnings.filterwarnings(
                "ignore", message="LightGBM binary classifier with TreeExplainer"
            )
            values = explainer.shap_values(Z, check_additivity=False)
        phi, base = self._select_outputs(np.asarray(values), explainer.expected_value)
        if self.feature_perturbation == "interventional":
            # The interventional base value is the mean output over the
            # background. shap 0.51 computes it with one intercept for all
            # classes, which is wrong for multiclass XGBoost 3 models that
            # have one intercept per class.
            base = self.output(self.background).mean(axis=0)
        return phi, base

    def _select_outputs(self, values, expected):
        expected = np.atleast_1d(np.asarray(expected, dtype=float))
        if values.ndim == 2:
            values = values[:, :, np.newaxis]
        n_model_outputs = values.shape[2]
        if len(self.classes) == 2:
            if n_model_outputs == 2:
                # Probability models give one column per class: keep classes[1].
                return values[:, :, [self.positions[1]]], expected[[self.positions[1]]]
            sign = 1.0 if self.positions[1] == 1 else -1.0
            return sign * values, sign * expected[:1]
        return values[:, :, self.positions], expected[self.positions]

    def _model_input(self, Z):
        """Return Z with the column names the final estimator was fitted with.

        A final estimator fitted on a DataFrame warns when it is given a plain
        array, so the dense array is named again before it is predicted on.
        """
        names = getattr(self.final, "feature_names_in_", None)
        if names is None or len(names) != Z.shape[1]:
            return Z
        return pd.DataFrame(Z, columns=names)

    def output(self, Z):
        """Return the explained output, shape (n_samples, n_outputs)."""
        Z = self._model_input(Z)
        if self.is_tree and self.output_space == LOG_ODDS:
            return self._margin(Z)
        if self.output_space == PROBABILITY:
            proba = np.asarray(self.final.predict_proba(Z), dtype=float)
            columns = self.positions[1:] if len(self.classes) == 2 else self.positions
            return proba[:, columns]
        return self._agnostic_output(Z)

    def _margin(self, Z):
        name = type(self.final).__name__
        if name == "XGBClassifier":
            margin = self.final.predict(Z, output_margin=True)
        elif name == "LGBMClassifier":
            margin = self.final.predict(Z, raw_score=True)
        else:
            margin = self.final.decision_function(Z)
        margin = np.asarray(margin, dtype=float)
        if margin.ndim == 1:
            sign = 1.0 if self.positions[1] == 1 else -1.0
            return sign * margin[:, np.newaxis]
        return margin[:, self.positions]

    def _agnostic_output(self, Z):
        logits = teacher_logits(self.final, self._model_input(Z), self.classes)
        if len(self.classes) == 2:
            return (logits[:, 1] - logits[:, 0])[:, np.newaxis]
        return logits

    def _permutation_shap(self, Z):
        import shap

        n_columns = Z.shape[1]
        masker = shap.maskers.Independent(
            self.background, max_samples=len(self.background)
        )
        # shap 0.51 calls np.random.seed(seed) and then draws permutations
        # from numpy's global generator, so the caller's global state is
        # saved and restored around it.
        global_state = np.random.get_state()
        try:
            explainer = shap.PermutationExplainer(
                self._agnostic_output, masker, seed=self.seed
            )
            result = explainer(Z, max_evals=2 * n_columns + 1, silent=self.verbose == 0)
        finally:
            np.random.set_state(global_state)
        values = np.asarray(result.values, dtype=float)
        base = np.asarray(result.base_values, dtype=float)
        if values.ndim == 2:
            values = values[:, :, np.newaxis]
        base = base.reshape(len(Z), -1)[0]
        return values, base

    def _check_additivity(self, Z, phi, base):
        if len(Z) == 0:
            return
        expected = self.output(Z)
        total = phi.sum(axis=1) + base
        if self.output_space != PROBABILITY and expected.shape[1] > 1:
            # Multiclass logits are identified up to a shift common to all
            # classes, so compare them after centring.
            expected = expected - expected.mean(axis=1, keepdims=True)
            total = total - total.mean(axis=1, keepdims=True)
        scale = max(1.0, float(np.max(np.abs(expected))))
        error = float(np.max(np.abs(total - expected)))
        if error > 1e-3 * scale:
            raise AdditivityError(
                f"The {self.method} attributions of the teacher "
                f"{type(self.final).__name__} plus the base value differ from its "
                f"{self.output_space} output by up to {error:.3g}, so they do not "
                "explain it. Try feature_perturbation="
                f"{_other_mode(self.feature_perturbation)!r}, or a teacher type "
                "that shap supports exactly."
            )


@contextlib.contextmanager
def _quiet_stderr(quiet):
    """Hide what compiled code writes to stderr, when ``quiet`` is true.

    shap's compiled interventional TreeSHAP draws a progress bar on the
    process's stderr, which Python's own redirection does not reach.
    """
    if not quiet:
        yield
        return
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        # No real stderr (a notebook or a captured stream): nothing to hide.
        yield
        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), descriptor)
            yield
    finally:
        os.dup2(saved, descriptor)
        os.close(saved)


def _other_mode(mode):
    if mode == "interventional":
        return "tree_path_dependent"
    return "interventional"


def warn_agnostic_cost(explainer, n_rows):
    """Warn that a teacher without TreeSHAP is explained by many model calls."""
    n_calls = n_rows * (2 * explainer.background.shape[1] + 1)
    warnings.warn(
        f"The teacher {type(explainer.final).__name__} is not a tree ensemble that "
        "TreeSHAP supports, so it is explained with shap's model-agnostic "
        f"permutation explainer: about {n_calls} evaluations of "
        f"{len(explainer.background)} background rows each for {n_rows} rows. "
        "Lower n_attribution_samples or n_background_samples to make fit faster. "
        "A differentiable teacher (a skorch net or ModuleClassifier) can be "
        "aligned with xai='gradient' instead, which needs no model-agnostic SHAP.",
        AttributionWarning,
        stacklevel=3,
    )
