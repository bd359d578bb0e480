"""Alignment terms of neural students: teacher side once, student side per step.

A term is built in two phases. ``build`` computes, or reads from the
distiller's cache, the teacher's explanations of the attributed rows. It
draws those rows from the distiller's random state in the same order as a
linear student's fit, so both kinds of student share the cached teacher
attributions. ``bind`` then fits the term to the student's initialised
module. At every training step the term draws ``n_rows`` of the attributed
rows, explains the student on them and returns the distance between the two
explanations, through which gradients flow to the student's parameters.

The student's module is switched to evaluation mode while it is explained, so
that dropout does not add noise to its explanations. The CE and KD terms
still train it in training mode.
"""

# License: BSD-3-Clause

import time
from dataclasses import dataclass

import numpy as np
import torch

from .._losses import alignment_loss, scale_normalize
from .._sampling import take_rows
from ..attributions._teacher import class_positions, split_pipeline
from ._attention import attention_distance, attention_maps, layer_mapping
from ._expected_gradients import expected_gradients
from ._gradients import log_proba_gradients
from ._kernel_shap import KernelShap
from ._teachers import (
    differentiable_model,
    module_device,
    module_dtype,
    transformed_rows,
)

# Rows per forward pass when computing the teacher's gradients or attention.
_TEACHER_BATCH_SIZE = 512


@dataclass
class AlignmentContext:
    """Inputs of the alignment terms, taken from the distiller's fit.

    Attributes
    ----------
    distiller : DiXtillClassifier
        Being fitted: its teacher, classes and groups matrices are set.
    X : array-like or DataFrame of shape (n_samples, n_features)
    Z : ndarray of shape (n_samples, n_columns)
        The rows as the student's module receives them, float64.
    weights : ndarray of shape (n_samples,)
    teacher_logits : ndarray of shape (n_samples, n_classes)
    rng : RandomState
        Draws the background and attributed rows.
    """

    distiller: object
    X: object
    Z: np.ndarray
    weights: np.ndarray
    teacher_logits: np.ndarray
    rng: np.random.RandomState


def log_odds(logits):
    """Return the output a student's SHAP values explain.

    The log-odds ``z_1 - z_0`` of ``classes_[1]`` for two classes, of shape
    (n, 1); the logits centred over classes otherwise, of shape (n, n_classes).
    """
    if logits.shape[1] == 2:
        return (logits[:, 1] - logits[:, 0])[:, None]
    return logits - logits.mean(dim=1, keepdim=True)


def module_output(module):
    """Return the function from input rows to the log-odds of ``module``."""

    def output(Z):
        logits = module(Z)
        if isinstance(logits, tuple):
            logits = logits[0]
        return log_odds(logits)

    return output


class _Term:
    """Row sampling, dtype conversion and mode switching shared by the terms.

    Parameters
    ----------
    mechanism : AlignmentMechanism
    Z_rows : ndarray of shape (n_rows, n_columns)
        The attributed rows as the student's module receives them.
    weights_rows : ndarray of shape (n_rows,)
    """

    def __init__(self, mechanism, Z_rows, weights_rows):
        self.mechanism = mechanism
        self.Z_rows = Z_rows
        self.weights_rows = weights_rows

    def bind(self, module, seed):
        """Fit the term to the student's initialised module and seed its draws."""
        self.dtype = module_dtype(module)
        self.Z_rows = torch.as_tensor(self.Z_rows, dtype=self.dtype)
        self.weights_rows = torch.as_tensor(self.weights_rows, dtype=self.dtype)
        self.n_rows = min(self.mechanism.n_rows, len(self.Z_rows))
        self.generator = torch.Generator().manual_seed(seed)
        return self

    def __call__(self, module):
        positions = torch.randperm(len(self.Z_rows), generator=self.generator)
        was_training = module.training
        module.eval()
        try:
            return self.loss(module, positions[: self.n_rows])
        finally:
            module.train(was_training)

    def loss(self, module, positions):
        raise NotImplementedError


def _attributed_rows(context):
    """Set the teacher's explainer and draw the attributed rows like a linear fit."""
    distiller = context.distiller
    distiller._set_explainer(context.X, context.rng, context.weights)
    rows = distiller._attribution_rows(len(context.Z), context.rng, context.weights)
    # Gradients and attention maps are not cached, so every requested row
    # is computed.
    distiller.attribution_stats_ = {
        "rows_requested": len(rows),
        "rows_explained": len(rows),
        "seconds": 0.0,
    }
    return rows


def _teacher_module(distiller, mechanism_name):
    found = differentiable_model(distiller.teacher_)
    if found is None:
        raise TypeError(
            f"xai={mechanism_name!r} needs a teacher that exposes a torch module; "
            f"got {type(distiller.teacher_).__name__}. Use xai='shap'."
        )
    return found


