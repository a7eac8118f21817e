"""The resource budget of one request to GALD Studio: every limit the server enforces, in one place, with
the measurements it is derived from. No imports from the rest of the app (image_io, inference, handlers,
limits and the UI read these).

Goal (issue #22): any single well-formed request peaks at <= 3 GB of server memory (RSS), and two
concurrent users at <= 4 GB, on a 2-core CPU; no upload takes more than ~1 s to decode.

Measured (one op in a fresh process with the bundled galdnet_lite2_camvid on CPU, psutil RSS sampled every
20 ms; growth above the loaded model per megapixel (MP) of *network input* = upload pixels x input scale^2,
from runs at 0.26, 0.59 and 1.05 MP; whole-server figures: benchmarks/request_budget.py, docs/reliability.md):

    forward pass for an analysis (torch.inference_mode)           ~0.40 GB / MP
    GradCAM (parameters frozen: only layer4 -> heads keep graph)    ~0.85 GB / MP
    GradCAM with trainable parameters (what the app did before)    ~2.9  GB / MP
    Integrated Gradients, one interpolation step per backward      ~3.3  GB / MP (input gradients need
                                                                       every backbone activation); in the
                                                                       server 4.5 GB / MP (8 steps at 0.54 MP
                                                                       grew RSS by 2.43 GB: the heap frays
                                                                       over steps), the figure used
    Integrated Gradients, captum internal_batch_size=2 (before)   ~6.6  GB / MP (two steps per pass; the
                                                                       issue measured 6.4 GB at 1 MP)

Derivation:
  * SERVER_BASE_MB: `python app.py` idle with the bundled model, after the first request (~0.9 GB);
    HEADROOM_MB: what a second user's request does besides the network (decode <= MAX_DECODE_PIXELS,
    pictures, PNG encoding), ~0.4 GB. Gradient allowance = 3072 - base - headroom ~ 1.8 GB.
  * The network runs for one request at a time (Predictor.lock; gradio: analysis concurrency 1 and one
    shared queue slot, GRADIENT_SLOT, for /attribute and /pixel_attribution), so two users' peaks do not
    add: two users <= base + one network op + headroom <= 3 GB + 0.4 GB < 4 GB.
  * Analysis: the largest accepted upload is MAX_SIDE^2 = 1 MP at the largest scale 2.0 -> 4.2 MP network
    input -> ~1.7 GB, within the allowance, so MAX_ANALYSIS_NET_PIXELS is exactly that (nothing accepted is
    reduced; the cap guards checkpoints with a larger inference scale).
  * Attribution: allowance / GB-per-MP -> GradCAM at <= ATTRIBUTION_MAX_NET_PIXELS["gradcam"] (2 MP) and
    Integrated Gradients at <= ATTRIBUTION_MAX_NET_PIXELS["ig"] (0.39 MP), one step per backward pass
    (IG_STEPS_PER_PASS), so IG's peak does not grow with its step count. Larger inputs are attributed on the
    image downscaled to the cap, and the message says so. CamVid frames (480x360) at the default scale 1.5
    are 0.39 MP: never reduced.
  * Time: Integrated Gradients hands the model to a waiting analysis between two steps (Predictor), so a
    long IG delays analyses by at most one step; it holds only the gradient slot, and is stopped between
    steps once it has run GRADIENT_TIME_BUDGET_S (waits excluded), with a message, so the next gradient
    request waits at most that long. One IG step at the 0.39 MP cap takes seconds on 2 quiet cores (tens of
    seconds on a loaded one: docs/reliability.md).
  * Decoding: non-JPEG images over MAX_DECODE_PIXELS (24 MP, a 6000x4000 camera frame) are refused from
    the header; JPEGs decode at 1/2 - 1/8 size in the decoder (draft mode), so any size up to Pillow's
    decompression-bomb limit costs at most ~(2 x MAX_SIDE)^2 pixels. Multi-frame files: frame 1 is probed,
    frames are never counted.
  * Uploads and bodies: MAX_UPLOAD_BYTES per file (gradio's max_file_size), CLIENT_UPLOAD_BYTES per client
    per CLIENT_UPLOAD_WINDOW_S, CACHE_DISK_BYTES for gradio's upload cache + the app's PNG/export folders
    (oldest files evicted first), MAX_JSON_BODY_BYTES for every other request body (API arguments are
    numbers and short strings; files travel through /upload).
"""

