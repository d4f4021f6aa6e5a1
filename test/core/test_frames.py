"""seg_perception.frames: pinhole intrinsics, depth unit conversion and RGBDFrame.create.

Every malformed input must raise :class:`InvalidFrameError` (a ``ValueError``) whose
message names the problem, so a log line is enough to act on it.
"""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.errors import InvalidFrameError, SegPerceptionError
from seg_perception.frames import (MAX_DEPTH_MM, CameraIntrinsics, RGBDFrame, depth_to_metres,
                                  depth_to_millimetres)

W, H = 64, 48


def intrinsics(width: int = W, height: int = H) -> CameraIntrinsics:
    return CameraIntrinsics(width, height, 50.0, 51.0, (width - 1) / 2, (height - 1) / 2)


def rgb(width: int = W, height: int = H, channels: int | None = 3) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return np.arange(int(np.prod(shape)), dtype=np.uint32).reshape(shape).astype(np.uint8)


# ----------------------------------------------------------------------------- intrinsics


def test_intrinsics_matrix_size_and_projection_convention() -> None:
    K = CameraIntrinsics(640, 480, 525.0, 520.0, 319.5, 239.5)
    np.testing.assert_array_equal(K.matrix, [[525.0, 0, 319.5], [0, 520.0, 239.5], [0, 0, 1]])
    assert K.matrix.dtype == np.float64
    assert K.size == (640, 480)
    assert K.distortion_model == "plumb_bob" and K.distortion == ()
    # u = fx x / z + cx: a point on the optical axis lands on the principal point.
    uvw = K.matrix @ np.array([0.0, 0.0, 2.0])
    np.testing.assert_allclose(uvw[:2] / uvw[2], [319.5, 239.5])


def test_from_matrix_round_trips_matrix_and_flat_values() -> None:
    K = CameraIntrinsics(320, 240, 262.5, 261.0, 159.5, 118.25, distortion=(0.1, -0.2, 0, 0, 0))
    again = CameraIntrinsics.from_matrix(K.matrix, 320, 240, distortion=K.distortion)
    assert again == K
    # 9 row-major values, as in sensor_msgs/CameraInfo.k, with numpy ints for the size.
    flat = CameraIntrinsics.from_matrix(list(K.matrix.ravel()), np.int64(320), np.int64(240),
                                        distortion=np.array([0.1, -0.2, 0, 0, 0]),
                                        distortion_model="rational_polynomial")
    assert (flat.fx, flat.fy, flat.cx, flat.cy) == (262.5, 261.0, 159.5, 118.25)
    assert type(flat.width) is int and type(flat.height) is int
    assert all(type(d) is float for d in flat.distortion)
    assert flat.distortion_model == "rational_polynomial"
    np.testing.assert_array_equal(flat.matrix, K.matrix)


@pytest.mark.parametrize("size", [(0, 480), (640, 0), (-640, 480)])
def test_non_positive_size_is_refused(size: tuple[int, int]) -> None:
    with pytest.raises(InvalidFrameError, match=rf"size must be positive, got {size[0]}x{size[1]}"):
        CameraIntrinsics(*size, 525.0, 525.0, 319.5, 239.5)


@pytest.mark.parametrize("name", ["fx", "fy"])
@pytest.mark.parametrize("value", [0.0, -525.0, float("nan"), float("inf")])
def test_bad_focal_length_names_the_field_and_the_likely_cause(name: str, value: float) -> None:
    values = {"fx": 525.0, "fy": 525.0}
    values[name] = value
    with pytest.raises(InvalidFrameError, match=rf"{name}=.*not a positive focal length") as info:
        CameraIntrinsics(640, 480, cx=319.5, cy=239.5, **values)
    assert "camera_info K all zero" in str(info.value)
    # A ValueError too, and one of the project's errors.
    assert isinstance(info.value, ValueError) and isinstance(info.value, SegPerceptionError)


def test_all_zero_camera_info_matrix_is_refused() -> None:
    # An uncalibrated driver publishes K = 0: the first check to fail is fx.
    with pytest.raises(InvalidFrameError, match="fx=0.0"):
        CameraIntrinsics.from_matrix(np.zeros(9), 640, 480)


@pytest.mark.parametrize("name", ["cx", "cy"])
def test_non_finite_principal_point_is_refused(name: str) -> None:
    values = {"cx": 319.5, "cy": 239.5}
    values[name] = float("nan")
    with pytest.raises(InvalidFrameError, match=f"{name} is not finite"):
        CameraIntrinsics(640, 480, 525.0, 525.0, **values)


