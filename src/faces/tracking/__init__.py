"""Face tracking: link per-frame detections into tracks (pure functions over arrays)."""

from src.faces.tracking.ntech import interpolate_track, iou_tracks
from src.faces.tracking.track import Track, box_iou
from src.faces.tracking.tubes import face_tubes, nearest_detected, nearest_in_time, vote_num_faces

__all__ = [
    "Track",
    "box_iou",
    "face_tubes",
    "interpolate_track",
    "iou_tracks",
    "nearest_detected",
    "nearest_in_time",
    "vote_num_faces",
]