from __future__ import annotations

MB = 2**20

# --- memory targets and what they are derived from ------------------------------------------------------
MEMORY_SINGLE_REQUEST_MB = 3072
MEMORY_TWO_USERS_MB = 4096
SERVER_BASE_MB = 900
HEADROOM_MB = 400
GRADIENT_ALLOWANCE_MB = MEMORY_SINGLE_REQUEST_MB - SERVER_BASE_MB - HEADROOM_MB
MB_PER_NET_MEGAPIXEL = {"forward": 400, "gradcam": 850, "ig": 4500}

# --- uploads and analysis -------------------------------------------------------------------------------
MAX_SIDE = 1024  # longer side of an analysed image (larger uploads are downscaled to it)
MAX_SCALE = 2.0  # largest input scale offered (app.inference.SCALE_RANGE)
MAX_ANALYSIS_NET_PIXELS = int((MAX_SIDE * MAX_SCALE) ** 2)  # 4.2 MP: ~1.7 GB forward pass
MAX_DECODE_PIXELS = 24_000_000  # non-JPEG images larger than this are refused from their header
MAX_UPLOAD_BYTES = 25 * MB
MAX_UPLOAD_SIZE = "25mb"  # the same, in gradio's max_file_size syntax

# --- gradient work (/attribute, /pixel_attribution) -----------------------------------------------------
GRADIENT_SLOT = "gradient"  # gradio concurrency_id shared by every event that runs a backward pass
ATTRIBUTION_MAX_NET_PIXELS = {method: int(GRADIENT_ALLOWANCE_MB / mb * 1e6)
                              for method, mb in MB_PER_NET_MEGAPIXEL.items() if method != "forward"}
IG_STEPS_PER_PASS = 1  # interpolation steps per forward/backward: IG's peak memory is that of one step
MAX_IG_STEPS = 32
GRADIENT_TIME_BUDGET_S = 300.0  # a gradient request is stopped between steps after this long

# --- per client and on disk -----------------------------------------------------------------------------
CLIENT_UPLOAD_BYTES = 200 * MB  # per client (IP) per window
CLIENT_UPLOAD_WINDOW_S = 600
CACHE_DISK_BYTES = 2048 * MB  # gradio's upload cache + the app's PNGs and exports; oldest evicted first
MAX_JSON_BODY_BYTES = 1 * MB  # any request body but a file upload
SESSIONS_KEPT = 128  # gradio state_session_capacity: sessions whose analysed image the server keeps


def attribution_scale(height: int, width: int, scale: float, method: str) -> float:
    """The input scale an attribution runs at: the analysis's `scale`, lowered so that the network input
    stays within ATTRIBUTION_MAX_NET_PIXELS[method]."""
    cap = ATTRIBUTION_MAX_NET_PIXELS[method]
    pixels = height * width * scale**2
    return scale if pixels <= cap else scale * (cap / pixels) ** 0.5


def attribution_note(height: int, width: int, scale: float, method: str) -> str:
    """What the user is told when an attribution ran on a reduced input ("" when it was not)."""
    used = attribution_scale(height, width, scale, method)
    if used >= scale:
        return ""
    cap = ATTRIBUTION_MAX_NET_PIXELS[method]
    return (f"{'GradCAM' if method == 'gradcam' else 'Integrated Gradients'} runs at <= {cap / 1e6:.1f} megapixels "
            f"of network input; this image ({width}x{height} at input scale {scale:g} = "
            f"{height * width * scale**2 / 1e6:.1f} MP) was reduced to input scale {used:.2f} for it.")
