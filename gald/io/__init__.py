"""Files in and out: checkpoints (safetensors + JSON, never pickle), strict state-dict loading, YAML configs."""
