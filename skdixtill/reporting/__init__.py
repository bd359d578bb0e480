"""The alignment report of a fitted distiller, and plots of its attributions.

Plotting needs matplotlib: ``pip install skdixtill[plots]``.
"""

# License: BSD-3-Clause

from ._plots import plot_attribution_scatter, plot_importances, plot_shape_functions
from ._report import AlignmentReport, alignment_report

__all__ = [
    "AlignmentReport",
    "alignment_report",
    "plot_attribution_scatter",
    "plot_importances",
    "plot_shape_functions",
]
