"""Pictures (uint8 arrays) -> files the UI serves, named by content so identical pictures are written once.

Two encodings, chosen per picture by what it shows:
  * `png`  lossless (zlib level 1: 4x faster than Pillow's default 6, about the same size) for pictures whose
           colours are a code the user reads (class colours of label maps, disagreement and change maps,
           mask-channel tiles);
  * `jpeg` for photographic pictures (the input, prediction overlays blended into the photo, heatmaps over
           the photo): ~20x cheaper to encode than PNG and smaller to send and decode; 4:4:4 chroma, so thin
           class-coloured structures keep their colour.
The prediction the user downloads (class ids) is written by `Predictor.export` as a lossless palette PNG.
Gradio copies returned files into its own cache, so only the newest `keep` files are kept here.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from . import scratch
from .inference import cpu_count

JPEG_QUALITY = 90
ENCODERS = {  # format -> (file suffix, Pillow save arguments)
    "png": (".png", {"format": "PNG", "compress_level": 1}),
    "jpeg": (".jpg", {"format": "JPEG", "quality": JPEG_QUALITY, "subsampling": 0}),
}


class PictureStore:
    """Content-addressed picture files in one folder (thread-safe; encoders release the GIL)."""

    def __init__(self, folder: str | Path | None = None, keep: int = 512) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(dir=scratch.process_dir("pictures")))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep, self._files, self._lock = keep, deque(), threading.Lock()

    def save(self, picture: np.ndarray | None, fmt: str = "png") -> str | None:
        if picture is None:
            return None
        suffix, options = ENCODERS[fmt]
        picture = np.ascontiguousarray(picture)
        digest = hashlib.blake2b(picture.tobytes(), digest_size=16)
        digest.update(str(picture.shape).encode())
        path = self.folder / f"{digest.hexdigest()}{suffix}"
        if not path.is_file():
            tmp = path.with_name(f"{path.stem}.{threading.get_ident()}.tmp")  # two threads may race here
            Image.fromarray(picture).save(tmp, **options)
            with self._lock:
                if path.is_file():  # the other thread won
                    tmp.unlink(missing_ok=True)
                else:
                    tmp.replace(path)
                    self._files.append(path)
                    while len(self._files) > self.keep:
                        self._files.popleft().unlink(missing_ok=True)
        return str(path)

    def png(self, picture: np.ndarray | None) -> str | None:
        return self.save(picture, "png")

    def jpeg(self, picture: np.ndarray | None) -> str | None:
        return self.save(picture, "jpeg")

    def many(self, pictures: dict[str, np.ndarray | None], formats: dict[str, str] | str = "png"
             ) -> dict[str, str | None]:
        """Encode several named pictures in parallel; `formats`: one format, or one per name."""
        names = list(pictures)
        fmt = (lambda n: formats) if isinstance(formats, str) else formats.__getitem__
        paths = _encoder_pool().map(lambda n: self.save(pictures[n], fmt(n)), names)
        return dict(zip(names, paths, strict=True))


_POOL: ThreadPoolExecutor | None = None


def _encoder_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(4, cpu_count()), thread_name_prefix="gald-pictures")
    return _POOL
