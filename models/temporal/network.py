"""The temporal LSTM: predicts a user's next-day emotion distribution from their history.

Fitted over a whole cohort, it learns what normal day-to-day dynamics look like; how badly it
predicts a given day (its surprise) then says how unexpected that day was for that user.
Fitting lives in :mod:`models.temporal.training`; inputs, surprise and (de)serialisation in
:mod:`models.temporal.inference`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The format of inputs and weights; a checkpoint of another architecture is not loaded into
# this one (the drift job then fits from a fresh initialisation and says so).
ARCHITECTURE = "discounted-posterior-residual-v2"
# Starting values of the base forecaster, before fitting: a day's weight fades by 0.8 a day,
# the cohort prior weighs as much as 2 effective posts, a day of n posts counts sqrt(n).
INITIAL_DECAY = 0.8
INITIAL_PRIOR_POSTS = 2.0
INITIAL_POST_EXPONENT = 0.5


def _logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


class TemporalLSTM(nn.Module):
    """A correction, learned by an LSTM, to a discounted posterior mean of a user's days.

    Each input step is one day with posts: that day's distribution over the labels, then
    ``extra_features`` scalars, the first two being the log of the gap in days to the day
    being predicted and log(1 + posts that day) (further ones are read by the LSTM only).

    The forecast is built in two parts:

    - a base, the posterior mean of the user's current distribution under a forgetting
      Dirichlet-style model: each day adds its distribution with weight ``posts ** exponent``
      (a day of ten posts says more than a day of one, but not ten times more: its posts share
      a mood), every weight fades by ``decay ** days`` (moods change), and a cohort prior
      with the weight of ``prior_posts`` posts pulls a user with little history towards what
      users usually feel (a one-post day is mostly noise). Ten fitted numbers: decay,
      prior weight, exponent and the prior distribution;
    - a residual: the logits are ``log(base) + head(lstm(inputs, base))``, the head
      initialised at zero, so an unfitted correction forecasts exactly the base, and fitting
      only has to learn what the base misses (dynamics across the cohort, gaps, labels the
      emotion models over- or under-read).

    An earlier version corrected the plain running average and only tied exponential
    smoothing on held-out users (mean KL 0.452 against 0.452, benchmarks/RESULTS.md).

    Args:
        num_labels: size of the emotion distribution (7 for LABELS).
        hidden_dim: LSTM hidden size.
        num_layers: stacked LSTM layers.
        extra_features: scalars after the distribution (at least 2: gap and post count).
        mean_floor: added to the base before the log (a guard: the prior keeps it positive).
    """

    def __init__(
        self,
        num_labels: int = 7,
        hidden_dim: int = 16,
        num_layers: int = 1,
        extra_features: int = 2,
        mean_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        if hidden_dim < 1:
            raise ValueError(f"hidden_dim must be >= 1, got {hidden_dim}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if extra_features < 2:
            raise ValueError(f"extra_features must be >= 2 (gap and post count), got {extra_features}")
        if mean_floor <= 0:
            raise ValueError(f"mean_floor must be > 0, got {mean_floor}")
        self.num_labels = num_labels
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.extra_features = extra_features
        self.mean_floor = mean_floor
        self.decay_logit = nn.Parameter(torch.tensor(_logit(INITIAL_DECAY)))
        self.log_prior_posts = nn.Parameter(torch.tensor(math.log(INITIAL_PRIOR_POSTS)))
        self.exponent_logit = nn.Parameter(torch.tensor(_logit(INITIAL_POST_EXPONENT)))
        self.prior_logits = nn.Parameter(torch.zeros(num_labels))
        self.lstm = nn.LSTM(
            input_size=2 * num_labels + extra_features, hidden_size=hidden_dim, num_layers=num_layers, batch_first=True
        )
        self.head = nn.Linear(hidden_dim, num_labels)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def base_parameters(self) -> dict[str, float | list[float]]:
        """The base forecaster's fitted numbers, readable (decay per day, prior weight in
        posts, post exponent, prior distribution)."""
        with torch.no_grad():
            return {
                "decay": float(torch.sigmoid(self.decay_logit)),
                "prior_posts": float(torch.exp(self.log_prior_posts)),
                "post_exponent": float(torch.sigmoid(self.exponent_logit)),
                "prior": torch.softmax(self.prior_logits, dim=0).tolist(),
            }

    def base(self, inputs: torch.Tensor) -> torch.Tensor:
        """The discounted posterior mean after each step, for the day after it, (batch, steps, num_labels)."""
        days = inputs[..., : self.num_labels]
        day_weights = torch.expm1(inputs[..., self.num_labels + 1]).clamp(min=1.0) ** torch.sigmoid(self.exponent_logit)
        # the weight of everything seen so far, faded to the day being predicted
        fading = torch.sigmoid(self.decay_logit) ** torch.exp(inputs[..., self.num_labels])
        prior_posts = torch.exp(self.log_prior_posts)
        prior = torch.softmax(self.prior_logits, dim=0)
        weight = torch.zeros_like(days[:, 0, :1])
        level = torch.zeros_like(days[:, 0])
        forecasts = []
        for step in range(days.shape[1]):
            total = weight + day_weights[:, step, None]
            level = (weight * level + day_weights[:, step, None] * days[:, step]) / total
            weight = total * fading[:, step, None]
            forecasts.append((weight * level + prior_posts * prior) / (weight + prior_posts))
        return torch.stack(forecasts, dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Next-day logits for every prefix of every sequence.

        Args:
            inputs: (batch, steps, num_labels + extra_features): day distribution, log gap to
                the next day, log(1 + posts), further scalars. Shorter sequences are padded at
                the end; base and LSTM are causal, so padding never changes earlier outputs.

        Returns:
            (batch, steps, num_labels) logits; ``softmax(logits[:, t])`` is the predicted
            distribution of the day after step t.
        """
        base = self.base(inputs)
        days, extras = inputs[..., : self.num_labels], inputs[..., self.num_labels :]
        hidden, _ = self.lstm(torch.cat([days, base, extras], dim=-1))
        return torch.log(base + self.mean_floor) + self.head(hidden)
