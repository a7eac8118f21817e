"""Backbones: dilated ResNets with torchvision-compatible parameter names."""

from .pretrained import PretrainedWeightsError, load_imagenet_weights
from .resnet import RESNET_SPECS, ResNet, resnet

__all__ = ["RESNET_SPECS", "ResNet", "resnet", "load_imagenet_weights", "PretrainedWeightsError"]
