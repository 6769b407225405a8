"""Change detection over users' emotion sequences: sequences, detectors, transitions.

The public entry points are :func:`detect_change_points` and :func:`change_point_confidence`
(the default detector, :class:`ChangePointDetector`); see :mod:`drift.change_points`. Their
``method="permutation"`` is the detector the pipeline's transitions use on users' daily
distributions (:func:`change_point_detector`, :class:`drift.detectors.PermutationSegmentation`).
"""

from drift.change_points import (
    METHODS,
    ChangePointDetector,
    change_point_confidence,
    change_point_detector,
    detect_change_points,
)

__all__ = ["METHODS", "ChangePointDetector", "change_point_confidence", "change_point_detector", "detect_change_points"]
