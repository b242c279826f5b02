"""The default detector on ../shared/realvideos: exactly one face on single-face videos, none on the no-face clips.

Which videos show one face was decided by looking at frames (not from the manifest's Haar columns):
"""

from __future__ import annotations

import numpy as np
import pytest

from src.faces.detectors.base import VideoDetections

FF23 = "ffpp/original_sequences/youtube/c23/videos"
FAKE23 = "ffpp/manipulated_sequences/{}/c23/videos"
FAKE40 = "ffpp/manipulated_sequences/{}/c40/videos"
SINGLE_FACE = {
    "dfdc/abofeumbvv.mp4": "one woman standing in a dim room (mean brightness 34/255), face ~100 px",
    "dfdc/abqwwspghj.mp4": "one woman seated, talking, frontal",
    "dfdc/brtujopkby.mp4": "one woman in profile, portrait video; a patterned cushion behind her looks face-like",
    "dfdc/widuwuoiur.mp4": "one woman seated at a desk",
    "dfdc/lynaeydofd.mp4": "one man on a sofa",
    f"{FAKE23.format('Deepfakes')}/519_515.mp4": "one news anchor (face swapped)",
    f"{FF23}/519.mp4": "one news anchor",
    f"{FAKE23.format('Face2Face')}/750_743.mp4": "one vlogger gesturing with her hands",
    f"{FAKE23.format('FaceSwap')}/634_660.mp4": "one presenter; newsroom staff behind her are small and blurred",
    f"{FF23}/634.mp4": "one presenter; newsroom staff behind her are small and blurred",
    f"{FAKE23.format('NeuralTextures')}/004_982.mp4": "one presenter; inset pictures show Star Wars characters",
    f"{FF23}/004.mp4": "one presenter; inset pictures show Star Wars characters",
    **{
        f"{FAKE40.format(m)}/{v}.mp4": "one face, frontal, c40"
        for m in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
        for v in ("183_253", "253_183")
    },
    "ffpp/original_sequences/youtube/c40/videos/183.mp4": "one man in a TV interview",
    "ffpp/original_sequences/youtube/c40/videos/253.mp4": "one man talking to the camera",
}
NO_FACE = {
    "other/intel-iot-devkit_sample-videos/bottle-detection.mp4": "bottles on a table, a hand now and then",
    "other/intel-iot-devkit_sample-videos/car-detection.mp4": "parking lot from above",
    "other/intel-iot-devkit_sample-videos/one-by-one-person-detection.mp4": "people seen from behind and above",
}
# Not scored: dfdc/yhffcuhhjy.mp4 (framed photos of people on the wall behind her: several small real faces; she
# often covers her face with her hands), other/facenet-pytorch/video.mp4 (a crowd), other/face_recognition/
# short_hamilton_clip.mp4 (cuts between the singer and an audience of many faces).


@pytest.mark.realdata
def test_default_detector_on_single_face_and_no_face_videos(realvideos_detections, manifest, capsys):
    known = {row["filename"] for row in manifest}
    assert set(SINGLE_FACE) | set(NO_FACE) <= known
    rates, lines = {}, []
    for video, expected in [*((v, 1) for v in SINGLE_FACE), *((v, 0) for v in NO_FACE)]:
        detections = VideoDetections.load(realvideos_detections / "detections" / f"{video}.npz")
        counts = detections.counts
        rates[video] = float(np.mean(counts == expected))
        lines.append(f"  {rates[video]:6.1%} of {len(counts):2d} frames with {expected} face(s)  {video}")
    with capsys.disabled():
        print("\nmtcnn (default) on the real videos, every 6th frame:\n" + "\n".join(lines))
    assert {v: r for v, r in rates.items() if v in SINGLE_FACE and r < 0.95} == {}
    assert {v: r for v, r in rates.items() if v in NO_FACE and r < 0.90} == {}


@pytest.mark.realdata
def test_detections_artifacts_describe_how_they_were_made(realvideos_detections):
    detections = VideoDetections.load(realvideos_detections / "detections" / "dfdc" / "abqwwspghj.mp4.npz")
    meta = detections.meta
    assert detections.frame_indices.tolist() == list(range(0, 120, 6))
    assert meta["video"]["video_id"] == "dfdc/abqwwspghj.mp4" and meta["video"]["label"] == 1
    assert meta["info"]["width"] == 1920 and meta["info"]["num_frames"] == 300
    assert meta["detector"]["name"] == "mtcnn" and meta["detector"]["min_score"] == 0.97
    assert meta["sampling"] == {"name": "EveryNth", "step": 6, "start": 0, "max_count": 20}
    assert meta["timing"]["frames_per_second"] > 0
    face = detections.frames[0]
    x1, y1, x2, y2 = face.boxes[0]
    assert 0 <= x1 < x2 <= 1920 and 0 <= y1 < y2 <= 1080 and 100 < x2 - x1 < 400
    assert face.landmarks.shape == (1, 5, 2)
    assert ((face.landmarks[0] >= [x1, y1]) & (face.landmarks[0] <= [x2, y2])).all()
