"""Neural students and teachers, and the gradient and attention alignment.

A student given to :class:`~skdixtill.DiXtillClassifier` may be a skorch
``NeuralNetClassifier`` whose module returns logits, alone or at the end of
a Pipeline of column-wise steps (:func:`make_mlp_student` builds one). Its
SHAP values are estimated differentiably (:class:`KernelShap`,
:func:`expected_gradients`), so the alignment term trains it like any other
loss. With neural teachers, ``xai="gradient"`` aligns input gradients and
``xai="attention"`` aligns attention maps; :class:`ShapAlignment`,
:class:`GradientAlignment` and :class:`AttentionAlignment` hold the
settings of each mechanism.
"""

# License: BSD-3-Clause

from ._attention import layer_mapping
from ._builders import make_mlp_student
from ._expected_gradients import expected_gradients
from ._kernel_shap import KernelShap
from ._mechanisms import (
    AlignmentMechanism,
    AttentionAlignment,
    GradientAlignment,
    ShapAlignment,
)
from ._modules import MLP, FeatureTokenTransformer
from ._teachers import ModuleClassifier

__all__ = [
    "AlignmentMechanism",
    "AttentionAlignment",
    "FeatureTokenTransformer",
    "GradientAlignment",
    "KernelShap",
    "MLP",
    "ModuleClassifier",
    "ShapAlignment",
    "expected_gradients",
    "layer_mapping",
    "make_mlp_student",
]
