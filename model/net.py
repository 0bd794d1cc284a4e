"""The compact CNN (training only: torch is not installed on the device).

Input ``(batch, 1, n_mels, n_frames)`` log-mel from :mod:`model.features`; output one
logit per window (abnormal > 0). Four conv blocks (3x3 conv, batch norm, ReLU, 2x2 max
pool), global average pooling so any window length works, dropout, one linear layer.
About 25k parameters with the default widths; the first blocks are narrow because
they run at full time resolution (cost), the last wide (capacity).
"""

from __future__ import annotations

import torch
from torch import nn


class HeartCNN(nn.Module):
    """Small 2-D CNN over log-mel windows.

    Args:
        widths: output channels of the conv blocks.
        dropout: dropout before the classifier.
    """

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        self.widths = tuple(widths)
        in_ch = 1
        for out_ch in widths:
            layers += [
                nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Window logits.

        Args:
            x: ``(batch, 1, n_mels, n_frames)`` float32.

        Returns:
            ``(batch,)`` logits.
        """
        h = self.features(x)
        h = h.mean(dim=(2, 3))  # global average pool: exported as ReduceMean
        logits: torch.Tensor = self.head(self.dropout(h)).squeeze(1)
        return logits


class ProbabilityModel(nn.Module):
    """Wraps :class:`HeartCNN` to output probabilities (what the ONNX file exposes)."""

    def __init__(self, net: HeartCNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Window probabilities of abnormality, ``(batch,)``."""
        return torch.sigmoid(self.net(x))


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters.

    Args:
        net: any module.

    Returns:
        Sum of element counts of parameters requiring grad.
    """
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
