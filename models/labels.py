"""The one label set both modalities and every stage share."""

LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
NUM_LABELS = len(LABELS)
LABEL_INDEX: dict[str, int] = {name: index for index, name in enumerate(LABELS)}