class ShapTerm(_Term):
    """SHAP alignment of a neural student against cached teacher SHAP values."""

    def __init__(
        self, mechanism, Z_rows, weights_rows, teacher_phi, background, groups_matrix
    ):
        super().__init__(mechanism, Z_rows, weights_rows)
        self.teacher_phi = teacher_phi
        self.background = background
        self.groups_matrix = groups_matrix

    @classmethod
    def build(cls, mechanism, context):
        distiller = context.distiller
        alignment = distiller._alignment_data(context.X, context.weights, context.rng)
        rows = alignment["rows"]
        return cls(
            mechanism,
            context.Z[rows],
            context.weights[rows],
            alignment["teacher_phi"],
            context.Z[distiller._background_rows],
            distiller._student_groups_matrix,
        )

    def bind(self, module, seed):
        super().bind(module, seed)
        self.teacher_phi = torch.as_tensor(self.teacher_phi, dtype=self.dtype)
        self.background = torch.as_tensor(self.background, dtype=self.dtype)
        self.kernel = None
        if self.mechanism.method == "kernel":
            n_coalitions = self.mechanism.n_coalitions
            # Exact whenever all coalitions fit in the budget.
            self.kernel = KernelShap(
                self.groups_matrix.T,
                max_exact_players=int(np.floor(np.log2(n_coalitions + 2))),
                n_coalitions=n_coalitions,
                random_state=seed,
            )
        self.groups_matrix = torch.as_tensor(self.groups_matrix, dtype=self.dtype)
        return self

    def student_attributions(self, module, Z):
        device = module_device(module)
        output = module_output(module)
        n_background = min(self.mechanism.n_background, len(self.background))
        chosen = torch.randperm(len(self.background), generator=self.generator)
        background = self.background[chosen[:n_background]].to(device)
        if self.kernel is not None:
            return self.kernel.attributions(output, Z, background)
        phi = expected_gradients(
            output, Z, background, self.mechanism.n_samples, generator=self.generator
        )
        return torch.einsum("nco,cf->nfo", phi, self.groups_matrix.to(device))

    def loss(self, module, positions):
        device = module_device(module)
        Z = self.Z_rows[positions].to(device)
        weights = self.weights_rows[positions].to(device)
        student_phi = self.student_attributions(module, Z)
        teacher_phi = scale_normalize(self.teacher_phi[positions].to(device), weights)
        return alignment_loss(teacher_phi, student_phi, weights)


class GradientTerm(_Term):
    """Alignment of the input gradients of ``log p(y* | x)``."""

    def __init__(
        self, mechanism, Z_rows, weights_rows, targets, teacher_gradients, groups_matrix
    ):
        super().__init__(mechanism, Z_rows, weights_rows)
        self.targets = targets
        self.teacher_gradients = teacher_gradients
        self.groups_matrix = groups_matrix

    @classmethod
    def build(cls, mechanism, context):
        distiller = context.distiller
        rows = _attributed_rows(context)
        preprocessor, teacher_module = _teacher_module(distiller, mechanism.name)
        if mechanism.target == "predicted":
            targets = np.argmax(context.teacher_logits[rows], axis=1)
        else:
            targets = distiller._y[rows]
        targets = torch.as_tensor(targets, dtype=torch.long)

        _, final = split_pipeline(distiller.teacher_)
        positions = class_positions(final.classes_, distiller._teacher_classes())
        start = time.perf_counter()
        Z_teacher = torch.as_tensor(
            transformed_rows(preprocessor, take_rows(context.X, rows)),
            dtype=module_dtype(teacher_module),
        )
        teacher_gradients = teacher_input_gradients(
            mechanism,
            teacher_module,
            Z_teacher,
            targets,
            distiller._teacher_groups_matrix,
            torch.as_tensor(positions, dtype=torch.long),
            seed=int(context.rng.randint(np.iinfo(np.int32).max)),
        )
        distiller.attribution_stats_["seconds"] = time.perf_counter() - start
        return cls(
            mechanism,
            context.Z[rows],
            context.weights[rows],
            targets,
            teacher_gradients,
            distiller._student_groups_matrix,
        )

    def bind(self, module, seed):
        super().bind(module, seed)
        self.teacher_gradients = self.teacher_gradients.to(self.dtype)
        self.groups_matrix = torch.as_tensor(self.groups_matrix, dtype=self.dtype)
        self.noise_scale = self.mechanism.smoothgrad_noise * self.Z_rows.std(dim=0)
        return self

    def loss(self, module, positions):
        device = module_device(module)
        Z = self.Z_rows[positions].to(device)
        weights = self.weights_rows[positions].to(device)
        student_gradients = log_proba_gradients(
            module,
            Z,
            self.targets[positions].to(device),
            self.groups_matrix.to(device),
            n_noise_samples=self.mechanism.smoothgrad_samples,
            noise_scale=self.noise_scale.to(device),
            generator=self.generator,
            create_graph=True,
        )
        teacher = scale_normalize(self.teacher_gradients[positions].to(device), weights)
        return alignment_loss(teacher, student_gradients, weights)


