// Pose and lens values in an engine's own form, without UnityEngine types: the Unity layer
// (and any .NET host) fills them from its Transform and Camera.
using System;

namespace LatentStage.Native
{
    /// <summary>A position in the session's convention units (metres for Unity).</summary>
    public struct Vector3d
    {
        public double X, Y, Z;

        public Vector3d(double x, double y, double z)
        {
            X = x;
            Y = y;
            Z = z;
        }
    }

    /// <summary>A unit quaternion (x, y, z, w) in the convention's axes (a Unity Quaternion).</summary>
    public struct QuaternionD
    {
        public double X, Y, Z, W;

        public QuaternionD(double x, double y, double z, double w)
        {
            X = x;
            Y = y;
            Z = z;
            W = w;
        }
    }

    /// <summary>UnityEngine.Camera.GateFitMode, with Unity's values.</summary>
    public enum UnityGateFit
    {
        None = 0,
        Vertical = 1,
        Horizontal = 2,
        Fill = 3,
        Overscan = 4,
    }

    /// <summary>ls_lens values for the lens forms engines use.</summary>
    public static class Lenses
    {
        /// <summary>A field of view in degrees; axis 0 = the convention's own (vertical for
        /// Unity's Camera.fieldOfView), 1 horizontal, 2 vertical, 3 diagonal.</summary>
        public static LsLens FieldOfView(double degrees, int axis = 0)
        {
            if (!(degrees > 0 && degrees < 180))
                throw new LatentStageException(LsStatus.InvalidArgument, "lens.fov_deg",
                    degrees + ": degrees in (0, 180) expected");
            if (axis < 0 || axis > 3)
                throw new LatentStageException(LsStatus.InvalidArgument, "lens.fov_axis",
                    axis + ": 0 (convention's own), 1, 2 or 3 expected");
            return new LsLens { kind = (int)LsLensKind.Fov, fov_deg = degrees, fov_axis = axis };
        }

        /// <summary>A Unity physical camera: focalLength and sensorSize in mm, lensShift as a
        /// fraction of the gate, and gateFit resolved for the output size (Fill and Overscan
        /// pick horizontal or vertical from the aspect ratios, as Unity does).</summary>
        public static LsLens UnityPhysical(double focalLengthMm, double sensorWidthMm,
                                           double sensorHeightMm, double shiftX, double shiftY,
                                           UnityGateFit gateFit, uint width, uint height)
        {
            return new LsLens
            {
                kind = (int)LsLensKind.Physical,
                focal_length_mm = focalLengthMm,
                sensor_width_mm = sensorWidthMm,
                sensor_height_mm = sensorHeightMm,
                offset_x = shiftX,
                offset_y = shiftY,
                gate_fit = GateFit(gateFit, sensorWidthMm, sensorHeightMm, width, height),
            };
        }

        /// <summary>ls_lens.gate_fit (1 horizontal, 2 vertical, 3 none) for a Unity GateFitMode.
        /// Fill fits the image inside the sensor (crops); Overscan fits the sensor inside the
        /// image (shows more). Either picks the axis from sensor versus output aspect.</summary>
        public static int GateFit(UnityGateFit mode, double sensorWidthMm, double sensorHeightMm,
                                  uint width, uint height)
        {
            const int horizontal = 1, vertical = 2, none = 3;
            switch (mode)
            {
                case UnityGateFit.Horizontal: return horizontal;
                case UnityGateFit.Vertical: return vertical;
                case UnityGateFit.None: return none;
                case UnityGateFit.Fill:
                case UnityGateFit.Overscan:
                    if (width == 0 || height == 0 || !(sensorWidthMm > 0) || !(sensorHeightMm > 0))
                        throw new LatentStageException(LsStatus.InvalidArgument, "lens.gate_fit",
                            mode + " with sensor " + sensorWidthMm + "x" + sensorHeightMm
                            + " mm and output " + width + "x" + height
                            + ": positive sizes expected");
                    bool sensorWider = sensorWidthMm / sensorHeightMm > (double)width / height;
                    bool fill = mode == UnityGateFit.Fill;
                    return sensorWider == fill ? vertical : horizontal;
                default:
                    throw new LatentStageException(LsStatus.InvalidArgument, "lens.gate_fit",
                        (int)mode + ": a Camera.GateFitMode 0..4 expected");
            }
        }

        /// <summary>Calibrated pinhole intrinsics in pixels (0 x 0 = the output size).</summary>
        public static LsLens Pixels(double fx, double fy, double cx, double cy,
                                    uint calibWidth = 0, uint calibHeight = 0)
        {
            return new LsLens
            {
                kind = (int)LsLensKind.Pixels, fx = fx, fy = fy, cx = cx, cy = cy,
                calib_width = calibWidth, calib_height = calibHeight,
            };
        }
    }
}
