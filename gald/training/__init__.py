"""Training: the Trainer (`python -m gald.train`), optimizer / schedule / step, OHEM losses, DDP helpers,
resumable run state and the wall-clock budget."""
