"""Evaluation: confusion-matrix metrics, boundary bands, segment statistics, the evaluator of every head,
class-bias calibration and the one inference path (`Inference`) the CLIs and the app share."""
