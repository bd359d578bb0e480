"""Training, prediction and explanation of neural students inside the distiller.

``DiXtillClassifier`` calls into this module when its student is a skorch
``NeuralNetClassifier`` (alone or at the end of a Pipeline of column-wise
steps) or when ``xai`` is not ``"shap"``.

The fitted ``student_`` is the user's own net class, with the trained
weights and the training history. Its ``criterion`` is set to
``torch.nn.CrossEntropyLoss``, so that skorch's ``predict_proba`` applies a
softmax to the module's logits. Like any skorch ``NeuralNetClassifier``, its
``predict`` returns class indices 0..n_classes-1, in the order of the
distiller's ``classes_``; the distiller's ``predict`` returns the labels.
"""

# License: BSD-3-Clause

import inspect
import sys
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .._groups import group_matrix
from ..attributions._teacher import PROBA_CLIP, to_dense
from ._alignment import AlignmentContext, module_output
from ._kernel_shap import KernelShap
from ._mechanisms import ShapAlignment, resolve_mechanism
from ._net import (
    INPUT_KEY,
    ROW_KEY,
    TERM_COLUMNS,
    DistillationTargets,
    training_net_class,
)
from ._teachers import is_differentiable, module_dtype

# explain() evaluates every coalition up to this many input columns, and
# this many coalitions above it. On Adult (14 columns) with an MLP (128, 64)
# student, 512 coalitions came within about 1 % (relative RMS) of the exact
# values over all 16,384 coalitions, as benchmarks/neural_students.py
# measures.
EXPLAIN_MAX_EXACT_FEATURES = 10
EXPLAIN_N_COALITIONS = 512


def neural_net_of(student):
    """Return the skorch net at the end of ``student``, or None."""
    # A skorch net exists only once skorch is imported; linear students
    # should not pay for importing it.
    skorch = sys.modules.get("skorch")
    if skorch is None:
        return None
    final = student.steps[-1][1] if isinstance(student, Pipeline) else student
    return final if isinstance(final, skorch.NeuralNet) else None


def check_neural_setup(teacher, student, xai):
    """Check that ``xai`` suits the teacher and the student.

    Returns whether the student is neural.

    Runs before the teacher is fitted, so that a teacher that cannot serve
    the mechanism fails fast.
    """
    mechanism = resolve_mechanism(xai)
    net = None if student is None else neural_net_of(student)
    if net is not None and not _is_multiclass_net(net):
        raise TypeError(
            f"A neural student must be a skorch NeuralNetClassifier whose module "
            f"returns one logit per class; got {type(net).__name__}. Wrap the "
            "module in NeuralNetClassifier, or use make_mlp_student(X)."
        )
    if net is None and not isinstance(mechanism, ShapAlignment):
        raise ValueError(
            f"xai={mechanism.name!r} needs a neural student, a skorch "
            "NeuralNetClassifier alone or at the end of a Pipeline; got "
            f"student={type(student).__name__ if student is not None else None}. "
            "Pass student=make_mlp_student(X), or use xai='shap'."
        )
    if mechanism.name in ("gradient", "attention") and not is_differentiable(teacher):
        raise TypeError(
            f"xai={mechanism.name!r} differentiates the teacher with respect to its "
            "input, so the teacher must be a skorch NeuralNetClassifier or a trained "
            "torch module wrapped in skdixtill.neural.ModuleClassifier (alone or at "
            f"the end of a Pipeline); got {_final_name(teacher)}. Tree ensembles and "
            "other teachers are aligned with xai='shap'."
        )
    return net is not None


def _is_multiclass_net(net):
    from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

    return isinstance(net, NeuralNetClassifier) and not isinstance(
        net, NeuralNetBinaryClassifier
    )


def _final_name(model):
    from ..attributions._teacher import split_pipeline

    return type(split_pipeline(model)[1]).__name__


