import numpy as np
import pytest

from models.fusion import fuse, top_label
from models.labels import LABELS


def one_hotish(label: str, mass: float = 0.7) -> list[float]:
    probs = np.full(len(LABELS), (1 - mass) / (len(LABELS) - 1))
    probs[LABELS.index(label)] = mass
    return probs.tolist()


def test_missing_modalities():
    assert fuse(None, None) is None
    np.testing.assert_allclose(fuse(one_hotish("joy"), None), one_hotish("joy"))
    np.testing.assert_allclose(fuse(None, one_hotish("fear")), one_hotish("fear"))


def test_agreement_sharpens_and_result_is_a_distribution():
    fused = fuse(one_hotish("joy"), one_hotish("joy"))
    assert fused.sum() == pytest.approx(1.0)
    assert fused[LABELS.index("joy")] > 0.7


def test_text_weight_decides_a_conflict():
    text, image = one_hotish("anger", 0.6), one_hotish("sadness", 0.6)
    assert top_label(fuse(text, image, text_weight=0.8)) == "anger"
    assert top_label(fuse(text, image, text_weight=0.2)) == "sadness"


def test_validation():
    with pytest.raises(ValueError, match="text_weight"):
        fuse(one_hotish("joy"), None, text_weight=1.5)
    with pytest.raises(ValueError, match="7 probabilities"):
        fuse([0.5, 0.5], None)
