from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Convention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVENTION_UNSPECIFIED: _ClassVar[Convention]
    CONVENTION_OPENCV: _ClassVar[Convention]
    CONVENTION_OPENGL: _ClassVar[Convention]
    CONVENTION_UNREAL: _ClassVar[Convention]
    CONVENTION_UNITY: _ClassVar[Convention]
    CONVENTION_USD: _ClassVar[Convention]
    CONVENTION_BLENDER: _ClassVar[Convention]

class UpAxis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UP_AXIS_UNSPECIFIED: _ClassVar[UpAxis]
    UP_AXIS_Y: _ClassVar[UpAxis]
    UP_AXIS_Z: _ClassVar[UpAxis]

class GateFit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GATE_FIT_UNSPECIFIED: _ClassVar[GateFit]
    GATE_FIT_HORIZONTAL: _ClassVar[GateFit]
    GATE_FIT_VERTICAL: _ClassVar[GateFit]
    GATE_FIT_NONE: _ClassVar[GateFit]

class FovAxis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOV_AXIS_UNSPECIFIED: _ClassVar[FovAxis]
    FOV_AXIS_HORIZONTAL: _ClassVar[FovAxis]
    FOV_AXIS_VERTICAL: _ClassVar[FovAxis]
    FOV_AXIS_DIAGONAL: _ClassVar[FovAxis]
CONVENTION_UNSPECIFIED: Convention
CONVENTION_OPENCV: Convention
CONVENTION_OPENGL: Convention
CONVENTION_UNREAL: Convention
CONVENTION_UNITY: Convention
CONVENTION_USD: Convention
CONVENTION_BLENDER: Convention
UP_AXIS_UNSPECIFIED: UpAxis
UP_AXIS_Y: UpAxis
UP_AXIS_Z: UpAxis
GATE_FIT_UNSPECIFIED: GateFit
GATE_FIT_HORIZONTAL: GateFit
GATE_FIT_VERTICAL: GateFit
GATE_FIT_NONE: GateFit
FOV_AXIS_UNSPECIFIED: FovAxis
FOV_AXIS_HORIZONTAL: FovAxis
FOV_AXIS_VERTICAL: FovAxis
FOV_AXIS_DIAGONAL: FovAxis

class Stage(_message.Message):
    __slots__ = ("meters_per_unit", "up_axis")
    METERS_PER_UNIT_FIELD_NUMBER: _ClassVar[int]
    UP_AXIS_FIELD_NUMBER: _ClassVar[int]
    meters_per_unit: float
    up_axis: UpAxis
    def __init__(self, meters_per_unit: _Optional[float] = ..., up_axis: _Optional[_Union[UpAxis, str]] = ...) -> None: ...

class Vec3(_message.Message):
    __slots__ = ("x", "y", "z")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    z: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., z: _Optional[float] = ...) -> None: ...

class Quaternion(_message.Message):
    __slots__ = ("x", "y", "z", "w")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    W_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    z: float
    w: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., z: _Optional[float] = ..., w: _Optional[float] = ...) -> None: ...

class Rotator(_message.Message):
    __slots__ = ("pitch_deg", "yaw_deg", "roll_deg")
    PITCH_DEG_FIELD_NUMBER: _ClassVar[int]
    YAW_DEG_FIELD_NUMBER: _ClassVar[int]
    ROLL_DEG_FIELD_NUMBER: _ClassVar[int]
    pitch_deg: float
    yaw_deg: float
    roll_deg: float
    def __init__(self, pitch_deg: _Optional[float] = ..., yaw_deg: _Optional[float] = ..., roll_deg: _Optional[float] = ...) -> None: ...

class UnityEuler(_message.Message):
    __slots__ = ("x_deg", "y_deg", "z_deg")
    X_DEG_FIELD_NUMBER: _ClassVar[int]
    Y_DEG_FIELD_NUMBER: _ClassVar[int]
    Z_DEG_FIELD_NUMBER: _ClassVar[int]
    x_deg: float
    y_deg: float
    z_deg: float
    def __init__(self, x_deg: _Optional[float] = ..., y_deg: _Optional[float] = ..., z_deg: _Optional[float] = ...) -> None: ...

class Matrix3(_message.Message):
    __slots__ = ("m",)
    M_FIELD_NUMBER: _ClassVar[int]
    m: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, m: _Optional[_Iterable[float]] = ...) -> None: ...

class Matrix4(_message.Message):
    __slots__ = ("m",)
    M_FIELD_NUMBER: _ClassVar[int]
    m: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, m: _Optional[_Iterable[float]] = ...) -> None: ...

