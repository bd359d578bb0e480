"""DiXtillClassifier: explanation-guided knowledge distillation."""

# License: BSD-3-Clause

import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._groups import check_feature_groups, group_matrix, output_groups
from ._sampling import take_rows
from ._validation import (
    check_teacher,
    check_X,
    fit_params_with_weights,
    logistic_settings,
    split_student,
)
from .attributions._cache import (
    AttributionCache,
    cache_location,
    fingerprint,
    row_hashes,
)
from .attributions._linear import linear_attributions
from .attributions._teacher import (
    AdditivityError,
    AttributionWarning,
    TeacherExplainer,
    center_classes,
    teacher_logits,
    to_dense,
    unwrap,
    warn_agnostic_cost,
)
from .students._builders import make_default_student

# Bump when the way attributions are computed changes, so on-disk caches
# written by another version are not reused.
_CACHE_VERSION = 1


class DiXtillClassifier(ClassifierMixin, BaseEstimator):
    """Distil a teacher classifier into a small student that explains like it.

    The student is trained on the DiXtill loss

        L = (1 - alpha) * CE + alpha * (KD + beta * XAI)

    where CE is the cross-entropy against the labels, KD the Hinton
    distillation loss against the teacher's soft targets at ``temperature``,
    and XAI the distance between the scale-normalised SHAP values of teacher
    and student (``2 * (1 - c)``, ``c`` their uncentred correlation).

    Parameters
    ----------
    teacher : classifier
        Any classifier with ``predict_proba`` or ``decision_function``. It is
        cloned and fitted on (X, y), unless it is wrapped in
        ``sklearn.frozen.FrozenEstimator``, in which case it is used as it is.
        TreeSHAP explains XGBoost, LightGBM and scikit-learn's tree ensembles,
        alone or at the end of a Pipeline of column-wise steps. Other
        teachers are explained by shap's permutation explainer, at a higher
        cost.
    student : LogisticRegression or Pipeline, default=None
        A LogisticRegression, or a Pipeline of column-wise steps ending in
        one (an additive student, see ``make_additive_student``). ``None``
        builds ``make_default_student(X)`` at fit. Its ``C``, ``penalty``
        (``"l2"`` or None), ``fit_intercept``, ``class_weight``, ``max_iter``
        and ``tol`` are honoured. A skorch ``NeuralNetClassifier`` whose
        module returns logits, alone or at the end of such a Pipeline, is a
        neural student (see ``skdixtill.neural.make_mlp_student``): it is
        trained by skorch on the same loss, and ``student_`` is that net.
    xai : {"shap", "gradient", "attention"} or AlignmentMechanism, \
            default="shap"
        Which explanations are aligned. ``"gradient"`` (input gradients) and
        ``"attention"`` (attention maps) need a neural student and a teacher
        that exposes a torch module. The objects of ``skdixtill.neural``
        (``ShapAlignment``, ``GradientAlignment``, ``AttentionAlignment``)
        select a mechanism and set its options.
    alpha : float, default=0.5
        Weight of the teacher's terms (KD and XAI) against the labels' CE.
    beta : float, default=0.3
        Weight of the alignment term inside the teacher's share. ``beta=0``
        is classic knowledge distillation and computes no attributions.
    temperature : float, default=3.0
        Softmax temperature of the distillation term.
    feature_perturbation : {"tree_path_dependent", "interventional"}, \
            default="tree_path_dependent"
        How TreeSHAP treats absent features: along the trees' own paths, or
        against ``n_background_samples`` training rows (what a linear
        student's closed-form SHAP values compute). On Adult, students aligned
        to either mode correlated equally well with the teacher's attributions
        of both modes. The path-dependent mode explained rows about four times
        faster, and it needs no background, so fits on different rows share
        its cache (docs/method.md).
    n_attribution_samples : int, float or None, default=1000
        Training rows on which the teacher is explained and the alignment term
        is computed: a count, a fraction of the rows, or None for all rows.
        On Adult, students aligned on 500 to 4000 rows correlated equally
        well with the teacher on unseen rows.
    n_background_samples : int, default=100
        Training rows used as the background of interventional and
        model-agnostic SHAP.
    feature_groups : dict or None, default=None
        For steps that are not known to be column-wise: ``{"teacher": groups,
        "student": groups}``, ``groups[c]`` being the name or index of the
        input column that column ``c`` of the final estimator's input comes
        from. Either key may be left out.
    memory : str, joblib.Memory or None, default=None
        Folder of an on-disk cache of teacher attributions, shared between
        fits and processes. With None the cache is kept in the process only.
    random_state : int, RandomState instance or None, default=None
        Draws the attribution and background rows.
    verbose : int, default=0
        0 prints nothing; 1 prints the loss terms every 10 iterations; 2 every
        iteration, and shap's progress bars.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    teacher_ : classifier
        The fitted teacher.
    student_ : LogisticRegression or Pipeline
        The fitted student, a plain scikit-learn model. A linear or additive
        student predicts without torch. A skorch student's ``predict``
        returns class indices, as skorch's does; ``classes_[indices]`` gives
        the labels, and the distiller's own ``predict`` returns them.
    teacher_output_space_ : str
        What the teacher's attributions explain: ``"log-odds"``,
        ``"probability"`` or ``"decision function"``.
    student_output_space_ : str
        What the student's attributions explain, ``"log-odds"``.
    teacher_attribution_method_ : str
    history_ : list of dict
        The loss and its ``ce``, ``kd`` and ``xai`` terms after each
        iteration of the optimiser. For a neural student, one dict per
        epoch, with ``epoch`` in place of ``iteration``: the means over the
        epoch's batches, and ``valid_loss`` when the net holds out a
        validation split.
    n_iter_ : int
        Iterations of the optimiser, or epochs of a neural student.
    attribution_stats_ : dict
        Rows whose teacher attributions were requested and newly computed in
        this fit, and the seconds spent computing them.
    fit_seconds_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has column names that are all strings.

    See Also
    --------
    make_default_student : The student built when ``student=None``.
    make_additive_student : Splines and one-hot encoding before a
        LogisticRegression.
    make_teacher_pipeline : Ordinal encoding of string columns for tree teachers.

    Notes
    -----
    Attributions are reported per column passed in X. When a Pipeline
    expands a column (one-hot encoding, splines), the attributions of the
    expanded columns are summed back onto it: a convention, not the Shapley
    value of the original column. Multiclass attributions are centred over
    classes, because softmax is unchanged by a shift common to all classes.

    Boosted trees are explained in log-odds, forests in probability, and the
    student in log-odds; the scale normalisation of the alignment term makes
    them comparable without converting one into the other.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skdixtill import DiXtillClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = DiXtillClassifier(
    ...     RandomForestClassifier(n_estimators=20, random_state=0), random_state=0
    ... ).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> clf.explain(X[:3]).shape
    (3, 30)
    """

    _parameter_constraints = {
        "teacher": [HasMethods(["fit"]), None],
        "student": [HasMethods(["fit"]), None],
        # Objects are the settings classes of skdixtill.neural, such as
        # ShapAlignment.
        "xai": [
            StrOptions({"shap", "gradient", "attention"}),
            HasMethods(["build_term"]),
        ],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "feature_perturbation": [StrOptions({"interventional", "tree_path_dependent"})],
        "n_attribution_samples": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
            None,
        ],
        "n_background_samples": [Interval(Integral, 1, None, closed="left")],
        "feature_groups": [dict, None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        teacher=None,
        student=None,
        *,
        xai="shap",
        alpha=0.5,
        beta=0.3,
        temperature=3.0,
        feature_perturbation="tree_path_dependent",
        n_attribution_samples=1000,
        n_background_samples=100,
        feature_groups=None,
        memory=None,
        random_state=None,
        verbose=0,
    ):
        self.teacher = teacher
        self.student = student
        self.xai = xai
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.feature_perturbation = feature_perturbation
        self.n_attribution_samples = n_attribution_samples
        self.n_background_samples = n_background_samples
        self.feature_groups = feature_groups
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the teacher (unless frozen), explain it, and train the student.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in every loss term, also passed to the
            teacher's fit. Rows of weight zero are never explained, and the
            background is drawn in proportion to the weights. The student's
            preprocessing steps (imputer, scaler, encoders) are fitted
            without weights.

        Returns
        -------
        self : DiXtillClassifier
        """
        start = time.perf_counter()
        check_teacher(self.teacher)
        self._check_xai()
        X = check_X(X)
        validate_data(self, X, reset=True, skip_check_array=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        rng = check_random_state(self.random_state)

        self.teacher_ = self._fit_teacher(X, y, sample_weight)
        self._encode_labels(y)
        logits = teacher_logits(self.teacher_, X, self._teacher_classes())

        if self._is_neural:
            from .neural._fit import fit_neural_student

            self.student_ = fit_neural_student(self, X, logits, sample_weight, rng)
            self.fit_seconds_ = time.perf_counter() - start
            return self

        student, preprocessor, final = self._resolve_student(X)
        Z = self._student_columns(preprocessor, X, y)
        weights = np.ones(len(Z)) if sample_weight is None else sample_weight
        self._student_mean = np.average(Z, axis=0, weights=weights)
        groups = self._groups(preprocessor, Z.shape[1], "student")
        self._student_groups_matrix = group_matrix(groups, self.n_features_in_)

        alignment = self._alignment_data(X, weights, rng)
        coef, intercept = self._train_student(Z, logits, final, weights, alignment)
        self.student_ = self._write_back(student, final, coef, intercept, X)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _check_xai(self):
        from .neural._fit import check_neural_setup

        # Neural students, and the gradient and attention mechanisms, are
        # trained by skdixtill.neural.
        self._is_neural = check_neural_setup(self.teacher, self.student, self.xai)

    # Teacher -------------------------------------------------------------

    def _fit_teacher(self, X, y, sample_weight):
        teacher = clone(self.teacher)
        self._teacher_is_frozen = isinstance(self.teacher, FrozenEstimator)
        if self._teacher_is_frozen:
            check_is_fitted(
                unwrap(teacher),
                msg=(
                    "The frozen teacher %(name)s is not fitted. Fit it before "
                    "wrapping it in FrozenEstimator, or pass it unwrapped so "
                    "that the distiller fits it."
                ),
            )
            return teacher
        # Like StackingClassifier, fit on encoded labels, so that teachers that
        # only accept 0..n_classes-1 (XGBoost) take any labels.
        self._teacher_encoder = LabelEncoder().fit(y)
        y_encoded = self._teacher_encoder.transform(y)
        fit_params = fit_params_with_weights(teacher, sample_weight, "teacher")
        return teacher.fit(X, y_encoded, **fit_params)

    def _teacher_classes(self):
        """Return ``classes_`` as the teacher names them.

        A teacher fitted here saw labels encoded as 0..n_classes-1; a frozen
        teacher uses the labels of y.
        """
        if self._teacher_is_frozen:
            return self.classes_
        return np.arange(len(self.classes_))

    def _encode_labels(self, y):
        if self._teacher_is_frozen:
            known = np.asarray(self.teacher_.classes_)
            unseen = sorted(set(np.unique(y).tolist()) - set(known.tolist()))
            if unseen:
                raise ValueError(
                    f"y contains labels the frozen teacher never saw: {unseen}. "
                    f"The teacher knows {known.tolist()}. Drop those rows or refit "
                    "the teacher on them."
                )
            self.classes_ = np.sort(known)
        else:
            self.classes_ = self._teacher_encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class, {self.classes_.tolist()}; a classifier "
                "needs at least two classes to be distilled."
            )
        self._y = np.searchsorted(self.classes_, y) if len(y) else y

    # Student -------------------------------------------------------------

    def _resolve_student(self, X):
        student = self.student
        if student is None:
            student = make_default_student(X)
        student = clone(student)
        preprocessor, final = split_student(student)
        self._student_C = logistic_settings(final)
        return student, preprocessor, final

    def _student_columns(self, preprocessor, X, y):
        if preprocessor is None:
            transformed = X
        else:
            transformed = preprocessor.fit_transform(X, y)
        self._student_input_names = None
        if isinstance(transformed, pd.DataFrame):
            self._student_input_names = np.asarray(transformed.columns, dtype=object)
        try:
            Z = to_dense(transformed)
        except (TypeError, ValueError) as error:
            raise ValueError(
                "The student cannot take X as it is: its LogisticRegression needs "
                f"numbers ({error}). Pass student=None, or a student built with "
                "make_default_student(X), which one-hot encodes string columns."
            ) from error
        if not np.isfinite(Z).all():
            raise ValueError(
                "X contains NaN, which the student's steps leave in place. Add a "
                "SimpleImputer to the student, or pass student=None, whose "
                "default steps impute missing values."
            )
        return Z

    def _groups(self, preprocessor, n_columns, model):
        user_groups = (self.feature_groups or {}).get(model)
        if user_groups is not None:
            names = getattr(self, "feature_names_in_", None)
            return check_feature_groups(
                user_groups, n_columns, names, self.n_features_in_, model
            )
        groups = output_groups(preprocessor, self.n_features_in_)
        if len(groups) != n_columns:
            raise ValueError(
                f"The {model}'s steps output {n_columns} columns, but their known "
                f"structure accounts for {len(groups)}. Pass feature_groups to "
                "state which input column each output column comes from."
            )
        return groups

    def _train_student(self, Z, logits, final, weights, alignment):
        from .students._linear import LinearStudentProblem, fit_linear_student

        ce_weights = weights * self._class_weights(final, weights)
        C = self._student_C
        l2_strength = 0.0 if np.isinf(C) else 1.0 / (C * ce_weights.sum())
        problem = LinearStudentProblem(
            Z,
            self._y,
            len(self.classes_),
            logits,
            ce_weights,
            weights,
            alignment,
            self.alpha,
            self.beta,
            self.temperature,
            l2_strength,
            final.fit_intercept,
        )
        coef, intercept, n_iter, history, converged = fit_linear_student(
            problem, final.max_iter, final.tol, verbose=self.verbose
        )
        self.n_iter_ = n_iter
        self.history_ = history
        if not converged:
            warnings.warn(
                f"The student's optimiser stopped at max_iter={final.max_iter} "
                "before converging. Increase the student's max_iter, or scale "
                "the numeric columns.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return coef, intercept

    def _class_weights(self, final, weights):
        from sklearn.utils.class_weight import compute_sample_weight

        if final.class_weight is None:
            return np.ones(len(self._y))
        if isinstance(final.class_weight, str) and final.class_weight == "balanced":
            # Like LogisticRegression (scikit-learn 1.9), count each class by
            # the sum of its sample weights, not by its number of rows.
            counts = np.bincount(self._y, weights=weights, minlength=len(self.classes_))
            n_present = len(np.unique(self._y))
            per_class = np.zeros_like(counts)
            np.divide(counts.sum(), n_present * counts, out=per_class, where=counts > 0)
            return per_class[self._y]
        if isinstance(final.class_weight, dict):
            unknown = set(final.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"The student's class_weight names labels not in y: "
                    f"{sorted(unknown)}. Known labels: {self.classes_.tolist()}."
                )
        return compute_sample_weight(final.class_weight, self.classes_[self._y])

    def _write_back(self, student, final, coef, intercept, X):
        final.classes_ = self.classes_
        final.coef_ = coef
        final.intercept_ = intercept
        final.n_features_in_ = coef.shape[1]
        final.n_iter_ = np.array([self.n_iter_], dtype=np.int32)
        if self._student_input_names is not None:
            final.feature_names_in_ = self._student_input_names
        return student

    # Alignment -----------------------------------------------------------

    def _alignment_data(self, X, weights, rng):
        """Return the teacher's normalised attributions on a row sample, or None."""
        self.attribution_stats_ = {
            "rows_requested": 0,
            "rows_explained": 0,
            "seconds": 0.0,
        }
        self._set_explainer(X, rng, weights)
        if self.alpha == 0 or self.beta == 0:
            return None
        rows = self._attribution_rows(len(X), rng, weights)
        phi = self._teacher_attributions(take_rows(X, rows))
        # torch is imported here, not at module level, so that importing
        # skdixtill stays fast.
        import torch

        from ._losses import scale_normalize

        row_weights = torch.as_tensor(weights[rows], dtype=torch.float64)
        phi_normalized = scale_normalize(torch.as_tensor(phi), row_weights).numpy()
        return {
            "rows": rows,
            "teacher_phi": phi_normalized,
            "mean": self._student_mean,
            "groups_matrix": self._student_groups_matrix,
        }

    def _set_explainer(self, X, rng, weights=None):
        needs_background = self.feature_perturbation == "interventional"
        background_rows = self._background_rows_of(len(X), rng, weights)
        # Neural students are explained against the same rows.
        self._background_rows = background_rows
        background = take_rows(X, background_rows)
        explainer = TeacherExplainer(
            self.teacher_,
            self._teacher_classes(),
            self.feature_perturbation,
            background,
            verbose=self.verbose,
            seed=rng.randint(np.iinfo(np.int32).max),
        )
        if explainer.is_tree and not needs_background:
            explainer.background = None
        self._explainer = explainer
        self.teacher_output_space_ = explainer.output_space
        self.student_output_space_ = "log-odds"
        self.teacher_attribution_method_ = explainer.method
        n_columns = explainer.transformed(take_rows(X, [0])).shape[1]
        preprocessor = explainer.preprocessor
        groups = self._groups(preprocessor, n_columns, "teacher")
        self._teacher_groups_matrix = group_matrix(groups, self.n_features_in_)

    def _background_rows_of(self, n_samples, rng, weights):
        """Draw the background rows, in proportion to their sample weights."""
        if weights is None:
            n_background = min(self.n_background_samples, n_samples)
            return np.sort(rng.choice(n_samples, n_background, replace=False))
        weights = np.asarray(weights, dtype=float)
        n_background = min(self.n_background_samples, int(np.sum(weights > 0)))
        rows = rng.choice(
            n_samples, n_background, replace=False, p=weights / weights.sum()
        )
        return np.sort(rows)

    def _attribution_rows(self, n_samples, rng, weights=None):
        # Rows of weight zero do not count in the loss, so they are not drawn.
        candidates = np.arange(n_samples)
        if weights is not None:
            candidates = np.flatnonzero(np.asarray(weights) > 0)
        n_rows = self.n_attribution_samples
        if n_rows is None:
            return candidates
        if isinstance(n_rows, Real) and not isinstance(n_rows, Integral):
            n_rows = max(1, int(round(n_rows * n_samples)))
        if n_rows >= len(candidates):
            return candidates
        return np.sort(rng.choice(candidates, n_rows, replace=False))

    def _cache_key(self):
        """Return the cache key of the current explainer, hashed once per explainer.

        Hashing a large teacher takes a noticeable fraction of a second, and
        attribution stability calls explain_teacher once per noise draw.
        """
        explainer = self._explainer
        if getattr(self, "_cache_key_of", (None, None))[0] is not explainer:
            key = fingerprint(
                _CACHE_VERSION,
                self.teacher_,
                self._teacher_classes(),
                explainer.method,
                explainer.background,
                self._teacher_groups_matrix,
            )
            self._cache_key_of = (explainer, key)
        return self._cache_key_of[1]

    def _teacher_attributions(self, X):
        """Return the teacher's attributions per input column, cached or computed.

        Interventional TreeSHAP that does not add up to the teacher's output
        (shap 0.51 gets some forests and histogram gradient boosting wrong)
        falls back, with a warning, to the path-dependent mode, which is exact
        for tree ensembles.
        """
        explainer = self._explainer
        try:
            return self._explained_rows(X)
        except AdditivityError as error:
            if not (
                explainer.is_tree and explainer.feature_perturbation == "interventional"
            ):
                raise
            warnings.warn(
                f"{error} Falling back to feature_perturbation='tree_path_dependent'.",
                AttributionWarning,
                stacklevel=3,
            )
        self._explainer = TeacherExplainer(
            self.teacher_,
            self._teacher_classes(),
            "tree_path_dependent",
            None,
            verbose=self.verbose,
        )
        self.teacher_attribution_method_ = self._explainer.method
        return self._explained_rows(X)

    def _explained_rows(self, X):
        explainer = self._explainer
        if not explainer.is_tree:
            warn_agnostic_cost(explainer, len(X))
        cache = AttributionCache(self._cache_key(), cache_location(self.memory))
        hashes = row_hashes(X)
        found, cached = cache.get(hashes)
        missing = np.flatnonzero(~found)

        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        phi = np.empty((len(hashes), self.n_features_in_, n_outputs))
        if cached:
            phi[found] = np.stack(cached)
        if len(missing):
            computed, _ = explainer.explain(take_rows(X, missing))
            computed = np.einsum("ncK,cf->nfK", computed, self._teacher_groups_matrix)
            computed = center_classes(computed)
            phi[missing] = computed
            cache.put(hashes[missing], computed)
            self.attribution_stats_["seconds"] += explainer.seconds_
        self.attribution_stats_["rows_requested"] += len(hashes)
        self.attribution_stats_["rows_explained"] += len(missing)
        return phi

    # Prediction and explanation ------------------------------------------

    def _check_predict_input(self, X):
        check_is_fitted(self)
        X = check_X(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and not isinstance(X, pd.DataFrame):
            # validate_data has warned that X has no column names. The teacher
            # and the student select columns by name, so the names are put
            # back in the order seen at fit.
            X = pd.DataFrame(X, columns=names).infer_objects()
        return X

    def predict(self, X):
        """Predict class labels with the student.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        # Checked before reading student_, so that an unfitted distiller raises
        # NotFittedError rather than AttributeError.
        X = self._check_predict_input(X)
        if self._is_neural:
            # skorch's predict returns class indices, not labels.
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return self.student_.predict(X)

    def predict_proba(self, X):
        """Return the student's class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_predict_input(X)
        if self._is_neural:
            from .neural._fit import neural_predict_proba

            return neural_predict_proba(self, X)
        return self.student_.predict_proba(X)

    def predict_log_proba(self, X):
        """Return the log of the student's class probabilities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_predict_input(X)
        if self._is_neural:
            from .neural._fit import neural_predict_log_proba

            return neural_predict_log_proba(self, X)
        return self.student_.predict_log_proba(X)

    def decision_function(self, X):
        """Return the student's logits.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary problems give the log-odds of ``classes_[1]``.
        """
        X = self._check_predict_input(X)
        if self._is_neural:
            from .neural._fit import neural_decision_function

            return neural_decision_function(self, X)
        return self.student_.decision_function(X)

    def explain(self, X):
        """Return the student's SHAP values per input column, in log-odds.

        The values are exact: for a linear or additive student,
        ``phi_j(x) = sum over the columns c of j of w_c (z_c(x) - E[z_c])``,
        the expectation over the training rows.

        A neural student's values are interventional SHAP values against the
        ``n_background_samples`` rows drawn at fit, computed by KernelSHAP
        with each input column masked as a whole: exact (all coalitions) up
        to 10 columns, an estimate from 512 coalitions above that. The cost
        is one forward pass of the student per coalition and background row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        phi : ndarray of shape (n_samples, n_features) or \
                (n_samples, n_features, n_classes)
            The second form for multiclass problems, centred over classes.
        """
        X = self._check_predict_input(X)
        if self._is_neural:
            from .neural._fit import neural_explain

            return _public_shape(neural_explain(self, X))
        preprocessor, final = split_student(self.student_)
        Z = X if preprocessor is None else preprocessor.transform(X)
        # A NumPy computation: explaining needs no torch.
        phi = linear_attributions(
            to_dense(Z), final.coef_, self._student_mean, self._student_groups_matrix
        )
        return _public_shape(phi)

    def explain_teacher(self, X):
        """Return the teacher's SHAP values per input column.

        They are computed with the same explainer and background as at fit,
        and read from the attribution cache where the rows were explained
        before. The output space is ``teacher_output_space_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        phi : ndarray of shape (n_samples, n_features) or \
                (n_samples, n_features, n_classes)
            The second form for multiclass problems, centred over classes.
        """
        X = self._check_predict_input(X)
        return _public_shape(self._teacher_attributions(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The default student imputes missing values.
        tags.input_tags.allow_nan = self.student is None
        return tags


def _public_shape(phi):
    if phi.shape[-1] == 1:
        return phi[:, :, 0]
    return phi
