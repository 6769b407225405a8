"""Change detection over users' emotion sequences: sequences, detectors, transitions.

The public entry points are :func:`detect_change_points` and :func:`change_point_confidence`
(the default detector, :class:`ChangePointDetector`); see :mod:`drift.change_points`.
"""

from drift.change_points import ChangePointDetector, change_point_confidence, detect_change_points

__all__ = ["ChangePointDetector", "change_point_confidence", "detect_change_points"]
