"""The ``geometric`` instance segmenter: tabletop objects from depth, no weights.

Algorithm (on a grid of about 320 columns; labels are pasted back to full size):

1. Back-project depth (isolated missing pixels filled); smoothed surface normals.
2. Support plane: RANSAC with normal agreement over up to three large planes
   whose normal lies in a cone around ``up_hint`` (camera frame); the most "up"
   of them, and of parallel ones the nearest to the camera (a table over a floor);
   refit by least squares in inverse depth, where ``~ z**2`` noise is one constant.
3. Object pixels lie between ``min_height`` and ``max_height`` above it; the
   threshold grows with the depth noise (``~ z**2``), measured at each pixel (a dark
   table is noisier than the objects on it); a surface that clears it somewhere
   continues down to 1.5 noise sigmas where connected (hysteresis). A thin flat object's
   top (a plate lying flat: up-facing, its mean height over ``min_height`` where the
   per-pixel test sees only a speckle) counts down to half ``min_height``. A region
   found only under the plane's own noise band must differ in colour from the table
   around it; it then continues over the connected workspace pixels of its colour (the
   rest of a book's top, lost in the band of a noisy table).
4. Cuts: depth discontinuities (occlusion edges, tolerant of surfaces seen
   obliquely), lower steps that stand out from the slope on both sides where the
   image shows an edge too (objects in a pile, flush box faces), and concave
   creases between surfaces (an object standing on or against another: the
   convexity test of LCCP on normals). Regions are the
   connected cut-free pixels, seeded after a one-pixel erosion (closes small gaps
   in cut lines); cut pixels go back to the nearest region of similar depth.
5. Colour split, only where geometry supports it: a crease inside a region
   that does not close (e.g. two flush boxes of different colour) is completed
   along the colour boundary between the two surfaces it separates. Colour is
   CIELAB a*b* without lightness, so a printed or striped object stays one.
6. Merges: regions joined by a thin uncut bridge with one colour and top height (a
   cup's rim) first (two slivers only while neither is part of an object: slivers of
   two objects meet at their seam in a pile); then slivers join their neighbour,
   unless a bridge gave them to an object already (one with an object's area stays
   apart from a neighbour of a wholly different colour: a plate on its side in a
   pile); a container's inside joins its outside (same rim height and colour or
   hue, behind the rim); an object's foot (a lower region of its colour whose
   footprint lies under it) joins it; a small part of one chromatic colour (a toy's
   head or leg, a mug's handle; at most 10 cm) joins the part it meets with no depth
   step, or across only a thin band of missing depth, cut off by a crease of the
   object's own shape (not through a sliver that only its outline gave to another
   object); fragments of an object cut in two by an occluder join (same plane at the
   gap, or same colour and close in 3D; the gap covered by something nearer, slivers of
   either fragment on the way counting as that fragment).
7. The workspace: the support plane's pixels form surfaces (connected in the
   image, also across strips without depth up to 5 cm wide: a cable, a shadow);
   ``workspace`` picks the largest (the most support pixels) or every one of at
   least 0.01 m² (``geometry.workspace.surface_extents``). A region is an object only if its
   footprint (its points dropped onto the plane) lies on that surface's convex
   extent grown by ``workspace_margin`` metres: a chair or a second table
   beyond it, a wall behind it, are not objects.
8. A region that is one vertical plane continuing beyond what is seen of it
   (above ``max_height`` on the same plane, or into missing depth / the image
   border) is part of a wall or furniture side: background, not an object.
   Regions of implausible size (metres, square metres) are dropped. A pocket that
   one object encloses (a mug's inside, its floor at table height) joins it where it
   has depth and is nearer the object's colour than the table's (not a handle's hole).
   Object pixels left out at step 4 (whose nearest seed lay past a depth step, e.g.
   the far side of an occluding edge) then join the object whose depth they continue,
   one pixel ring at a time, as far as step 4 reaches.
9. Full resolution: each pixel takes the nearest grid label if it is itself above
   the plane; an object's outline then grows by up to one grid cell into pixels
   still 1 noise sigma above the plane that continue its depth (the bottom of its
   sides, under the height tolerance).

All thresholds are physical (metres, degrees, pixels of the processing grid)
and scale with depth where sensor noise does, so one configuration serves any
tabletop RGB-D camera; nothing is fitted to particular frames.

Example:
    >>> from seg_perception.sim.synthetic import render_scene, preset_objects
    >>> seg = build_geometric()
    >>> masks, plane = seg.segment_with_plane(render_scene(preset_objects("separated")).frame)
    >>> len(masks), plane is not None
    (3, True)
"""
from __future__ import annotations

# Modules, in the order a frame goes through them: config; points (the frame on the
# grid, normals); support (the plane); grid (GridScene: the grid split by the plane);
# regions (cuts, components) -> colour (split), merge + stats + occlusion (joins),
# workspace (which regions are objects); labels (full resolution); analysis (one
# frame, timed); segmenter (the backend and its builder).
from .analysis import SceneAnalysis, analyse_scene
from .config import WORKSPACE_MODES, GeometricConfig
from .segmenter import GeometricSegmenter, build_geometric

__all__ = [
    "WORKSPACE_MODES",
    "GeometricConfig",
    "GeometricSegmenter",
    "SceneAnalysis",
    "analyse_scene",
    "build_geometric",
]