def test_intrinsics_are_immutable_and_hashable() -> None:
    K = intrinsics()
    with pytest.raises(AttributeError):
        K.fx = 1.0  # type: ignore[misc]
    assert len({K, intrinsics()}) == 1


def test_scaled_keeps_the_field_of_view_and_pixel_centre_convention() -> None:
    K = CameraIntrinsics(640, 480, 525.0, 525.0, 319.5, 239.5, distortion=(0.1,))
    half = K.scaled(320, 240)
    assert half.size == (320, 240)
    assert (half.fx, half.fy) == (262.5, 262.5)
    # Pixel centres: the image centre (319.5 of 0..639) maps to 159.5 of 0..319.
    assert (half.cx, half.cy) == (159.5, 119.5)
    assert half.distortion == K.distortion and half.distortion_model == K.distortion_model
    # The same ray hits the same relative position: the horizontal field of view is kept.
    fov = 2 * np.arctan(K.width / 2 / K.fx)
    assert 2 * np.arctan(half.width / 2 / half.fx) == pytest.approx(fov)
    # Non-uniform scaling and its inverse.
    odd = K.scaled(1280, 240)
    assert (odd.fx, odd.fy) == (1050.0, 262.5) and odd.cx == pytest.approx(639.5)
    back = odd.scaled(640, 480)
    for name in ("fx", "fy", "cx", "cy"):
        assert getattr(back, name) == pytest.approx(getattr(K, name))
    with pytest.raises(InvalidFrameError, match="size must be positive"):
        K.scaled(0, 240)



def test_pixel_rays_back_project_through_the_projection_and_are_memoised() -> None:
    K = CameraIntrinsics(64, 48, 50.0, 40.0, 31.5, 23.5, distortion=[0.1])
    u, v = K.pixel_rays()
    assert u.dtype == v.dtype == np.float32 and u.shape == (64,) and v.shape == (48,)
    # The point (u z, v z, z) on a pixel's ray projects back onto that pixel.
    np.testing.assert_allclose(K.fx * u + K.cx, np.arange(64), atol=1e-4)
    np.testing.assert_allclose(K.fy * v + K.cy, np.arange(48), atol=1e-4)
    assert (u[0], v[0]) == (np.float32(-31.5 / 50.0), np.float32(-23.5 / 40.0))
    # Equal intrinsics share one read-only pair; another camera gets its own.
    again = CameraIntrinsics(64, 48, 50.0, 40.0, 31.5, 23.5)
    assert again.pixel_rays()[0] is u and again.pixel_rays()[1] is v
    assert not u.flags.writeable and not v.flags.writeable
    assert K.scaled(32, 24).pixel_rays()[0].shape == (32,)

# ----------------------------------------------------------------------------- depth units


def test_uint16_depth_is_millimetres_by_default() -> None:
    raw = np.array([[0, 1, 800], [1000, 1500, 65535]], np.uint16)
    depth = depth_to_metres(raw)
    assert depth.dtype == np.float32 and depth.shape == raw.shape
    np.testing.assert_allclose(depth, [[0, 0.001, 0.8], [1.0, 1.5, 65.535]], rtol=1e-6)
    assert depth[0, 0] == 0.0  # 0 stays "no measurement"


