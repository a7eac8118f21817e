"""Reliability and security cases, split by area; shared by tests/reliability/ and the report script
`python -m benchmarks.reliability`.

Every case is run against the real thing (the Gradio server through gradio_client, `gald.load_checkpoint`,
`python -m gald.train` subprocesses, `python app.py` subprocesses) and reduced to a `Result`: what was
tried, what was expected, what was observed, and whether that is acceptable. Areas: inputs, hygiene,
checkpoints, source, data, training, load, budget (one module each, `common` for what they share).
"""

from .budget import BudgetServer, Peak, attribution_case, budget_results, child_peak, sampler_control
from .checkpoints import (
    CHECKPOINT_CASES,
    CheckpointCase,
    Payload,
    app_refuses_checkpoint,
    checkpoint_results,
    run_checkpoint_case,
)
from .common import KNOWN_BUGS, Result, good_png, make_checkpoint
from .data import data_results
from .hygiene import hygiene_results
from .input_cases import INPUT_CASES, InputCase
from .inputs import AppClient, input_results, run_input_case, serve_inprocess
from .load import AppProcess, load_images, load_results, queue_max_size, run_load, sequential_memory
from .source import source_results, unsafe_load_calls
from .training import crash_resume, kill_during_validation, nan_stop

__all__ = ['AppClient', 'AppProcess', 'BudgetServer', 'Peak', 'attribution_case', 'budget_results', 'child_peak', 'sampler_control', 'CHECKPOINT_CASES', 'CheckpointCase', 'INPUT_CASES', 'InputCase', 'KNOWN_BUGS', 'Result', 'Payload', 'good_png', 'app_refuses_checkpoint', 'checkpoint_results', 'crash_resume', 'data_results', 'hygiene_results', 'input_results', 'kill_during_validation', 'load_images', 'load_results', 'make_checkpoint', 'nan_stop', 'queue_max_size', 'run_checkpoint_case', 'run_input_case', 'run_load', 'sequential_memory', 'serve_inprocess', 'source_results', 'unsafe_load_calls']
