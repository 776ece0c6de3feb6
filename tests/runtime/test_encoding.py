"""Frame encoding (raw with stride, JPEG) and seed-image decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest

from latentstage.runtime.encoding import decode_depth, decode_frame, decode_image, encode_frame
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.types import EncodedImage, Encoding


def _image(h=48, w=64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8)


def test_raw_rgb8_is_tightly_packed_rows():
    rgb = _image()
    img = encode_frame(rgb, Encoding.RAW_RGB8)
    assert (img.width, img.height, img.stride) == (64, 48, 64 * 3)
    assert img.data == rgb.tobytes()
    np.testing.assert_array_equal(decode_frame(img), rgb)


def test_raw_rgba8_adds_opaque_alpha():
    rgb = _image()
    img = encode_frame(rgb, Encoding.RAW_RGBA8)
    rgba = np.frombuffer(img.data, np.uint8).reshape(48, 64, 4)
    assert img.stride == 64 * 4 and (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(rgba[..., :3], rgb)


def test_decode_frame_honours_a_padded_stride():
    rgb = _image(4, 5)
    padded = np.zeros((4, 32), np.uint8)
    padded[:, :15] = rgb.reshape(4, 15)
    np.testing.assert_array_equal(
        decode_frame(EncodedImage(Encoding.RAW_RGB8, 5, 4, 32, padded.tobytes())), rgb)


def test_jpeg_round_trip_within_tolerance():
    rgb = _image()
    img = encode_frame(rgb, Encoding.JPEG, quality=95)
    assert img.data[:3] == b"\xff\xd8\xff" and img.stride == 0
    # A smooth gradient at quality 95 with 4:2:0 chroma: mean error well under 2 levels.
    assert np.abs(decode_frame(img).astype(int) - rgb).mean() < 2.0


def test_decode_image_reads_png_and_jpeg():
    from PIL import Image

    rgb = _image()
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("RGBA").save(buf, format="PNG")
    np.testing.assert_array_equal(decode_image(buf.getvalue()), rgb)
    jpeg = encode_frame(rgb, Encoding.JPEG, 95).data
    assert decode_image(jpeg).shape == (48, 64, 3)


@pytest.mark.parametrize("data, hint", [
    (b"", "PNG or JPEG"),
    (b"hello, not an image", "magic bytes"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "readable"),
])
def test_decode_image_rejects_non_images_naming_the_field(data, hint):
    with pytest.raises(InvalidInput, match=hint) as err:
        decode_image(data, "open.new_world.seed_image.image")
    assert err.value.field == "open.new_world.seed_image.image"


def test_decode_depth_checks_size_and_values():
    d = np.full((2, 3), 4.0, "<f4")
    d[0, 0] = np.inf
    np.testing.assert_array_equal(decode_depth(d.tobytes(), 3, 2), d)
    with pytest.raises(InvalidInput, match="24 bytes"):
        decode_depth(d.tobytes()[:-4], 3, 2)
    d[1, 2] = -1
    with pytest.raises(InvalidInput, match="row 1, column 2"):
        decode_depth(d.tobytes(), 3, 2)
