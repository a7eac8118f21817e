"""Resumable sampler order, per-sample augmentation seeds, config overrides and the poly schedule."""

import pytest

from gald.data.sampling import ResumableSampler
from gald.io.config_file import load_config, parse_override
from gald.training.engine import poly_lr_lambda


def test_resumed_sampler_continues_the_same_sequence():
    full = ResumableSampler(20, 3, seed=7)
    full.set_position(epoch=2)
    sequence = list(full)
    assert len(sequence) == full.batches_per_epoch * 3 == 18
    resumed = ResumableSampler(20, 3, seed=7)
    resumed.set_position(epoch=2, start_batch=4)
    assert list(resumed) == sequence[12:]
    other_epoch = ResumableSampler(20, 3, seed=7)
    other_epoch.set_position(epoch=3)
    assert [i for i, _ in other_epoch] != [i for i, _ in sequence]


def test_ranks_partition_the_epoch():
    parts = []
    for rank in range(2):
        s = ResumableSampler(21, 2, seed=1, rank=rank, world_size=2)
        parts.append([i for i, _ in s])
    assert len(parts[0]) == len(parts[1]) == 10
    assert not set(parts[0]) & set(parts[1])


def test_too_small_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than one global batch"):
        ResumableSampler(3, 2, world_size=2)


def test_config_overrides_and_unknown_keys(tmp_path):
    cfg = load_config(None, ["optim.lr=0.05", "data.crop_size=[64, 96]", "model.ga=psp"])
    assert cfg["optim"]["lr"] == 0.05 and cfg["data"]["crop_size"] == [64, 96] and cfg["model"]["ga"] == "psp"
    with pytest.raises(ValueError, match="unknown config key 'optim.lrr'"):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ValueError, match="section.key=value"):
        parse_override("optim.lr")
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.yaml")


def test_poly_schedule_with_warmup():
    f = poly_lr_lambda(100, power=0.9, warmup_iters=10, warmup_ratio=0.1)
    assert f(0) == pytest.approx(0.1)
    assert f(10) == pytest.approx((1 - 10 / 100) ** 0.9)
    assert f(100) == 0.0
    assert all(f(i) >= f(i + 1) for i in range(10, 100))
