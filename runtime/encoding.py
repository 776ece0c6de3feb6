"""Frame encoding (raw RGB8/RGBA8/BGRA8 with stride, optionally bottom-up; JPEG) and seed-image
decoding. Torch-free.

JPEG goes through simplejpeg (libjpeg-turbo, releases the GIL), so encoding runs on a thread
pool next to the model worker. Raw frames are tightly packed: ``stride = width * channels``.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np

from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.types import EncodedImage, Encoding

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def encode_frame(rgb: np.ndarray, encoding: Encoding, quality: int = 90,
                 bottom_up: bool = False) -> EncodedImage:
    """Encode ``rgb`` [H, W, 3] uint8 as ``encoding`` (JPEG at ``quality`` 1..100).

    ``bottom_up`` reverses the row order of raw encodings (JPEG is always top to bottom).
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidInput("rgb", rgb, "an [H, W, 3] uint8 array")
    h, w = rgb.shape[:2]
    rows = rgb[::-1] if bottom_up and encoding is not Encoding.JPEG else rgb
    if encoding is Encoding.RAW_RGB8:
        return EncodedImage(encoding, w, h, w * 3, np.ascontiguousarray(rows).tobytes(),
                            bottom_up)
    if encoding in (Encoding.RAW_RGBA8, Encoding.RAW_BGRA8):
        out = np.empty((h, w, 4), np.uint8)
        out[..., :3] = rows if encoding is Encoding.RAW_RGBA8 else rows[..., ::-1]
        out[..., 3] = 255
        return EncodedImage(encoding, w, h, w * 4, out.tobytes(), bottom_up)
    if encoding is Encoding.JPEG:
        import simplejpeg

        data = simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=int(quality),
                                      colorspace="RGB", colorsubsampling="420")
        return EncodedImage(encoding, w, h, 0, data)
    raise InvalidInput("encoding", encoding, f"one of {[e.value for e in Encoding]}")


def crop_centre(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centre ``width`` x ``height`` pixels of ``rgb`` [H, W, C] (a view; see
    :meth:`Intrinsics.padded` for the matching camera)."""
    top, left = (rgb.shape[0] - height) // 2, (rgb.shape[1] - width) // 2
    return rgb[top: top + height, left: left + width]


def decode_frame(image: EncodedImage) -> np.ndarray:
    """Pixels of an encoded frame as [H, W, 3] uint8 (alpha dropped)."""
    if image.encoding is Encoding.JPEG:
        import simplejpeg

        return simplejpeg.decode_jpeg(image.data, colorspace="RGB")
    channels = 3 if image.encoding is Encoding.RAW_RGB8 else 4
    if image.stride < image.width * channels or len(image.data) < image.stride * image.height:
        raise InvalidInput("image.stride", image.stride,
                           f">= {image.width * channels} with {image.height} rows of data")
    rows = np.frombuffer(image.data, np.uint8)[: image.stride * image.height]
    rows = rows.reshape(image.height, image.stride)[:, : image.width * channels]
    pixels = rows.reshape(image.height, image.width, channels)
    if image.bottom_up:
        pixels = pixels[::-1]
    return (pixels[..., 2::-1] if image.encoding is Encoding.RAW_BGRA8
            else pixels[..., :3]).copy()


def _check_size(field: str, width: int, height: int, max_size: tuple[int, int] | None) -> None:
    """The size read from an image header, against ``max_size`` (W, H), before decoding."""
    limits = max_size or (None, None)
    for name, value, hi in (("width", width, limits[0]), ("height", height, limits[1])):
        if value < 1:
            raise InvalidInput(f"{field}.{name}", value, "a positive number of pixels")
        if hi is not None and value > hi:
            raise InvalidInput(f"{field}.{name}", value,
                               f"at most {hi} pixels (the image is {width}x{height}; the "
                               "server allows --max-size), read before decoding")


def _clip(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_image(data: bytes, field: str = "image",
                 max_size: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG or JPEG file as [H, W, 3] uint8 (alpha dropped), or :class:`InvalidInput`.

    The size is read from the header and checked against ``max_size`` (W, H) before anything
    is decoded, so a small file that claims a huge image costs nothing.
    """
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise InvalidInput(field, "<empty>", "the bytes of a PNG or JPEG image")
    data = bytes(data)
    head = data[:8]
    try:
        if head.startswith(_JPEG_MAGIC):
            import simplejpeg

            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            _check_size(field, width, height, max_size)
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
        if head.startswith(_PNG_MAGIC):
            from PIL import Image

            with warnings.catch_warnings():  # our own size check comes first
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                try:
                    img = Image.open(io.BytesIO(data), formats=["PNG"])  # the header only
                except Image.DecompressionBombError as exc:
                    raise InvalidInput(f"{field}.width", "<over 178 million pixels>",
                                       f"an image within the server's --max-size ({exc})"
                                       ) from None
            with img:
                _check_size(field, *img.size, max_size)
                return np.asarray(img.convert("RGB"), np.uint8).copy()
    except InvalidInput:
        raise
    except Exception as exc:  # a truncated or corrupt file: the decoders raise many types
        raise InvalidInput(field, f"<{len(data)} bytes>",
                           f"a readable PNG or JPEG image ({_clip(exc)})") from None
    raise InvalidInput(field, f"<{len(data)} bytes starting {head[:4].hex()}>",
                       "a PNG or JPEG image (magic bytes 89504e47 or ffd8ff)")


def decode_depth(data: bytes, width: int, height: int, field: str = "depth",
                 max_size: tuple[int, int] | None = None) -> np.ndarray:
    """``width * height`` little-endian float32 metres as [height, width]; 0 unknown, +inf sky.

    The declared size is checked against ``max_size`` (W, H) and the data length before any
    array is made. Rejects NaN, -inf and negative values.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"{field}.data", type(data).__name__, "bytes")
    _check_size(field, width, height, max_size)
    need = width * height * 4
    if len(data) != need:
        raise InvalidInput(f"{field}.data", f"<{len(data)} bytes>",
                           f"{need} bytes ({width} x {height} float32)")
    depth = np.frombuffer(data, "<f4").reshape(height, width).astype(np.float32)
    bad = np.isnan(depth) | (depth < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InvalidInput(f"{field}.data", float(depth[i, j]),
                           f"metres >= 0, 0 = unknown or +inf = sky (row {i}, column {j})")
    return depth


def encoded_size_bound(width: int, height: int) -> int:
    """An upper bound on the bytes of any encoding of a ``width`` x ``height`` frame."""
    raw = width * height * 4
    jpeg = math.ceil(width * height * 3 * 1.1) + 4096  # worst-case JPEG at quality 100
    return max(raw, jpeg)
