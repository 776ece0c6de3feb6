"""The one ``WxH`` parser (torch-free): image sizes given as text by every command line.

``parse_size`` raises :class:`~latentstage.runtime.errors.InvalidInput` naming the field;
``size_option`` is the same for a typer option (a usage error naming the option).
"""

from __future__ import annotations

from latentstage.runtime.errors import InvalidInput


def parse_size(text: str, field: str = "size", multiple: int = 1) -> tuple[int, int]:
    """``"WxH"`` (e.g. ``"256x144"``; ``X`` and ``×`` also separate) as (width, height) pixels,
    both positive multiples of ``multiple``."""
    parts = str(text).strip().lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InvalidInput(field, text, "WIDTHxHEIGHT in pixels, e.g. 256x256")
    w, h = (int(p) for p in parts)
    if w < multiple or h < multiple or w % multiple or h % multiple:
        what = "positive" if multiple == 1 else f"multiples of {multiple} (>= {multiple})"
        raise InvalidInput(field, text, f"width and height {what}")
    return w, h


def size_option(text: str, option: str, multiple: int = 1) -> tuple[int, int]:
    """:func:`parse_size` for a command-line option: a bad value is a usage error (exit 2)
    naming ``option``."""
    import typer

    try:
        return parse_size(text, option, multiple)
    except InvalidInput as exc:
        raise typer.BadParameter(f"{text!r}: expected {exc.expected}", param_hint=option) from None