def teacher_input_gradients(
    mechanism, module, Z, targets, groups_matrix, positions, seed
):
    """Return a teacher's gradients of ``log p(target | x)`` per original column.

    The gradients are returned on the CPU.

    Parameters
    ----------
    mechanism : GradientAlignment
    module : torch.nn.Module
        The teacher's module.
    Z : tensor of shape (n_rows, n_columns)
        The rows as the teacher's module receives them, in its dtype.
    targets : tensor of shape (n_rows,)
        Classes in the distiller's order.
    groups_matrix : array-like of shape (n_columns, n_features)
    positions : tensor of shape (n_classes,)
        The module's output column of each of the distiller's classes.
    seed : int
        Seeds the SmoothGrad noise.

    Returns
    -------
    gradients : tensor of shape (n_rows, n_features, 1)
    """
    device = module_device(module)
    groups = torch.as_tensor(groups_matrix, dtype=Z.dtype, device=device)
    noise_scale = (mechanism.smoothgrad_noise * Z.std(dim=0)).to(device)
    generator = torch.Generator().manual_seed(seed)
    was_training = module.training
    module.eval()
    chunks = []
    try:
        for start in range(0, len(Z), _TEACHER_BATCH_SIZE):
            batch = slice(start, start + _TEACHER_BATCH_SIZE)
            gradients = log_proba_gradients(
                module,
                Z[batch].to(device),
                targets[batch].to(device),
                groups,
                n_noise_samples=mechanism.smoothgrad_samples,
                noise_scale=noise_scale,
                generator=generator,
                output_positions=positions.to(device),
            )
            chunks.append(gradients.detach().cpu())
    finally:
        module.train(was_training)
    return torch.cat(chunks)


class AttentionTerm(_Term):
    """Alignment of attention maps over mapped layers."""

    def __init__(self, mechanism, Z_rows, weights_rows, teacher_maps):
        super().__init__(mechanism, Z_rows, weights_rows)
        self.teacher_maps = teacher_maps

    @classmethod
    def build(cls, mechanism, context):
        distiller = context.distiller
        rows = _attributed_rows(context)
        preprocessor, teacher_module = _teacher_module(distiller, mechanism.name)
        start = time.perf_counter()
        Z_teacher = transformed_rows(preprocessor, take_rows(context.X, rows))
        teacher_maps = teacher_attention(teacher_module, Z_teacher)
        distiller.attribution_stats_["seconds"] = time.perf_counter() - start
        return cls(mechanism, context.Z[rows], context.weights[rows], teacher_maps)

    def bind(self, module, seed):
        super().bind(module, seed)
        probe = self.Z_rows[:2].to(module_device(module))
        with torch.no_grad():
            _, student_maps = attention_maps(module, probe, "student")

        n_tokens_student = student_maps[0].shape[-1]
        n_tokens_teacher = self.teacher_maps[0].shape[-1]
        if n_tokens_student != n_tokens_teacher:
            raise ValueError(
                f"The teacher's attention covers {n_tokens_teacher} tokens and the "
                f"student's {n_tokens_student}, but attention alignment compares maps "
                "over the same tokens. Give both modules one token per input column "
                "and the same preprocessing."
            )
        mapping = layer_mapping(
            len(student_maps),
            len(self.teacher_maps),
            self.mechanism.layer_mapping,
            self.mechanism.skip_step,
        )
        mapped = []
        for student_layer, teacher_layer in enumerate(mapping):
            maps = self.teacher_maps[teacher_layer]
            if maps.shape[1] != student_maps[student_layer].shape[1]:
                # Kept averaged over heads, which is how the distance uses it.
                maps = maps.mean(dim=1, keepdim=True)
            mapped.append(maps.to(self.dtype))
        self.teacher_maps = mapped
        return self

    def loss(self, module, positions):
        device = module_device(module)
        Z = self.Z_rows[positions].to(device)
        weights = self.weights_rows[positions].to(device)
        _, student_maps = attention_maps(module, Z, "student")
        teacher_maps = [maps[positions].to(device) for maps in self.teacher_maps]
        return attention_distance(teacher_maps, student_maps, weights)


def teacher_attention(module, Z):
    """Return a teacher's attention maps of the rows Z, one CPU tensor per layer."""
    device = module_device(module)
    Z = torch.as_tensor(Z, dtype=module_dtype(module))
    was_training = module.training
    module.eval()
    layers = None
    try:
        with torch.no_grad():
            for start in range(0, len(Z), _TEACHER_BATCH_SIZE):
                batch = Z[start : start + _TEACHER_BATCH_SIZE].to(device)
                _, maps = attention_maps(module, batch, "teacher")
                if layers is None:
                    layers = [[] for _ in maps]
                for layer, layer_maps in zip(layers, maps, strict=True):
                    layer.append(layer_maps.cpu())
    finally:
        module.train(was_training)
    return [torch.cat(layer) for layer in layers]
