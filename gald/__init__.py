"""gald: GALDNet ("Global Aggregation then Local Distribution in Fully Convolutional Networks",
Li et al., BMVC 2019) for semantic segmentation.

    model = gald.build_model(num_classes=11, backbone="resnet18", arrangement="gald")
    stages = gald.stage_outputs(model, images)   # F, F_GA, F_GALD, M, logits_fcn/ga/gald
"""

from .evaluation.metrics import BoundaryIoU, ConfusionMatrix, boundary_band
from .io.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from .models import ARRANGEMENTS, GALDConfig, GALDNet, build_model
from .models.stages import LOGIT_KEYS, STAGE_MODULES, ld_switch, stage_outputs
from .training.losses import GALDLoss, OhemCrossEntropy

__version__ = "0.1.0"
__all__ = [
    "ARRANGEMENTS", "GALDConfig", "GALDNet", "build_model", "stage_outputs", "ld_switch", "STAGE_MODULES",
    "LOGIT_KEYS", "GALDLoss", "OhemCrossEntropy", "ConfusionMatrix", "BoundaryIoU", "boundary_band",
    "save_checkpoint", "load_checkpoint", "read_metadata", "CheckpointError",
]
