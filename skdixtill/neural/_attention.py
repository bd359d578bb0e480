"""Attention maps of torch modules, layer mappings and the attention distance.

A module takes part in attention alignment when its forward method accepts
``return_attention=True`` and then returns ``(logits, attention)``:
``logits`` of shape (n_samples, n_classes) and ``attention`` a list or tuple
with one tensor per layer, of shape (n_samples, n_heads, n_tokens, n_tokens).
:class:`~skdixtill.neural.FeatureTokenTransformer` is an example.

The distance between the maps of a student of ``L_S`` layers and a teacher of
``L_T`` layers is

    1 / L_S * sum_l mean_heads || A_teacher^(m(l)) - A_student^(l) ||_F^2

averaged over rows, ``m`` the layer mapping. When the two layers have
different numbers of heads, both are first averaged over their heads.
"""

# License: BSD-3-Clause

import math

import torch

LAYER_MAPPINGS = ("uniform", "last", "skip")


def attention_maps(module, Z, role="student"):
    """Return (logits, attention) of a module that follows the attention interface.

    Raises a TypeError or ValueError naming ``role`` when the module does not
    return attention maps of the documented shapes.
    """
    name = type(module).__name__
    try:
        output = module(Z, return_attention=True)
    except TypeError as error:
        if "return_attention" not in str(error):
            raise
        raise TypeError(
            f"xai='attention' needs the {role}'s module to return attention maps, "
            f"but {name}.forward does not accept return_attention ({error}). "
            "Add a return_attention argument to forward that returns (logits, "
            "[one tensor of shape (n_samples, n_heads, n_tokens, n_tokens) per "
            "layer]), as FeatureTokenTransformer does, or use xai='shap'."
        ) from error
    if not (isinstance(output, tuple) and len(output) == 2):
        raise ValueError(
            f"xai='attention' needs {name}.forward(X, return_attention=True) to "
            f"return a pair (logits, attention); the {role}'s module returned "
            f"{_describe(output)}."
        )
    logits, attention = output
    if not isinstance(attention, (list, tuple)) or len(attention) == 0:
        raise ValueError(
            f"The {role}'s module {name} returned no attention maps: expected a "
            "non-empty list with one tensor of shape (n_samples, n_heads, "
            f"n_tokens, n_tokens) per layer; got {_describe(attention)}."
        )
    for layer, maps in enumerate(attention):
        if not (
            isinstance(maps, torch.Tensor)
            and maps.ndim == 4
            and maps.shape[0] == len(Z)
            and maps.shape[2] == maps.shape[3]
        ):
            raise ValueError(
                f"Layer {layer} of the {role}'s module {name} returned attention "
                f"of {_describe(maps)}; expected shape ({len(Z)}, n_heads, "
                "n_tokens, n_tokens)."
            )
    return logits, list(attention)


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def layer_mapping(n_student_layers, n_teacher_layers, mapping="uniform", step=None):
    """Return the teacher layer, 0-based, that each student layer is aligned with.

    With layers numbered from 1:

    - ``"uniform"`` maps student layer ``l`` to teacher layer
      ``round(l * L_T / L_S)``, rounding halves up;
    - ``"last"`` maps the student's layers to the teacher's last ``L_S``;
    - ``"skip"`` maps student layer ``l`` to teacher layer ``l * step``,
      every ``step``-th layer, ``step`` defaulting to ``L_T // L_S``.

    Parameters
    ----------
    n_student_layers, n_teacher_layers : int
    mapping : {"uniform", "last", "skip"}, default="uniform"
    step : int or None, default=None
        Only for ``"skip"``.

    Returns
    -------
    teacher_layers : list of int
        One 0-based teacher layer index per student layer.

    Examples
    --------
    >>> from skdixtill.neural import layer_mapping
    >>> layer_mapping(2, 6, "uniform"), layer_mapping(2, 6, "last")
    ([2, 5], [4, 5])
    >>> layer_mapping(3, 7, "skip")
    [1, 3, 5]
    """
    L_S, L_T = n_student_layers, n_teacher_layers
    if L_S > L_T:
        raise ValueError(
            f"The student has {L_S} attention layers and the teacher {L_T}; layer "
            "mappings need a student with no more layers than its teacher. Use a "
            "shallower student or a deeper teacher."
        )
    if mapping == "uniform":
        return [math.floor(k * L_T / L_S + 0.5) - 1 for k in range(1, L_S + 1)]
    if mapping == "last":
        return [L_T - L_S + k - 1 for k in range(1, L_S + 1)]
    if mapping == "skip":
        if step is None:
            step = L_T // L_S
        if step < 1 or L_S * step > L_T:
            raise ValueError(
                f"layer_mapping='skip' with step={step} maps {L_S} student layers "
                f"beyond the teacher's {L_T}; use a step between 1 and "
                f"{L_T // L_S}."
            )
        return [k * step - 1 for k in range(1, L_S + 1)]
    raise ValueError(f"layer mapping must be one of {LAYER_MAPPINGS}; got {mapping!r}.")


def attention_distance(teacher_maps, student_maps, weights):
    """Return ``1 / L_S * sum_l mean_heads ||A_T - A_S||_F^2``, averaged over rows.

    Parameters
    ----------
    teacher_maps : list of tensor of shape (n_samples, n_heads_teacher, T, T)
        The teacher's maps of the layers mapped to the student's, in the
        student's layer order.
    student_maps : list of tensor of shape (n_samples, n_heads_student, T, T)
    weights : tensor of shape (n_samples,)
        Sample weights of the rows.

    Returns
    -------
    distance : scalar tensor
    """
    total = 0.0
    for teacher, student in zip(teacher_maps, student_maps, strict=True):
        if teacher.shape[1] != student.shape[1]:
            teacher = teacher.mean(dim=1, keepdim=True)
            student = student.mean(dim=1, keepdim=True)
        squared = ((teacher - student) ** 2).sum(dim=(2, 3)).mean(dim=1)
        total = total + torch.sum(squared * weights) / torch.sum(weights)
    return total / len(student_maps)
