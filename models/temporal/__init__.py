"""The cohort's temporal model: an LSTM over each user's daily emotion distributions that
predicts the next day's; its surprise feeds the drift stage's confidence."""

from models.temporal.network import TemporalLSTM

__all__ = ["TemporalLSTM"]
