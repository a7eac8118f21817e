"""The GPU code paths (bf16 autocast, channels_last, DDP + SyncBN, torch.compile, CUDA evaluation and the
app's forward pass), each compared with the CPU fp32 result. Run with `pytest -m gpu` on a CUDA machine;
everywhere else they skip, and the README marks these features "not yet run on a GPU" until they have run.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

import gald
from gald.evaluation.evaluator import evaluate
from gald.training.engine import autocast_context, make_optimizer, train_step
from gald.training.losses import GALDLoss

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run with pytest -m gpu)")]
CUDA = torch.device("cuda")
# bf16 keeps 8 bits of mantissa: logits of a small random network agree with fp32 to a few percent
BF16_RTOL = 0.05


def _model(seed: int = 0, **kw) -> gald.GALDNet:
    torch.manual_seed(seed)
    return gald.build_model(num_classes=5, mid_channels=32, **kw)


def _batch(n: int = 2, h: int = 96, w: int = 128):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, h, w, generator=g), torch.randint(0, 5, (n, h, w), generator=g)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float().cpu() - b.float().cpu()).norm() / b.float().cpu().norm())


def test_bf16_channels_last_training_matches_cpu_fp32():
    # no dropout: its masks differ between devices, and the updates are what is compared
    cpu = _model(dropout=0.0).train()
    start = {k: v.detach().clone() for k, v in cpu.named_parameters()}
    gpu = copy.deepcopy(cpu).to(CUDA, memory_format=torch.channels_last)
    images, labels = _batch()
    crit = GALDLoss()
    opt_c, opt_g = make_optimizer(cpu, 0.01), make_optimizer(gpu, 0.01)
    for _ in range(3):
        lc = train_step(cpu, images, labels, crit, opt_c)["total"]
        lg = train_step(gpu, images.to(CUDA).contiguous(memory_format=torch.channels_last), labels.to(CUDA), crit,
                        opt_g, amp=True)["total"]
        assert torch.isfinite(lg)
        assert abs(lc.item() - lg.item()) / lc.item() < 0.1
    # What training did, not where it started: the three updates of all parameters together. (Per parameter,
    # a relative test is noise for BN biases, which start at 0 and move by ~1e-6: seen failing on an H200.)
    gpu_params = dict(gpu.named_parameters())
    dc = torch.cat([(p.detach() - start[k]).flatten() for k, p in cpu.named_parameters()])
    dg = torch.cat([(gpu_params[k].detach().float().cpu() - start[k]).flatten() for k in start])
    rel = float((dg - dc).norm() / dc.norm())
    print(f"relative difference of the bf16 CUDA update vs the fp32 CPU update: {rel:.4f}")
    assert rel < 0.25
    for name, pc in cpu.named_parameters():
        diff = (gpu_params[name].detach().float().cpu() - pc.detach()).abs().max().item()
        assert diff <= 0.05 * pc.detach().abs().max().item() + 1e-4, name


def test_bf16_inference_matches_cpu_fp32():
    cpu = _model().eval()
    gpu = copy.deepcopy(cpu).to(CUDA, memory_format=torch.channels_last)
    images, _ = _batch()
    with torch.no_grad():
        ref = cpu(images)["out"]
        with autocast_context(CUDA, True):
            out = gpu(images.to(CUDA).contiguous(memory_format=torch.channels_last))["out"]
    assert _relative(out, ref) < BF16_RTOL
    assert (out.argmax(1).cpu() == ref.argmax(1)).float().mean() > 0.97


def test_ddp_with_syncbn_one_process_matches_plain_model(monkeypatch):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(29500 + os.getpid() % 1000))
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        plain = _model().to(CUDA).train()
        synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain))
        assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
        ddp = DistributedDataParallel(synced, device_ids=[0])
        images, labels = _batch()
        crit = GALDLoss()
        for model in (plain, ddp):
            opt = make_optimizer(model, 0.01)
            torch.manual_seed(0)
            train_step(model, images.to(CUDA), labels.to(CUDA), crit, opt)
        for pa, pb in zip(plain.parameters(), ddp.module.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4)
    finally:
        dist.destroy_process_group()


def test_compiled_model_matches_eager():
    model = _model().to(CUDA).eval()
    compiled = torch.compile(model)
    images, _ = _batch()
    with torch.no_grad():
        torch.testing.assert_close(compiled(images.to(CUDA))["out"], model(images.to(CUDA))["out"],
                                   rtol=1e-3, atol=1e-3)


def test_evaluate_and_stage_outputs_on_cuda_match_cpu():
    cpu = _model().eval()
    gpu = copy.deepcopy(cpu).to(CUDA)
    images, labels = _batch(4)
    loader = [(images[i:i + 1], labels[i:i + 1]) for i in range(4)]
    rc = evaluate(cpu, loader, 5, device=torch.device("cpu"), progress=False, band_widths=(5,))
    rg = evaluate(gpu, loader, 5, device=CUDA, progress=False, band_widths=(5,))
    assert abs(rc["heads"]["gald"]["miou"] - rg["heads"]["gald"]["miou"]) < 0.01
    sc = gald.stage_outputs(cpu, images[:1])
    sg = gald.stage_outputs(gpu, images[:1].to(CUDA))
    for key in ("F", "F_GA", "M", "F_GALD", "logits_gald"):
        assert _relative(sg[key], sc[key]) < 1e-3, key
