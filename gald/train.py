"""`python -m gald.train`: train a GALDNet from a YAML config (CPU, one GPU, or `torchrun` for many).

The command line lives with the trainer in `gald/training/trainer.py`; this module is its entry point.
"""

from .training.trainer import main

if __name__ == "__main__":
    raise SystemExit(main())
