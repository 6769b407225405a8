"""The cohort's temporal model: a discounted posterior mean of each user's daily emotion
distributions with an LSTM's learned correction, predicting the next day's; its forecast and
surprise go to ``sequences`` (the dashboard shows them; the surprise can enter the drift
stage's confidence, off by default)."""

from models.temporal.network import TemporalLSTM

__all__ = ["TemporalLSTM"]
