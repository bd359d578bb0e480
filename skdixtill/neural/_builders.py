"""Builder of a small MLP student for tabular data."""

# License: BSD-3-Clause

from sklearn.pipeline import Pipeline

from ..students._builders import make_default_student


def make_mlp_student(
    X,
    hidden=(64, 32),
    *,
    dropout=0.0,
    max_epochs=20,
    batch_size=256,
    lr=1e-3,
    weight_decay=0.0,
    train_split=None,
    callbacks=None,
    device="cpu",
    verbose=0,
    **net_params,
):
    """Build a small MLP student: the default preprocessing, then a skorch net.

    The preprocessing is that of :func:`~skdixtill.make_default_student`:
    numeric columns imputed with their median (with an indicator column where
    values were missing at fit) and standardised, categorical columns one-hot
    encoded. The net is a skorch ``NeuralNetClassifier`` around
    :class:`~skdixtill.neural.MLP`, trained with Adam on shuffled batches.
    The number of input columns and of classes is set by the distiller at
    fit.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Only the column types are read.
    hidden : tuple of int, default=(64, 32)
        Units of each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    max_epochs : int, default=20
    batch_size : int, default=256
    lr : float, default=1e-3
        Learning rate of Adam.
    weight_decay : float, default=0.0
        L2 penalty of Adam.
    train_split : callable or None, default=None
        skorch's validation split, e.g. ``skorch.dataset.ValidSplit(0.1,
        stratified=True)``; None trains on all rows. Early stopping
        (``skorch.callbacks.EarlyStopping``) needs one.
    callbacks : list or None, default=None
        skorch callbacks.
    device : str, default="cpu"
    verbose : int, default=0
        1 prints skorch's per-epoch table, with the CE, KD and XAI terms as
        columns when trained by the distiller.
    **net_params
        Further parameters of ``NeuralNetClassifier``, such as
        ``optimizer=torch.optim.SGD``.

    Returns
    -------
    student : Pipeline
        An unfitted Pipeline ending in a ``NeuralNetClassifier`` named
        ``"net"``.

    See Also
    --------
    skdixtill.make_default_student : The same preprocessing before a
        LogisticRegression.

    Examples
    --------
    >>> import pandas as pd
    >>> from skdixtill.neural import make_mlp_student
    >>> X = pd.DataFrame({"age": [30, 40], "job": ["a", "b"]})
    >>> make_mlp_student(X, hidden=(16,)).named_steps["net"].module__hidden
    (16,)
    """
    _check_mlp_settings(hidden, dropout, max_epochs, batch_size, lr)

    import torch
    from skorch import NeuralNetClassifier

    from ._modules import MLP

    columns = make_default_student(X).steps[0][1]
    net = NeuralNetClassifier(
        MLP,
        module__hidden=tuple(hidden),
        module__dropout=dropout,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        optimizer__weight_decay=weight_decay,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        train_split=train_split,
        callbacks=callbacks,
        device=device,
        verbose=verbose,
        **net_params,
    )
    return Pipeline([("columns", columns), ("net", net)])


def _check_mlp_settings(hidden, dropout, max_epochs, batch_size, lr):
    """Reject settings that cannot train an MLP, before anything is fitted."""
    problems = []
    units = tuple(hidden) if hasattr(hidden, "__iter__") else (hidden,)
    if not units or not all(isinstance(u, int) and u > 0 for u in units):
        problems.append(f"hidden={hidden!r} (expected positive integers)")
    if not 0 <= dropout < 1:
        problems.append(f"dropout={dropout!r} (expected a value in [0, 1))")
    if not (isinstance(max_epochs, int) and max_epochs > 0):
        problems.append(f"max_epochs={max_epochs!r} (expected a positive integer)")
    if not (isinstance(batch_size, int) and (batch_size > 0 or batch_size == -1)):
        problems.append(
            f"batch_size={batch_size!r} (expected a positive integer, or -1 for "
            "all rows)"
        )
    if not lr > 0:
        problems.append(f"lr={lr!r} (expected a positive number)")
    if problems:
        raise ValueError("Invalid MLP student settings: " + "; ".join(problems) + ".")
