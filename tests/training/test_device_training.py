"""`data.on_device: true` in a real training run (gald.train): the trainer draws its batches from the device
pipeline, and the first steps match the CPU loader's (same sampler, same per-sample geometry)."""

from __future__ import annotations


def test_on_device_training_matches_the_cpu_loader(tiny_config, tmp_path, tools):
    losses = {}
    for on_device in (False, True):
        out = tmp_path / f"on_device_{on_device}"
        tools.run_module("gald.train", *tools.train_args(tiny_config, out, "--set", "optim.iters=2",
                                                         "--set", f"data.on_device={str(on_device).lower()}"))
        assert (out / "last.safetensors").is_file()
        losses[on_device] = [r["total"] for r in tools.read_log(out) if r.get("event") == "train"]
    assert len(losses[True]) == len(losses[False]) == 2
    # identical labels and crops; images differ by PIL's rounding (<= 1 grey level), so the losses agree closely
    for cpu, dev in zip(losses[False], losses[True], strict=True):
        assert abs(cpu - dev) / cpu < 0.02, (losses[False], losses[True])