def test_uint16_depth_with_another_scale() -> None:
    # e.g. a RealSense at 0.1 mm per unit, or a TUM-style 1/5000 m.
    raw = np.array([[10000, 5000]], np.uint16)
    np.testing.assert_allclose(depth_to_metres(raw, 0.0001), [[1.0, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(depth_to_metres(raw, 1 / 5000), [[2.0, 1.0]], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_depth_is_metres_and_bad_values_become_zero(dtype: type) -> None:
    raw = np.array([[0.5, np.nan, np.inf], [-np.inf, -0.2, 2.25]], dtype)
    depth = depth_to_metres(raw)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, np.array([[0.5, 0, 0], [0, 0, 2.25]], np.float32))
    assert np.isfinite(depth).all() and (depth >= 0).all()
    # The input is not modified in place.
    assert np.isnan(raw[0, 1]) and raw[1, 1] == dtype(-0.2)


def test_float_depth_scale_and_channel_axis() -> None:
    mm = np.array([[[800.0], [np.nan]], [[1200.0], [-5.0]]], np.float32)  # HxWx1
    depth = depth_to_metres(mm, depth_scale=0.001)
    assert depth.shape == (2, 2)
    np.testing.assert_allclose(depth, [[0.8, 0.0], [1.2, 0.0]], rtol=1e-6)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_float64_depth_too_large_for_float32_becomes_invalid() -> None:
    # 1e39 overflows float32 to inf, which must not leak out as a "measurement".
    depth = depth_to_metres(np.array([[1e39, 1.0]], np.float64))
    np.testing.assert_array_equal(depth, [[0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float16, np.int16])
def test_unsupported_depth_dtype_names_the_supported_ones(dtype: type) -> None:
    with pytest.raises(InvalidFrameError, match=rf"depth dtype {np.dtype(dtype)} is not supported"
                       ) as info:
        depth_to_metres(np.ones((2, 2), dtype))
    assert "uint16 millimetres" in str(info.value) and "float32 metres" in str(info.value)


@pytest.mark.parametrize("shape", [(4,), (4, 4, 3), (2, 4, 4)])
def test_depth_must_be_single_channel(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidFrameError, match=r"single-channel HxW image, got shape"):
        depth_to_metres(np.ones(shape, np.float32))



# ----------------------------------------------------------------------------- depth_to_millimetres

def test_millimetres_round_to_the_nearest_millimetre() -> None:
    depth = np.array([[0.8, 0.8004, 0.8006, 1.2346, 65.535]], np.float32)
    mm = depth_to_millimetres(depth)
    assert mm.dtype == np.uint16
    np.testing.assert_array_equal(mm, [[800, 800, 801, 1235, 65535]])


def test_millimetres_without_a_measurement_or_out_of_range_are_zero() -> None:
    """The one overflow rule: no saturation at 65535, every unrepresentable value is 0."""
    depth = np.array([[np.nan, np.inf, -np.inf, -0.5, 0.0, 0.0004, 65.536, 1e30]], np.float64)
    np.testing.assert_array_equal(depth_to_millimetres(depth), np.zeros((1, 8), np.uint16))
    assert MAX_DEPTH_MM == np.iinfo(np.uint16).max


def test_millimetres_round_trip_through_depth_to_metres() -> None:
    mm = np.arange(0, 65536, 7, dtype=np.uint16).reshape(1, -1)
    np.testing.assert_array_equal(depth_to_millimetres(depth_to_metres(mm)), mm)

# ----------------------------------------------------------------------------- RGBDFrame.create


def test_create_normalises_a_valid_frame() -> None:
    depth = np.full((H, W), 800, np.uint16)
    depth[:, :16] = 0  # a quarter without measurement
    K = intrinsics()
    frame = RGBDFrame.create(rgb(), depth, K, stamp_ns=np.int64(123), frame_id="cam")
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (H, W, 3)
    assert frame.rgb.flags.c_contiguous
    np.testing.assert_array_equal(frame.rgb, rgb())
    assert frame.depth.dtype == np.float32 and frame.depth.shape == (H, W)
    assert frame.depth[0, 20] == pytest.approx(0.8)
    assert (frame.width, frame.height) == (W, H)
    assert frame.intrinsics is K
    assert frame.stamp_ns == 123 and type(frame.stamp_ns) is int and frame.frame_id == "cam"
    assert frame.valid_depth_fraction == pytest.approx(0.75)
    np.testing.assert_array_equal(frame.valid, depth > 0)
    assert frame.valid.dtype == bool


def test_create_defaults() -> None:
    frame = RGBDFrame.create(rgb(), np.ones((H, W), np.float32), intrinsics())
    assert frame.stamp_ns == 0 and frame.frame_id == "camera_color_optical_frame"
    assert frame.valid_depth_fraction == 1.0


def test_create_accepts_grey_and_rgba_colour() -> None:
    depth = np.ones((H, W), np.float32)
    grey = rgb(channels=None)
    for image in (grey, grey[:, :, None]):
        frame = RGBDFrame.create(image, depth, intrinsics())
        assert frame.rgb.shape == (H, W, 3)
        for c in range(3):  # grey replicated into every channel
            np.testing.assert_array_equal(frame.rgb[:, :, c], grey)
    rgba = rgb(channels=4)
    frame = RGBDFrame.create(rgba, depth, intrinsics())
    assert frame.rgb.shape == (H, W, 3) and frame.rgb.flags.c_contiguous
    np.testing.assert_array_equal(frame.rgb, rgba[:, :, :3])  # alpha dropped, order kept


def test_create_maps_nan_and_inf_depth_to_zero_and_counts_valid_pixels() -> None:
    depth = np.full((H, W), 1.0, np.float32)
    depth[0, :] = np.nan
    depth[1, :] = np.inf
    depth[2, :] = -1.0
    frame = RGBDFrame.create(rgb(), depth, intrinsics())
    assert (frame.depth[:3] == 0).all() and (frame.depth[3:] == 1.0).all()
    assert frame.valid_depth_fraction == pytest.approx((H - 3) / H)
    assert not frame.valid[:3].any() and frame.valid[3:].all()


def test_create_depth_scale_applies_to_uint16_and_float() -> None:
    K = intrinsics()
    raw = np.full((H, W), 4000, np.uint16)
    assert RGBDFrame.create(rgb(), raw, K, depth_scale=0.00025).depth[0, 0] == pytest.approx(1.0)
    mm = np.full((H, W), 650.0, np.float32)
    assert RGBDFrame.create(rgb(), mm, K, depth_scale=0.001).depth[0, 0] == pytest.approx(0.65)


@pytest.mark.parametrize("depth", [np.zeros((H, W), np.uint16),
                                   np.full((H, W), np.nan, np.float32),
                                   np.full((H, W), -1.0, np.float32)])
def test_all_invalid_depth_is_refused_with_a_hint(depth: np.ndarray) -> None:
    with pytest.raises(InvalidFrameError, match="depth has no valid pixels") as info:
        RGBDFrame.create(rgb(), depth, intrinsics())
    assert "depth stream" in str(info.value)


def test_min_valid_fraction_threshold() -> None:
    depth = np.zeros((H, W), np.float32)
    depth[0, :W // 2] = 1.0  # 32 of 3072 pixels, ~1 %
    frac = (W // 2) / (W * H)
    assert RGBDFrame.create(rgb(), depth, intrinsics()).valid_depth_fraction == pytest.approx(frac)
    with pytest.raises(InvalidFrameError, match="no valid pixels"):
        RGBDFrame.create(rgb(), depth, intrinsics(), min_valid_fraction=0.05)
    # 0 accepts even an all-invalid depth image (a caller that handles it itself).
    empty = RGBDFrame.create(rgb(), np.zeros((H, W), np.uint16), intrinsics(),
                             min_valid_fraction=0.0)
    assert empty.valid_depth_fraction == 0.0 and not empty.valid.any()


def test_colour_and_depth_size_mismatch_names_both_sizes() -> None:
    with pytest.raises(InvalidFrameError, match=rf"colour {W}x{H} and depth {W // 2}x{H // 2} "
                       "differ in size") as info:
        RGBDFrame.create(rgb(), np.ones((H // 2, W // 2), np.float32), intrinsics())
    assert "aligned" in str(info.value)
    # Transposed depth (H and W swapped) is a mismatch too.
    with pytest.raises(InvalidFrameError, match="differ in size"):
        RGBDFrame.create(rgb(), np.ones((W, H), np.float32), intrinsics())


def test_intrinsics_size_mismatch_names_camera_info() -> None:
    with pytest.raises(InvalidFrameError, match=rf"camera_info size 640x480 does not match the "
                       rf"image {W}x{H}"):
        RGBDFrame.create(rgb(), np.ones((H, W), np.float32), intrinsics(640, 480))
    # Width and height swapped (a portrait camera_info) is caught as well.
    with pytest.raises(InvalidFrameError, match="camera_info size"):
        RGBDFrame.create(rgb(), np.ones((H, W), np.float32), intrinsics(H, W))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int8])
def test_non_uint8_colour_is_refused(dtype: type) -> None:
    with pytest.raises(InvalidFrameError, match=rf"colour dtype {np.dtype(dtype)} is not supported"):
        RGBDFrame.create(rgb().astype(dtype), np.ones((H, W), np.float32), intrinsics())


@pytest.mark.parametrize("shape", [(H, W, 2), (H, W, 5), (W,), (2, H, W, 3)])
def test_wrong_colour_channels_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidFrameError, match=r"1, 3 or 4 channels, got shape"):
        RGBDFrame.create(np.zeros(shape, np.uint8), np.ones((H, W), np.float32), intrinsics())


def test_empty_images_are_refused() -> None:
    with pytest.raises(InvalidFrameError, match="empty image"):
        RGBDFrame.create(np.zeros((0, W, 3), np.uint8), np.ones((H, W), np.float32), intrinsics())
    with pytest.raises(InvalidFrameError, match="empty image"):
        RGBDFrame.create(rgb(), np.zeros((0, 0), np.float32), intrinsics())


def test_depth_errors_surface_through_create() -> None:
    with pytest.raises(InvalidFrameError, match="depth dtype int32"):
        RGBDFrame.create(rgb(), np.ones((H, W), np.int32), intrinsics())
    with pytest.raises(InvalidFrameError, match="single-channel"):
        RGBDFrame.create(rgb(), np.ones((H, W, 3), np.float32), intrinsics())


def test_create_does_not_alias_the_callers_depth() -> None:
    raw = np.full((H, W), 1.0, np.float32)
    frame = RGBDFrame.create(rgb(), raw, intrinsics())
    raw[:] = np.nan
    assert (frame.depth == 1.0).all()
