"""Explanation-guided knowledge distillation for scikit-learn classifiers."""

# License: BSD-3-Clause

from ._distiller import DiXtillClassifier
from .students._builders import (
    make_additive_student,
    make_default_student,
    make_teacher_pipeline,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "DiXtillClassifier",
    "make_additive_student",
    "make_default_student",
    "make_teacher_pipeline",
]
