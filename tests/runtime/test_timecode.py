"""Tests for SMPTE timecode (runtime/timecode.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.timecode import Timecode, frames_per_day, nominal_fps, parse_rate

FAST = settings(max_examples=200, deadline=None)
NTSC30 = Fraction(30000, 1001)
NTSC60 = Fraction(60000, 1001)


def test_parse_and_format_non_drop():
    tc = Timecode.parse("01:02:03:04", 25)
    assert (tc.hours, tc.minutes, tc.seconds, tc.frames) == (1, 2, 3, 4)
    assert tc.rate == Fraction(25) and not tc.drop_frame
    assert str(tc) == tc.format() == "01:02:03:04"
    assert tc.to_frames() == (3600 + 2 * 60 + 3) * 25 + 4


def test_parse_and_format_drop_frame():
    tc = Timecode.parse("00:01:00;02", "30000/1001")
    assert tc.drop_frame and tc.rate == NTSC30
    assert str(tc) == "00:01:00;02"


@pytest.mark.parametrize(
    ("text", "rate", "frames"),
    [
        ("00:00:59;29", NTSC30, 1799),
        ("00:01:00;02", NTSC30, 1800),  # ;00 and ;01 are dropped labels
        ("00:09:59;29", NTSC30, 17981),
        ("00:10:00;00", NTSC30, 17982),  # every tenth minute keeps ;00
        ("00:10:00;02", NTSC30, 17984),
        ("01:00:00;00", NTSC30, 107892),
        ("23:59:59;29", NTSC30, 2589407),
        ("00:01:00;04", NTSC60, 3600),  # 59.94 drops four labels a minute
        ("00:10:00;00", NTSC60, 35964),
        ("00:01:00:00", NTSC30, 1800),  # non-drop at 29.97 counts like 30
        ("00:00:01:00", Fraction(24000, 1001), 24),
    ],
)
def test_frame_counts(text, rate, frames):
    tc = Timecode.parse(text, rate)
    assert tc.to_frames() == frames
    assert Timecode.from_frames(frames, rate, tc.drop_frame) == tc


def test_frames_per_day():
    assert frames_per_day(NTSC30, True) == 2589408
    assert frames_per_day(NTSC60, True) == 5178816
    assert frames_per_day(25) == 2160000


def test_to_seconds_uses_true_rate():
    tc = Timecode.parse("00:00:01:00", "30000/1001")
    assert tc.to_seconds() == Fraction(1001, 1000)
    # Drop frame keeps labels close to wall-clock time: an hour of labels is 3600 - 0.0036 s.
    assert Timecode.parse("01:00:00;00", NTSC30).to_seconds() == Fraction(107892 * 1001, 30000)


@given(
    case=st.sampled_from(
        [(NTSC30, True), (NTSC60, True), (NTSC30, False), (Fraction(24000, 1001), False)]
        + [(Fraction(r), False) for r in (24, 25, 30, 48, 50, 60)]
    ),
    fraction_of_day=st.floats(0.0, 1.0, exclude_max=True),
)
@FAST
def test_frames_round_trip(case, fraction_of_day):
    rate, drop = case
    count = int(fraction_of_day * frames_per_day(rate, drop))
    tc = Timecode.from_frames(count, rate, drop)
    assert tc.to_frames() == count
    assert Timecode.parse(str(tc), rate) == tc
    if count + 1 < frames_per_day(rate, drop):
        assert Timecode.from_frames(count + 1, rate, drop).to_frames() == count + 1


@given(st.integers(0, 2589407 - 1))
@FAST
def test_drop_frame_labels_are_consecutive(count):
    a, b = Timecode.from_frames(count, NTSC30, True), Timecode.from_frames(count + 1, NTSC30, True)
    step = b.to_frames() - a.to_frames()
    assert step == 1
    if b.frames == 2 and b.seconds == 0 and b.minutes % 10:
        assert (a.seconds, a.frames) == (59, 29)  # the jump over ;00 and ;01


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (25, Fraction(25)),
        ("30000/1001", NTSC30),
        ((60000, 1001), NTSC60),
        (Fraction(24000, 1001), Fraction(24000, 1001)),
        (50.0, Fraction(50)),
    ],
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", [0, -25, 29.97, "abc", (1, 0), "25/2", True, None, 2000])
def test_parse_rate_rejects(rate):
    with pytest.raises(InvalidInput) as e:
        parse_rate(rate)
    assert e.value.field == "timecode.rate"


def test_nominal_fps():
    assert nominal_fps(NTSC30) == 30
    assert nominal_fps(NTSC60) == 60
    assert nominal_fps(Fraction(24000, 1001)) == 24
    assert nominal_fps(Fraction(25)) == 25


@pytest.mark.parametrize(
    ("text", "rate", "field"),
    [
        ("00:00:00;00", 25, "timecode.drop_frame"),  # drop frame only at 29.97 / 59.94
        ("00:00:00;00", Fraction(24000, 1001), "timecode.drop_frame"),
        ("00:01:00;00", NTSC30, "timecode.frames"),  # a dropped label
        ("00:01:00;01", NTSC30, "timecode.frames"),
        ("00:02:00;03", NTSC60, "timecode.frames"),
        ("00:00:00:25", 25, "timecode.frames"),
        ("00:00:00:30", NTSC30, "timecode.frames"),
        ("00:60:00:00", 25, "timecode.minutes"),
        ("00:00:60:00", 25, "timecode.seconds"),
        ("24:00:00:00", 25, "timecode.hours"),
        ("1:00:00:00", 25, "timecode"),
        ("00:00:00.00", 25, "timecode"),
        ("garbage", 25, "timecode"),
        ("00:00:00:00", "30/0", "timecode.rate"),
    ],
)
def test_parse_rejects(text, rate, field):
    with pytest.raises(InvalidInput) as e:
        Timecode.parse(text, rate)
    assert e.value.field == field


def test_constructor_rejects():
    with pytest.raises(InvalidInput) as e:
        Timecode(0, 0, 0, 1.5, 25)
    assert e.value.field == "timecode.frames"
    with pytest.raises(InvalidInput) as e:
        Timecode(0, 0, 0, 0, 25, drop_frame="yes")
    assert e.value.field == "timecode.drop_frame"
    with pytest.raises(InvalidInput) as e:
        Timecode.parse(None, 25)
    assert e.value.field == "timecode"


def test_from_frames_rejects():
    for count in (-1, 2589408, 1.0, True):
        with pytest.raises(InvalidInput) as e:
            Timecode.from_frames(count, NTSC30, True)
        assert e.value.field == "timecode.frame_count"
    with pytest.raises(InvalidInput) as e:
        Timecode.from_frames(0, 25, True)
    assert e.value.field == "timecode.drop_frame"
