"""Simulated RGB-D tabletop data with exact ground truth.

Modules (imported on demand, so ``import seg_perception.sim`` stays light):

* :mod:`~seg_perception.sim.synthetic`: an analytic ray caster of boxes and
  cylinders on a table; no physics, no renderer, exact to the float.
* :mod:`~seg_perception.sim.scenes`: physically settled clutter rendered with
  pybullet (``TabletopSim``, ``SceneConfig``, ``SimFrame``), with hard cases
  (touching, stacked, occluded, thin and flat objects) built on purpose; the
  public entry of the :mod:`~seg_perception.sim.tabletop` package (config,
  objects, layout, placement, table, camera, ground truth, world).
* :mod:`~seg_perception.sim.depth_noise`: a structured-light / active-stereo
  depth sensor model (``apply_depth_noise``, ``DepthNoiseModel``).
* :mod:`~seg_perception.sim.dataset`: COCO instance-segmentation export of
  simulated RGB-D frames (``export_coco``) and its loader (``load_coco_rgbd``).

Example:
    >>> from seg_perception.sim.scenes import SceneConfig, TabletopSim
    >>> with TabletopSim(SceneConfig(width=160, height=120), seed=0) as sim:
    ...     frame = sim.render()
    >>> frame.depth.shape
    (120, 160)
"""

__all__ = ["dataset", "depth_noise", "scenes", "synthetic", "tabletop"]
