"""`python -m gald.figures`: the paper's Figures 4 and 5 for your own images (PNG + PDF).

The figures and the command line live in `gald/reports/figures.py`; this module is its entry point.
"""

from .reports.figures import main

if __name__ == "__main__":
    raise SystemExit(main())
