"""Objects are things on the surface the robot works on (issue 24): the workspace rule,
walls and furniture, the measured depth noise, the settings that choose it."""
from __future__ import annotations

import numpy as np
import pytest

from seg_perception.config import PipelineConfig
from seg_perception.errors import ConfigError
from seg_perception.frames import RGBDFrame
from seg_perception.geometry.plane import SurfaceExtent, depth_noise_on_plane
from seg_perception.geometry.workspace import surface_extents
from seg_perception.pipeline import Pipeline
from seg_perception.results import Plane
from seg_perception.segmenters.geometric import GeometricConfig, build_geometric
from seg_perception.sim.synthetic import look_at, preset_objects, render_scene

CABINET, OTHER_TABLE, ON_OTHER_TABLE = 4, 5, 6  # labels of the room's extra primitives


def _truth_of_each(scene, workspace: str, frame: RGBDFrame | None = None) -> list[int]:
    """The GT label each predicted object lies on (majority), sorted; ``frame``: the
    scene's frame with other depth."""
    frame = frame or scene.frame
    seg = build_geometric(workspace=workspace)
    analysis = seg.analyse(frame)
    labels = analysis.full_labels(frame)
    out = []
    for i in range(1, analysis.num_objects + 1):
        truth = scene.instance_labels[labels == i]
        out.append(int(np.bincount(truth).argmax()))
    return sorted(out)


def test_only_objects_on_the_largest_surface_by_default(room):
    assert np.bincount(room.instance_labels.ravel())[[CABINET, ON_OTHER_TABLE]].min() > 500
    assert _truth_of_each(room, "largest_surface") == [1, 2, 3]


def test_all_surfaces_adds_the_other_table_but_never_furniture(room):
    assert _truth_of_each(room, "all_surfaces") == [1, 2, 3, ON_OTHER_TABLE]


def test_a_strip_without_depth_across_the_table_drops_no_object(room):
    # A shadow's or cable's strip (2 cm) between the objects, over the whole image: the
    # table's two sides stay one surface, and the strip joins nothing else to it (the
    # cabinet where it crosses the table's height would become an "object").
    cols = np.flatnonzero((room.instance_labels == 1).any(axis=0))
    depth = room.frame.depth.copy()
    depth[:, cols.max() + 3:cols.max() + 9] = 0.0
    cut = RGBDFrame.create(room.frame.rgb, depth, room.frame.intrinsics)
    assert _truth_of_each(room, "largest_surface", cut) == [1, 2, 3]


def _table_cut_by(strip_cm: int):
    """``(support, x, y, z, plane)``: a table 1 m away seen face-on, 1 cm a pixel
    (40 x 60 pixels, f = 100), without depth in a strip of ``strip_cm`` columns from
    column 20 on."""
    z = np.ones((40, 60), np.float32)
    v, u = np.mgrid[0:40, 0:60].astype(np.float32)
    support = np.ones(z.shape, bool)
    support[:, 20:20 + strip_cm] = False
    return support, (u - 30) / 100 * z, (v - 20) / 100 * z, z, Plane((0.0, 0.0, -1.0), 1.0)


def _at_columns(*cols: int) -> np.ndarray:
    return np.array([[(c - 30) / 100, 0.0, 1.0] for c in cols], np.float32)


def test_a_narrow_strip_without_depth_does_not_cut_a_surface():
    support, x, y, z, plane = _table_cut_by(3)
    args = (support, x, y, z, 100.0, 100.0, plane, "largest_surface", 0.0)
    extents, mine = surface_extents(*args, bridge=~support)
    assert (mine == support).all()
    assert extents.contains(_at_columns(5, 21, 50)).all()
    # Without the bridge, the larger side alone.
    _, alone = surface_extents(*args)
    assert alone.sum() == support[:, 23:].sum() and not alone[:, :20].any()


def test_wider_missing_depth_joins_nothing():
    # 12 cm (a dark chair, the dropouts along an occlusion edge): two surfaces.
    support, x, y, z, plane = _table_cut_by(12)
    extents, mine = surface_extents(support, x, y, z, 100.0, 100.0, plane, "largest_surface",
                                    0.0, bridge=~support)
    assert (mine == (support & (np.arange(60) >= 32))).all()  # by support pixels: the right
    assert extents.contains(_at_columns(5, 26, 50)).tolist() == [False, False, True]
    extents, mine = surface_extents(support, x, y, z, 100.0, 100.0, plane, "all_surfaces",
                                    0.0, bridge=~support)
    assert (mine == support).all() and len(extents.extents) == 2
    assert extents.contains(_at_columns(5, 26, 50)).tolist() == [True, False, True]


