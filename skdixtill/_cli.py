"""The ``skdixtill`` command line: distil a teacher and print a report."""

# License: BSD-3-Clause

import argparse
import math
import sys

from . import __version__


class UsageError(Exception):
    """Raised for bad command-line input; printed as one line, exit code 2."""


def _bounded(kind, low=None, high=None, low_open=False):
    """Return an argparse type that parses ``kind`` and checks its range."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {kind.__name__}, got {text!r}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            left = "(" if low_open else "["
            right = "inf)" if high is None else f"{high}]"
            raise argparse.ArgumentTypeError(
                f"expected a value in {left}{low}, {right}, got {text}"
            )
        return value

    parse.__name__ = kind.__name__
    return parse


def build_parser():
    """Return the argument parser of the ``skdixtill`` command."""
    parser = argparse.ArgumentParser(
        prog="skdixtill",
        description="Explanation-guided knowledge distillation of tabular classifiers.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    distill = commands.add_parser(
        "distill",
        help="fit a teacher, a student alone, classic KD and DiXtill, and compare them",
        description=(
            "Fit four models on the same split (the teacher, the student trained on "
            "labels alone, classic knowledge distillation, and DiXtill) and print "
            "their accuracy and how closely each student explains like the teacher."
        ),
    )
    _add_data_arguments(distill)
    _add_model_arguments(distill)
    _add_output_arguments(distill)
    return parser


def _add_data_arguments(parser):
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        default=None,
        help=(
            "a CSV or Parquet file, or 'adult' for UCI Adult with its official "
            "split; default: scikit-learn's bundled breast cancer data"
        ),
    )
    group.add_argument(
        "--data-home",
        default=None,
        help="folder holding adult.csv.gz; without it, Adult is fetched from OpenML",
    )
    group.add_argument("--target", help="name of the label column of a file")
    group.add_argument(
        "--positive-class",
        help="label of the positive class, reported as classes_[1] for binary data",
    )
    group.add_argument(
        "--drop", nargs="+", default=[], metavar="COLUMN", help="columns to leave out"
    )
    group.add_argument(
        "--test-size",
        type=_bounded(float, 0, 1, low_open=True),
        default=0.25,
        help="share of a file's rows held out for testing (default: 0.25)",
    )


def _add_model_arguments(parser):
    group = parser.add_argument_group("models")
    group.add_argument(
        "--teacher",
        default="xgboost",
        help=(
            "xgboost, lightgbm, random-forest, or a joblib file of a fitted "
            "classifier (default: xgboost)"
        ),
    )
    group.add_argument(
        "--student",
        choices=["logistic", "additive", "mlp"],
        default="logistic",
        help=(
            "logistic regression, an additive spline model, or an MLP with "
            "hidden layers of 128 and 64 units (default: logistic)"
        ),
    )
    group.add_argument(
        "--xai",
        choices=["shap"],
        default="shap",
        help="explanations to align (default: shap)",
    )
    group.add_argument(
        "--alpha",
        type=_bounded(float, 0, 1),
        default=0.5,
        help="weight of the teacher's terms",
    )
    group.add_argument(
        "--beta",
        type=_bounded(float, 0),
        default=0.3,
        help="weight of the alignment term",
    )
    group.add_argument(
        "--temperature",
        type=_bounded(float, 0, low_open=True),
        default=3.0,
        help="softmax temperature of KD",
    )
    group.add_argument(
        "--feature-perturbation",
        choices=["tree_path_dependent", "interventional"],
        default=None,
        help=(
            "how TreeSHAP treats absent features (default: interventional for "
            "the MLP, whose own SHAP values are interventional, "
            "tree_path_dependent otherwise)"
        ),
    )
    group.add_argument(
        "--n-attribution-samples",
        type=_bounded(int, 1),
        default=1000,
        help="training rows on which the teacher is explained (default: 1000)",
    )
    group.add_argument(
        "--n-eval-samples",
        type=_bounded(int, 1),
        default=1000,
        help="test rows on which attributions are compared (default: 1000)",
    )
    group.add_argument(
        "--n-fas-samples",
        type=_bounded(int, 1),
        default=None,
        help=(
            "test rows on which attribution stability is measured (default: 100, "
            "or 20 for the MLP, whose KernelSHAP values cost about 40 ms a row)"
        ),
    )
    group.add_argument(
        "--random-state", type=_bounded(int, 0), default=0, help="seed (default: 0)"
    )


def _add_output_arguments(parser):
    group = parser.add_argument_group("output")
    group.add_argument(
        "--output",
        default="dixtill-student.joblib",
        help="where the DiXtill student is saved (default: dixtill-student.joblib)",
    )
    group.add_argument("--report", help="also write the table as JSON to this file")
    group.add_argument(
        "--verbose", type=int, default=0, help="verbosity of the distiller (default: 0)"
    )
    group.add_argument(
        "--debug",
        action="store_true",
        help="show a traceback instead of one error line",
    )


def main(argv=None):
    """Run the command line; return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        from ._distill_job import run_distill

        run_distill(args)
    except (UsageError, ValueError, TypeError, OSError, ImportError) as error:
        # Bad input of any kind ends in one line, not a traceback; --debug
        # shows the traceback.
        if args.debug:
            raise
        message = str(error) or type(error).__name__
        print(f"skdixtill: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