def fit_neural_student(distiller, X, teacher_logits, sample_weight, rng):
    """Train the distiller's neural student and return it fitted.

    Sets the distiller's ``history_``, ``n_iter_``, ``attribution_stats_``,
    output spaces, and the private state that ``explain`` uses.
    """
    mechanism = resolve_mechanism(distiller.xai)
    student = clone(distiller.student)
    net = neural_net_of(student)
    preprocessor = student[:-1] if isinstance(student, Pipeline) else None
    if preprocessor is not None and len(preprocessor.steps) == 0:
        preprocessor = None

    y = distiller._y
    raw = X if preprocessor is None else preprocessor.fit_transform(X, y)
    Z = _dense_columns(raw)
    weights = np.ones(len(Z)) if sample_weight is None else np.asarray(sample_weight)
    distiller._student_mean = np.average(Z, axis=0, weights=weights)
    groups = distiller._groups(preprocessor, Z.shape[1], "student")
    distiller._student_groups_matrix = group_matrix(groups, distiller.n_features_in_)
    n_classes = len(distiller.classes_)
    sizes = _module_sizes(net, Z.shape[1], n_classes)

    context = AlignmentContext(distiller, X, Z, weights, teacher_logits, rng)
    term = _alignment_term(mechanism, context)
    # Drawn after the attributed rows, so that those are the rows a linear
    # student with the same random_state uses, and the cache serves both.
    seed = int(rng.randint(np.iinfo(np.int32).max))

    training_net = _training_net(net, sizes, distiller.verbose)
    with _seeded_torch(seed, training_net.device):
        training_net.initialize()
        module = training_net.module_
        _check_input_dtype(module, raw)
        if term is not None:
            term.bind(module, seed)
        dtype = module_dtype(module)
        device = next(module.parameters()).device
        training_net.distillation_ = DistillationTargets(
            torch.as_tensor(teacher_logits, dtype=dtype, device=device),
            torch.as_tensor(weights, dtype=dtype, device=device),
            distiller.alpha,
            distiller.beta,
            distiller.temperature,
            term,
        )
        inputs = {
            INPUT_KEY: Z.astype(_numpy_dtype(dtype)),
            ROW_KEY: np.arange(len(Z), dtype=np.int64),
        }
        training_net.partial_fit(inputs, y.astype(np.int64))

        _write_back(net, sizes, training_net)
    distiller.student_output_space_ = "log-odds"
    distiller.history_ = _epoch_history(training_net.history)
    distiller.n_iter_ = len(distiller.history_)
    distiller._student_background = Z[distiller._background_rows]
    distiller._student_explainer = KernelShap(
        distiller._student_groups_matrix.T,
        max_exact_players=EXPLAIN_MAX_EXACT_FEATURES,
        n_coalitions=EXPLAIN_N_COALITIONS,
        random_state=seed,
    )
    return student


def _alignment_term(mechanism, context):
    distiller = context.distiller
    if distiller.alpha == 0 or distiller.beta == 0:
        # Sets the teacher's explainer, for explain_teacher, and no more.
        distiller._alignment_data(context.X, context.weights, context.rng)
        return None
    return mechanism.build_term(context)


