"""Torch modules for neural students and teachers on tabular data.

Both modules return logits, one per class, and cast their input to the dtype
of their parameters, so that they take the float64 arrays that
scikit-learn's transformers output.

``FeatureTokenTransformer`` implements the attention interface that
``xai="attention"`` relies on: ``forward(X, return_attention=True)`` returns
``(logits, attention)``, ``attention`` a list with one tensor per layer, of
shape (n_samples, n_heads, n_tokens, n_tokens), whose rows sum to 1.

``n_features`` and ``n_classes`` may be left to None when the module is the
student of ``DiXtillClassifier``, because the distiller sets them from the
data at fit. This matters when one-hot encoding makes the number of input
columns depend on the training rows.
"""

# License: BSD-3-Clause

import math

import torch
from torch import nn


def _check_sizes(n_features, n_classes, name):
    if n_features is None or n_classes is None:
        raise ValueError(
            f"{name} needs n_features and n_classes; got n_features={n_features!r} "
            f"and n_classes={n_classes!r}. Pass module__n_features and "
            "module__n_classes to the skorch net. Only the student of "
            "DiXtillClassifier gets them set from the data."
        )


class MLP(nn.Module):
    """Multilayer perceptron that returns logits.

    Parameters
    ----------
    n_features : int or None, default=None
        Columns of the input.
    n_classes : int or None, default=None
        Logits of the output.
    hidden : tuple of int, default=(64, 32)
        Units of each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    activation : type of torch.nn.Module, default=torch.nn.ReLU

    Examples
    --------
    >>> import torch
    >>> from skdixtill.neural import MLP
    >>> MLP(n_features=4, n_classes=3, hidden=(8,))(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_features=None,
        n_classes=None,
        hidden=(64, 32),
        dropout=0.0,
        activation=nn.ReLU,
    ):
        super().__init__()
        _check_sizes(n_features, n_classes, "MLP")
        layers = []
        width = n_features
        for units in hidden:
            layers += [nn.Linear(width, units), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        X = X.to(self.layers[0].weight.dtype)
        return self.layers(X)


class _EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer that also returns its attention map."""

    def __init__(self, d_model, n_heads, dim_feedforward, dropout):
        super().__init__()
        self.attention = nn.MultiheadAttention(
            d_model, n_heads, dropout=dropout, batch_first=True
        )
        self.norm_attention = nn.LayerNorm(d_model)
        self.norm_feedforward = nn.LayerNorm(d_model)
        self.feedforward = nn.Sequential(
            nn.Linear(d_model, dim_feedforward),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(dim_feedforward, d_model),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens):
        normed = self.norm_attention(tokens)
        attended, weights = self.attention(
            normed, normed, normed, need_weights=True, average_attn_weights=False
        )
        tokens = tokens + self.dropout(attended)
        tokens = tokens + self.dropout(self.feedforward(self.norm_feedforward(tokens)))
        return tokens, weights


class FeatureTokenTransformer(nn.Module):
    """Transformer over one token per input column, with a class token.

    Column ``j`` of a row becomes the token ``x_j * w_j + b_j``, a learned
    embedding per column as in the FT-Transformer of Gorishniy et al.
    (2021). A learned class token is prepended, and the logits are read from
    it after the last layer. There are ``n_features + 1`` tokens.

    Parameters
    ----------
    n_features : int or None, default=None
    n_classes : int or None, default=None
    d_model : int, default=32
        Width of the tokens.
    n_heads : int, default=4
        Attention heads per layer; must divide ``d_model``.
    n_layers : int, default=2
    dim_feedforward : int, default=64
    dropout : float, default=0.0

    Examples
    --------
    >>> import torch
    >>> from skdixtill.neural import FeatureTokenTransformer
    >>> module = FeatureTokenTransformer(n_features=5, n_classes=2, n_layers=3)
    >>> logits, attention = module(torch.zeros(4, 5), return_attention=True)
    >>> logits.shape, len(attention), attention[0].shape
    (torch.Size([4, 2]), 3, torch.Size([4, 4, 6, 6]))
    """

    def __init__(
        self,
        n_features=None,
        n_classes=None,
        d_model=32,
        n_heads=4,
        n_layers=2,
        dim_feedforward=64,
        dropout=0.0,
    ):
        super().__init__()
        _check_sizes(n_features, n_classes, "FeatureTokenTransformer")
        bound = 1.0 / math.sqrt(d_model)
        self.column_weight = nn.Parameter(torch.empty(n_features, d_model))
        self.column_bias = nn.Parameter(torch.empty(n_features, d_model))
        self.class_token = nn.Parameter(torch.empty(1, 1, d_model))
        for parameter in (self.column_weight, self.column_bias, self.class_token):
            nn.init.uniform_(parameter, -bound, bound)
        self.layers = nn.ModuleList(
            _EncoderLayer(d_model, n_heads, dim_feedforward, dropout)
            for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, X, return_attention=False):
        X = X.to(self.column_weight.dtype)
        tokens = X[:, :, None] * self.column_weight + self.column_bias
        class_token = self.class_token.expand(len(X), -1, -1)
        tokens = torch.cat([class_token, tokens], dim=1)
        attention = []
        for layer in self.layers:
            tokens, weights = layer(tokens)
            attention.append(weights)
        logits = self.head(self.norm(tokens[:, 0]))
        if return_attention:
            return logits, attention
        return logits
