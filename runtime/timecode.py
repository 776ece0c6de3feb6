"""SMPTE timecode with a rational frame rate and drop-frame counting.

A timecode labels a frame as HH:MM:SS:FF at a nominal integer rate (24, 25, 30, ...). NTSC
rates run 1000/1001 slower than nominal (24000/1001 = 23.976, 30000/1001 = 29.97,
60000/1001 = 59.94 frames per second); the labels still count to the nominal rate.

Drop frame (written with ``;`` before the frames, e.g. ``00:01:00;02``) exists only for
30000/1001 and 60000/1001. It skips the labels FF = 0, 1 (0..3 at 59.94) at the start of
every minute except minutes 0, 10, 20, 30, 40 and 50, so the labels stay within a few frames
of wall-clock time. No frames are dropped, only labels. A frame count is the number of frames
since 00:00:00:00; a day (24 hours of labels) is the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from latentstage.runtime.errors import InvalidInput

#: Rates with a drop-frame count, mapped to the labels dropped each minute.
DROP_FRAME_RATES = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}

_PATTERN = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;])(\d{2,3})$")


def parse_rate(rate) -> Fraction:
    """A frame rate as a Fraction from an int, Fraction, "num/den" string or (num, den).

    Accepted are integer rates 1..1000 and NTSC rates ``n * 1000/1001`` (n in 1..1000); floats
    are accepted only when integral (write 29.97 as "30000/1001").
    """
    value = _as_fraction(rate)
    nominal = None if value is None else value * Fraction(1001, 1000)
    if value is not None and value.denominator == 1:
        nominal = value
    if nominal is None or nominal.denominator != 1 or not 1 <= nominal <= 1000:
        raise InvalidInput("timecode.rate", rate, "an integer or n*1000/1001 rate, n in 1..1000")
    return value


def _as_fraction(rate) -> Fraction | None:
    """``rate`` as an exact Fraction, or None when it is not an exact number."""
    try:
        if isinstance(rate, tuple) and len(rate) == 2:
            return Fraction(*rate)
        if isinstance(rate, float):
            return Fraction(rate) if rate.is_integer() else None
        if isinstance(rate, int | str | Fraction) and not isinstance(rate, bool):
            return Fraction(rate)
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    return None


def nominal_fps(rate: Fraction) -> int:
    """The integer label rate: 30 for 30000/1001, 25 for 25."""
    return int(rate) if rate.denominator == 1 else int(rate * Fraction(1001, 1000))


@dataclass(frozen=True)
class Timecode:
    """An SMPTE timecode label HH:MM:SS:FF at a rational rate."""

    hours: int  # 0..23
    minutes: int  # 0..59
    seconds: int  # 0..59
    frames: int  # 0..nominal_fps-1 (the label's frame number, not a frame count)
    rate: Fraction  # frames per second, e.g. Fraction(30000, 1001); also int or "num/den"
    drop_frame: bool = False  # drop-frame labels; only for 30000/1001 and 60000/1001

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", parse_rate(self.rate))
        if not isinstance(self.drop_frame, bool):
            raise InvalidInput("timecode.drop_frame", self.drop_frame, "True or False")
        if self.drop_frame and self.rate not in DROP_FRAME_RATES:
            raise InvalidInput("timecode.drop_frame", self.rate, "rate 30000/1001 or 60000/1001")
        fps = nominal_fps(self.rate)
        for name, hi in (("hours", 23), ("minutes", 59), ("seconds", 59), ("frames", fps - 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
                raise InvalidInput(f"timecode.{name}", value, f"an integer in 0..{hi}")
        if self.drop_frame and self.seconds == 0 and self.minutes % 10 != 0:
            dropped = DROP_FRAME_RATES[self.rate]
            if self.frames < dropped:
                raise InvalidInput(
                    "timecode.frames", str(self), f">= {dropped}: dropped labels in this minute"
                )

    @classmethod
    def parse(cls, text: str, rate) -> Timecode:
        """Parse "HH:MM:SS:FF" (non-drop) or "HH:MM:SS;FF" (drop frame) at ``rate``."""
        match = _PATTERN.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidInput("timecode", text, "'HH:MM:SS:FF' or 'HH:MM:SS;FF'")
        hh, mm, ss, sep, ff = match.groups()
        return cls(int(hh), int(mm), int(ss), int(ff), rate, drop_frame=sep == ";")

    def __str__(self) -> str:
        sep = ";" if self.drop_frame else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frames:02d}"

    def format(self) -> str:
        """The label as "HH:MM:SS:FF", or "HH:MM:SS;FF" for drop frame."""
        return str(self)

    def to_frames(self) -> int:
        """Frames since 00:00:00:00 at this rate and counting."""
        fps = nominal_fps(self.rate)
        total_minutes = 60 * self.hours + self.minutes
        count = (60 * total_minutes + self.seconds) * fps + self.frames
        if self.drop_frame:
            count -= DROP_FRAME_RATES[self.rate] * (total_minutes - total_minutes // 10)
        return count

    @classmethod
    def from_frames(cls, count: int, rate, drop_frame: bool = False) -> Timecode:
        """The label of frame ``count`` (frames since 00:00:00:00), within one day."""
        rate = parse_rate(rate)
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidInput("timecode.frame_count", count, "an integer")
        per_day = frames_per_day(rate, drop_frame)
        if not 0 <= count < per_day:
            raise InvalidInput("timecode.frame_count", count, f"0..{per_day - 1}")
        fps = nominal_fps(rate)
        if drop_frame and rate in DROP_FRAME_RATES:
            count = _undrop(count, fps, DROP_FRAME_RATES[rate])
        seconds, frames = divmod(count, fps)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return cls(hours, minutes, seconds, frames, rate, drop_frame)

    def to_seconds(self) -> Fraction:
        """Time since 00:00:00:00 in seconds: the frame count over the true rate."""
        return self.to_frames() / self.rate


def _undrop(count: int, fps: int, dropped: int) -> int:
    """Turn a drop-frame count into the equivalent non-drop label count."""
    per_minute = fps * 60 - dropped  # frames in a minute that drops labels
    per_ten = fps * 600 - dropped * 9  # frames in ten minutes
    tens, rest = divmod(count, per_ten)
    extra = dropped * 9 * tens
    if rest > dropped:
        extra += dropped * ((rest - dropped) // per_minute)
    return count + extra


def frames_per_day(rate, drop_frame: bool = False) -> int:
    """How many frames 00:00:00:00 to 23:59:59:FF counts."""
    rate = parse_rate(rate)
    if drop_frame and rate not in DROP_FRAME_RATES:
        raise InvalidInput("timecode.drop_frame", rate, "a rate of 30000/1001 or 60000/1001")
    fps = nominal_fps(rate)
    dropped = DROP_FRAME_RATES[rate] * 24 * 54 if drop_frame else 0
    return 24 * 3600 * fps - dropped
