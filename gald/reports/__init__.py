"""Reports generated from checkpoints and runs: model cards, Table 1 tables, the inference-scale table, GA reach,
LD mask statistics, learning curves and the paper's figures. Each module is a command: `python -m gald.reports.X`."""
