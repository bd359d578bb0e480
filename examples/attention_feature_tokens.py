"""
Attention alignment between feature-token transformers
======================================================

A transformer over feature tokens (one token per input column, plus a class
token) is the teacher. A smaller one, with half the layers and half the
heads, is distilled from it with ``xai="attention"``, so that besides the
teacher's soft targets the student learns where the teacher's heads attend.

Student layer ``l`` is compared with teacher layer ``round(l * L_T / L_S)``
(the ``"uniform"`` mapping), and, because the head counts differ, both maps
are averaged over their heads first.
"""

# License: BSD-3-Clause

# %%
# Data and teacher
# ----------------
# Breast cancer: 30 numeric columns, so 31 tokens. The teacher has 4 layers
# of 4 heads. Both models see the same standardised columns, so that their
# tokens mean the same thing.
import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from skdixtill import DiXtillClassifier
from skdixtill.neural import FeatureTokenTransformer, layer_mapping

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train = scaler.transform(X_train).astype(np.float32)
X_test = scaler.transform(X_test).astype(np.float32)


def transformer_net(n_layers, n_heads, d_model, max_epochs):
    return NeuralNetClassifier(
        FeatureTokenTransformer,
        module__n_layers=n_layers,
        module__n_heads=n_heads,
        module__d_model=d_model,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=max_epochs,
        batch_size=64,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
    )


torch.manual_seed(0)
teacher = transformer_net(n_layers=4, n_heads=4, d_model=32, max_epochs=30)
teacher.set_params(module__n_features=X.shape[1], module__n_classes=2)
teacher.fit(X_train, y_train)
print(f"teacher accuracy: {teacher.score(X_test, y_test):.3f}")

# %%
# Students
# --------
# The student has 2 layers of 2 heads and narrower tokens. Classic knowledge
# distillation (``beta=0``) and attention alignment train the same student;
# the distiller sets the module's ``n_features`` and ``n_classes``.
student = transformer_net(n_layers=2, n_heads=2, d_model=16, max_epochs=30)
settings = dict(n_attribution_samples=None, random_state=0)
classic = DiXtillClassifier(FrozenEstimator(teacher), student, beta=0.0, **settings)
aligned = DiXtillClassifier(
    FrozenEstimator(teacher), student, xai="attention", beta=1.0, **settings
)
classic.fit(X_train, y_train)
aligned.fit(X_train, y_train)

# %%
# Attention distance on unseen rows
# ---------------------------------
# The alignment term, recomputed on the test rows: the mean over student
# layers of the squared Frobenius distance between head-averaged maps.


def attention(net, X):
    with torch.no_grad():
        _, maps = net.module_(torch.as_tensor(X), return_attention=True)
    return [layer.mean(dim=1) for layer in maps]


teacher_maps = attention(teacher, X_test)
mapping = layer_mapping(2, 4, "uniform")
for name, model in (("classic KD", classic), ("attention alignment", aligned)):
    student_maps = attention(model.student_, X_test)
    distance = np.mean(
        [
            ((teacher_maps[t] - student_maps[s]) ** 2).sum(dim=(1, 2)).mean().item()
            for s, t in enumerate(mapping)
        ]
    )
    accuracy = model.score(X_test, y_test)
    print(f"{name:>20}: accuracy {accuracy:.3f}, attention distance {distance:.4f}")
