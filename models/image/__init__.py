"""Face emotions in images: decoding, the face detector and crops, the CNN, its training
loop, and the batched scorer (single network or ensemble) the pipeline calls."""

from models.image.faces import FaceDetector
from models.image.inference import ImageScorer, load_image_scorer

__all__ = ["FaceDetector", "ImageScorer", "load_image_scorer"]
