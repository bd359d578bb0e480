"""Public datasets used to try and benchmark distillation."""

# License: BSD-3-Clause

from ._adult import load_adult

__all__ = ["load_adult"]