def _dense_columns(raw):
    try:
        Z = to_dense(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(
            "The neural student cannot take X as it is: its module needs numbers "
            f"({error}). Put the net in a Pipeline that encodes string columns, as "
            "make_mlp_student(X) does."
        ) from error
    if not np.isfinite(Z).all():
        raise ValueError(
            "The neural student's input contains NaN or infinity. Add a "
            "SimpleImputer before the net, as make_mlp_student(X) does."
        )
    return Z


def _module_sizes(net, n_columns, n_classes):
    """Return the ``module__n_features`` and ``module__n_classes`` to set, if any.

    Modules whose ``n_features`` or ``n_classes`` default to None, such as
    ``MLP`` and ``FeatureTokenTransformer``, get them from the data, unless
    the net sets them.
    """
    module = net.module
    if not inspect.isclass(module):
        return {}
    parameters = inspect.signature(module).parameters
    sizes = {}
    for name, value in (("n_features", n_columns), ("n_classes", n_classes)):
        set_by_user = net.get_params(deep=False).get(f"module__{name}")
        accepted = name in parameters and parameters[name].default is None
        if accepted and set_by_user is None:
            sizes[f"module__{name}"] = value
    return sizes


def _training_net(net, sizes, verbose):
    from skorch.callbacks import PassthroughScoring

    params = net.get_params(deep=False)
    params.update(sizes)
    # The DiXtill loss replaces the criterion in training; CrossEntropyLoss
    # makes skorch's predict_proba apply a softmax to the logits.
    params["criterion"] = torch.nn.CrossEntropyLoss
    # Before the user's callbacks, so that early stopping can monitor the
    # terms and does not stop the epoch before they are recorded.
    terms = [
        (name, PassthroughScoring(name=name, on_train=on_train))
        for name, on_train in TERM_COLUMNS
    ]
    params["callbacks"] = terms + list(params.get("callbacks") or [])
    if verbose > 0:
        params["verbose"] = max(int(params.get("verbose") or 0), 1)
    return training_net_class(type(net))(**params)


def _write_back(net, sizes, training_net):
    net.set_params(criterion=torch.nn.CrossEntropyLoss, **sizes)
    net.initialize()
    net.module_.load_state_dict(training_net.module_.state_dict())
    net.history = training_net.history


def _check_input_dtype(module, raw):
    """Raise a ValueError when the module fails on what student_ will pass it."""
    sample = raw[:2] if not hasattr(raw, "iloc") else raw.iloc[:2]
    if hasattr(sample, "toarray"):
        sample = sample.toarray()
    sample = np.asarray(sample)
    if sample.dtype.kind != "f":
        return
    device = next(module.parameters()).device
    try:
        with torch.no_grad():
            module(torch.as_tensor(sample).to(device))
    except RuntimeError as error:
        raise ValueError(
            f"The student's module fails on {sample.dtype} input, which student_ "
            f"passes it at predict time ({error}). Cast the input inside forward, "
            "e.g. X = X.to(self.weight.dtype), as skdixtill.neural.MLP does."
        ) from error


def _numpy_dtype(dtype):
    return torch.empty((), dtype=dtype).numpy().dtype


@contextmanager
def _seeded_torch(seed, device):
    """Seed torch's global generators inside the block and restore them after it."""
    device = torch.device(device if device is not None else "cpu")
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _epoch_history(history):
    rows = []
    for epoch in history:
        row = {
            "epoch": epoch["epoch"],
            "loss": epoch.get("train_loss"),
            "ce": epoch.get("train_ce"),
            "kd": epoch.get("train_kd"),
            "xai": epoch.get("train_xai"),
        }
        if "valid_loss" in epoch:
            row["valid_loss"] = epoch["valid_loss"]
        rows.append(row)
    return rows


# Prediction and explanation ---------------------------------------------


def _student_inputs(distiller, X):
    student = distiller.student_
    net = neural_net_of(student)
    raw = student[:-1].transform(X) if isinstance(student, Pipeline) else X
    Z = torch.as_tensor(to_dense(raw), dtype=module_dtype(net.module_))
    return net, Z


def _logits(distiller, X):
    net, Z = _student_inputs(distiller, X)
    logits = net.forward(Z, training=False)
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.double()


def neural_predict_proba(distiller, X):
    """Return the softmax of the neural student's logits, as float64."""
    return torch.softmax(_logits(distiller, X), dim=1).numpy()


def neural_predict_log_proba(distiller, X):
    """Return the log of the neural student's probabilities, clipped at 1e-7."""
    return np.log(np.clip(neural_predict_proba(distiller, X), PROBA_CLIP, 1.0))


def neural_decision_function(distiller, X):
    """Return the neural student's log-odds (binary) or logits (multiclass)."""
    logits = _logits(distiller, X)
    if logits.shape[1] == 2:
        return (logits[:, 1] - logits[:, 0]).numpy()
    return logits.numpy()


def neural_explain(distiller, X):
    """Return the neural student's SHAP values, of shape (n, n_features, n_outputs)."""
    net, Z = _student_inputs(distiller, X)
    module = net.module_
    device = next(module.parameters()).device
    background = torch.as_tensor(distiller._student_background, dtype=Z.dtype)
    was_training = module.training
    module.eval()
    try:
        phi = distiller._student_explainer.attributions_no_grad(
            module_output(module), Z.to(device), background.to(device)
        )
    finally:
        module.train(was_training)
    return phi.double().cpu().numpy()
