"""Face detectors behind one interface (:class:`FaceDetector`), chosen with the Hydra group ``detector=``."""

from src.faces.detectors.base import FaceDetector, FrameDetections, VideoDetections

__all__ = ["FaceDetector", "FrameDetections", "VideoDetections"]