def test_wall_flush_with_the_table_edge_is_not_an_object():
    # The table's back edge touches the wall; a camera looking along the table sees
    # the wall's foot right behind the objects.
    scene = render_scene(preset_objects("separated"), table_size=(0.8, 0.5), wall_distance=0.0,
                         camera=look_at((0.0, -0.75, 0.35), (0.0, 0.1, 0.05)))
    seg = build_geometric()
    analysis = seg.analyse(scene.frame)
    labels = analysis.full_labels(scene.frame)
    wall = scene.semantic_labels == 3
    assert wall.sum() > 2000
    for i in range(1, analysis.num_objects + 1):
        assert (wall & (labels == i)).sum() < 0.1 * (labels == i).sum()
    assert analysis.num_objects == 3


def test_surface_extent_grows_by_its_margin():
    plane = Plane((0.0, -1.0, 0.0), 0.5)  # y = 0.5: a floor-like plane in front of the camera
    xs, zs = np.meshgrid(np.linspace(-0.3, 0.3, 30), np.linspace(0.8, 1.4, 30))
    pts = np.stack([xs.ravel(), np.full(xs.size, 0.5), zs.ravel()], axis=1).astype(np.float32)
    extent = SurfaceExtent(pts, plane, margin=0.05)
    probe = np.array([[0.0, 0.5, 1.0], [0.33, 0.5, 1.0], [0.4, 0.5, 1.0], [0.0, 0.5, 1.5]],
                     np.float32)
    assert extent.contains(probe).tolist() == [True, True, False, False]


@pytest.mark.parametrize("a", [0.0015, 0.004])
def test_noise_is_measured_on_the_plane(a):
    rng = np.random.default_rng(0)
    xs, zs = rng.uniform(-0.5, 0.5, 20000), rng.uniform(0.6, 1.6, 20000)
    ys = 0.4 + rng.normal(0, 1, zs.size) * a * zs ** 2  # sigma = a z^2 about the plane y = 0.4
    pts = np.stack([xs, ys, zs], axis=1)
    found = depth_noise_on_plane(pts, Plane((0.0, -1.0, 0.0), 0.4), noise_at_1m=0.001)
    assert found == pytest.approx(a, rel=0.1)
    # Never quieter than configured.
    assert depth_noise_on_plane(pts, Plane((0.0, -1.0, 0.0), 0.4), noise_at_1m=0.01) == 0.01


def test_workspace_settings_reach_the_segmenter_and_change_at_run_time():
    pipeline = Pipeline(PipelineConfig(workspace="all_surfaces", workspace_margin=0.1),
                        semantic_segmenter=None)
    assert pipeline.instance_segmenter.config.workspace == "all_surfaces"
    assert pipeline.instance_segmenter.config.workspace_margin == 0.1
    pipeline.update_config(workspace="largest_surface", workspace_margin=0.02)
    assert pipeline.instance_segmenter.config.workspace == "largest_surface"
    assert pipeline.instance_segmenter.config.workspace_margin == 0.02
    with pytest.raises(ConfigError, match="workspace"):
        pipeline.update_config(workspace="kitchen")
    with pytest.raises(ConfigError, match="workspace"):
        GeometricConfig(workspace="kitchen")


def test_layout_never_labels_the_room_as_object(room):
    # Semantic image: the cabinet and the other table's box are not "object" pixels.
    # (A new frame object: the others' analyses of room.frame are cached.)
    frame = RGBDFrame.create(room.frame.rgb, room.frame.depth.copy(), room.frame.intrinsics)
    scene = Pipeline(PipelineConfig(compute_geometry=False, tracking=False)).process(frame)
    semantic = scene.semantic.labels
    assert len(scene.objects) == 3
    for extra in (CABINET, ON_OTHER_TABLE):
        assert (semantic[room.instance_labels == extra] == 4).mean() < 0.05
