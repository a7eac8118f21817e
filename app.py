"""GALD Studio launcher: `python app.py [--checkpoint PATH]` serves the app on 0.0.0.0:7860.

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override host and port; GALD_CHECKPOINT (or --checkpoint)
selects the checkpoint (a checkpoint folder, or `x`, `x.safetensors` or `x.json`). On Hugging Face Spaces
this file is the entry point as is.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from app import DEFAULT_CHECKPOINT
from app.memory import limit_malloc_arenas  # only ctypes: cheap, and must run before the heavy imports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=os.environ.get("GALD_CHECKPOINT", DEFAULT_CHECKPOINT),
                        help="checkpoint path (default: $GALD_CHECKPOINT or %(default)s)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)

    root = Path(__file__).resolve().parent
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_absolute():  # relative to the caller's directory if it is there, else to the repo
        here = Path.cwd() / checkpoint
        found = any(p.exists() for p in (here, here.with_name(here.name + ".json"), here.with_suffix(".json")))
        checkpoint = here if found else root / checkpoint
    limit_malloc_arenas()
    os.chdir(root)  # example paths and gradio's allowed paths are relative to the repository
    try:  # Hugging Face ZeroGPU: import `spaces` before torch initialises CUDA
        import spaces  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    import gald
    from app.inference import Predictor

    try:
        predictor = Predictor.from_checkpoint(checkpoint)
    except gald.CheckpointError as exc:
        print(f"error: cannot load checkpoint {str(checkpoint)!r}: {exc}\n"
              "Train or download it first, or pass --checkpoint PATH / set GALD_CHECKPOINT.", file=sys.stderr)
        return 2
    print(f"GALD Studio: {predictor.description}", flush=True)
    from app.ui import build_demo, launch_options  # gradio: imported only once the checkpoint loaded

    # SIGTERM (docker stop, Spaces restarts) exits like Ctrl-C, so atexit removes the app's temporary folders;
    # SIGINT is Ctrl-C even when a shell started us in the background (it then hands SIGINT down ignored)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    build_demo(predictor).launch(server_name=args.host, server_port=args.port, **launch_options())
    return 0


if __name__ == "__main__":
    sys.exit(main())