class Rotation(_message.Message):
    __slots__ = ("quaternion", "rotator", "unity_euler", "matrix")
    QUATERNION_FIELD_NUMBER: _ClassVar[int]
    ROTATOR_FIELD_NUMBER: _ClassVar[int]
    UNITY_EULER_FIELD_NUMBER: _ClassVar[int]
    MATRIX_FIELD_NUMBER: _ClassVar[int]
    quaternion: Quaternion
    rotator: Rotator
    unity_euler: UnityEuler
    matrix: Matrix3
    def __init__(self, quaternion: _Optional[_Union[Quaternion, _Mapping]] = ..., rotator: _Optional[_Union[Rotator, _Mapping]] = ..., unity_euler: _Optional[_Union[UnityEuler, _Mapping]] = ..., matrix: _Optional[_Union[Matrix3, _Mapping]] = ...) -> None: ...

class PixelIntrinsics(_message.Message):
    __slots__ = ("fx", "fy", "cx", "cy", "width", "height")
    FX_FIELD_NUMBER: _ClassVar[int]
    FY_FIELD_NUMBER: _ClassVar[int]
    CX_FIELD_NUMBER: _ClassVar[int]
    CY_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    def __init__(self, fx: _Optional[float] = ..., fy: _Optional[float] = ..., cx: _Optional[float] = ..., cy: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class PhysicalLens(_message.Message):
    __slots__ = ("focal_length_mm", "sensor_width_mm", "sensor_height_mm", "offset_x", "offset_y", "gate_fit")
    FOCAL_LENGTH_MM_FIELD_NUMBER: _ClassVar[int]
    SENSOR_WIDTH_MM_FIELD_NUMBER: _ClassVar[int]
    SENSOR_HEIGHT_MM_FIELD_NUMBER: _ClassVar[int]
    OFFSET_X_FIELD_NUMBER: _ClassVar[int]
    OFFSET_Y_FIELD_NUMBER: _ClassVar[int]
    GATE_FIT_FIELD_NUMBER: _ClassVar[int]
    focal_length_mm: float
    sensor_width_mm: float
    sensor_height_mm: float
    offset_x: float
    offset_y: float
    gate_fit: GateFit
    def __init__(self, focal_length_mm: _Optional[float] = ..., sensor_width_mm: _Optional[float] = ..., sensor_height_mm: _Optional[float] = ..., offset_x: _Optional[float] = ..., offset_y: _Optional[float] = ..., gate_fit: _Optional[_Union[GateFit, str]] = ...) -> None: ...

class FieldOfView(_message.Message):
    __slots__ = ("fov_deg", "axis")
    FOV_DEG_FIELD_NUMBER: _ClassVar[int]
    AXIS_FIELD_NUMBER: _ClassVar[int]
    fov_deg: float
    axis: FovAxis
    def __init__(self, fov_deg: _Optional[float] = ..., axis: _Optional[_Union[FovAxis, str]] = ...) -> None: ...

class Lens(_message.Message):
    __slots__ = ("pixels", "physical", "fov")
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_FIELD_NUMBER: _ClassVar[int]
    FOV_FIELD_NUMBER: _ClassVar[int]
    pixels: PixelIntrinsics
    physical: PhysicalLens
    fov: FieldOfView
    def __init__(self, pixels: _Optional[_Union[PixelIntrinsics, _Mapping]] = ..., physical: _Optional[_Union[PhysicalLens, _Mapping]] = ..., fov: _Optional[_Union[FieldOfView, _Mapping]] = ...) -> None: ...

class Rational(_message.Message):
    __slots__ = ("num", "den")
    NUM_FIELD_NUMBER: _ClassVar[int]
    DEN_FIELD_NUMBER: _ClassVar[int]
    num: int
    den: int
    def __init__(self, num: _Optional[int] = ..., den: _Optional[int] = ...) -> None: ...

class Timecode(_message.Message):
    __slots__ = ("hours", "minutes", "seconds", "frames", "rate", "drop_frame")
    HOURS_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    DROP_FRAME_FIELD_NUMBER: _ClassVar[int]
    hours: int
    minutes: int
    seconds: int
    frames: int
    rate: Rational
    drop_frame: bool
    def __init__(self, hours: _Optional[int] = ..., minutes: _Optional[int] = ..., seconds: _Optional[int] = ..., frames: _Optional[int] = ..., rate: _Optional[_Union[Rational, _Mapping]] = ..., drop_frame: _Optional[bool] = ...) -> None: ...

class DynamicMask(_message.Message):
    __slots__ = ("width", "height", "data")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    data: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
