"""The scoring protocols and the names every part of a report agrees on."""
from __future__ import annotations

from typing import Any, Mapping

from ..metrics.osd import OSD_MIN_SEGMENT_DEPTH

__all__ = ["LEGACY_PROTOCOL", "NO_CASE", "OTHER_CLASS", "STANDARD_PROTOCOL", "VOID_CLASS",
           "protocol_description"]

NO_CASE = "none"  # case key of frames without any case tag
VOID_CLASS = "unknown"  # GT semantic class that is not scored
OTHER_CLASS = "<other>"  # predicted semantic classes that the GT does not have
STANDARD_PROTOCOL = "standard"
LEGACY_PROTOCOL = "ignore-gt-without-depth"


def protocol_description(settings: Mapping[str, Any]) -> str:
    """One sentence naming the scoring protocol of a report's ``settings``."""
    if settings.get("protocol") == LEGACY_PROTOCOL:
        return (f"`{LEGACY_PROTOCOL}` (not the published protocol): pixels without depth "
                "removed from ground truth and prediction before scoring")
    frac = settings.get("min_segment_depth", OSD_MIN_SEGMENT_DEPTH)
    return (f"`{STANDARD_PROTOCOL}` (OSD/OCID, UOIS-Net/UCN): ground truth scored in full, "
            f"predicted segments with under {100 * frac:.0f} % of pixels with depth removed")
