"""`python -m gald.calibrate`: per-class bias calibration of a trained checkpoint, fitted on its train split.

The fit and the command line live in `gald/evaluation/calibration.py`; this module is its entry point.
"""

from .evaluation.calibration import main

if __name__ == "__main__":
    raise SystemExit(main())
