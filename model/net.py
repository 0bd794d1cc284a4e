"""The compact CNNs (training only: torch is not installed on the device).

Input ``(batch, 1, n_channels, n_frames)`` from :mod:`signals.features`; output one logit
per window (abnormal > 0). Conv blocks, then mean and max over the last feature map (a
murmur may sit in a few beats only), dropout, one linear layer. Two shapes of the same
family: :class:`HeartCNN` (1-D over time, shipped) and :class:`HeartCNN2D`; the ONNX
file holds whichever was trained, with the same input and output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _PooledCNN(nn.Module):
    """Conv blocks (conv, batch norm, ReLU, max pool 2), mean and max pooling, a linear head.

    Args:
        dims: 1 (time only, bands as channels) or 2 (time and frequency).
        widths: output channels of the conv blocks.
        in_channels: rows of the input image (mel bands, plus any state channels).
        dropout: dropout before the classifier.
    """

    def __init__(
        self, dims: int, widths: tuple[int, ...], in_channels: int, dropout: float
    ) -> None:
        super().__init__()
        conv, norm, pool = (
            (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
            if dims == 1
            else (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        )
        kernel = 5 if dims == 1 else 3
        self.dims = dims
        self.widths = tuple(widths)
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        in_ch = in_channels if dims == 1 else 1
        for out_ch in widths:
            layers += [
                conv(in_ch, out_ch, kernel_size=kernel, padding=kernel // 2, bias=False),
                norm(out_ch),
                nn.ReLU(inplace=True),
                pool(2),
            ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * in_ch, 1)
        # Training only; see mix_style(). Probability per batch, Beta(alpha, alpha), and
        # after how many conv blocks the statistics are mixed as well as at the input.
        self.mix_style = 0.0
        self.mix_style_alpha = 0.1
        self.mix_style_blocks = 1
        self.style_noise = False  # DSU's resampling (style_noise()) instead of mixing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Window logits.

        Args:
            x: ``(batch, 1, in_channels, n_frames)`` float32.

        Returns:
            ``(batch,)`` logits.
        """
        return self.classify(self.embed(x))

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch,)`` from :meth:`embed`'s output (dropout, linear head)."""
        logits: torch.Tensor = self.head(self.dropout(embedding)).squeeze(1)
        return logits

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the classifier sees: ``(batch, 2 * widths[-1])``.

        In training with :attr:`mix_style` > 0, the channel statistics of the input (a
        stethoscope's colour, per band) and of the first :attr:`mix_style_blocks` blocks'
        outputs are mixed between windows (:func:`mix_style`); in evaluation and in the
        exported graph, never.
        """
        h = x.flatten(1, 2) if self.dims == 1 else x  # 1-D: bands -> channels
        if not (self.training and self.mix_style > 0):
            h = self.features(h)
        else:
            block_length = len(self.features) // len(self.widths)
            mix_after = {block_length * (k + 1) for k in range(self.mix_style_blocks)}
            h = self._perturb_style(h)
            for i, layer in enumerate(self.features):
                h = layer(h)
                if i + 1 in mix_after:
                    h = self._perturb_style(h)
        axes = tuple(range(2, h.dim()))
        return torch.cat([h.mean(dim=axes), h.amax(dim=axes)], dim=1)

    def _perturb_style(self, h: torch.Tensor) -> torch.Tensor:
        if self.style_noise:
            return style_noise(h, self.mix_style)
        return mix_style(h, self.mix_style, self.mix_style_alpha)


def mix_style(x: torch.Tensor, probability: float, alpha: float = 0.1) -> torch.Tensor:
    """MixStyle (Zhou et al., ICLR 2021): with ``probability``, each window's per-channel
    mean and standard deviation (over time, and frequency in 2-D) are replaced by a
    Beta(alpha, alpha) mix of its own and another window's of the batch, which is
    likely from another set. It makes up new "stethoscopes" from real ones.
    """
    if torch.rand(()) >= probability or x.size(0) < 2:
        return x
    axes = tuple(range(2, x.dim()))
    mean = x.mean(dim=axes, keepdim=True).detach()
    std = (x.var(dim=axes, keepdim=True) + 1e-6).sqrt().detach()
    share = torch.distributions.Beta(alpha, alpha).sample((x.size(0), *([1] * (x.dim() - 1))))
    other = torch.randperm(x.size(0))
    mixed_mean = share * mean + (1 - share) * mean[other]
    mixed_std = share * std + (1 - share) * std[other]
    return (x - mean) / std * mixed_std + mixed_mean


def style_noise(x: torch.Tensor, probability: float) -> torch.Tensor:
    """DSU (Li et al., "Uncertainty modeling for out-of-distribution generalization",
    ICLR 2022): with ``probability``, each window's per-channel mean and standard deviation
    are redrawn from a Gaussian around them, as wide as those statistics vary over the
    batch. Unlike :func:`mix_style`, which stays between the training stethoscopes, it
    also makes up colours beyond them.
    """
    if torch.rand(()) >= probability or x.size(0) < 2:
        return x
    axes = tuple(range(2, x.dim()))
    mean = x.mean(dim=axes, keepdim=True).detach()
    std = (x.var(dim=axes, keepdim=True) + 1e-6).sqrt().detach()
    mean_spread = (mean.var(dim=0, keepdim=True) + 1e-6).sqrt()
    std_spread = (std.var(dim=0, keepdim=True) + 1e-6).sqrt()
    new_mean = mean + torch.randn_like(mean) * mean_spread
    new_std = std + torch.randn_like(std) * std_spread
    return (x - mean) / std * new_std + new_mean


class HeartCNN2D(_PooledCNN):
    """A small 2-D CNN over the log-mel image (about 25k parameters; the first model's).

    3x3 convolutions slide over frequency as well as time, so a murmur moved a few bands
    by another stethoscope's response still meets the same filters. Kept for the
    ablations of docs/model.md.
    """

    def __init__(
        self, widths: tuple[int, ...] = (8, 16, 32, 64), in_channels: int = 32, dropout: float = 0.3
    ) -> None:
        super().__init__(2, widths, in_channels, dropout)


class HeartCNN(_PooledCNN):
    """The shipped net: a 1-D CNN over time with the mel bands as channels.

    As Potes et al. 2016 (the challenge's winning entry ran a 1-D CNN over frequency
    bands): what separates a murmur is how the bands' energy moves through S1, systole,
    S2 and diastole. Kernel 5, four blocks: the last block sees about 1.2 s, one cycle at
    50 bpm. About 49k parameters; an order of magnitude cheaper to train on a CPU than
    the 2-D net, which is what lets training augment every window on the fly.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 48, 64, 64),
        in_channels: int = 32,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(1, widths, in_channels, dropout)


ARCHITECTURES: dict[str, type[nn.Module]] = {"1d": HeartCNN, "2d": HeartCNN2D}


def build_net(arch: str, in_channels: int, widths: tuple[int, ...] | None = None) -> Any:
    """A fresh network of the named architecture (``1d`` or ``2d``).

    Args:
        arch: key of :data:`ARCHITECTURES`.
        in_channels: rows of the input image.
        widths: conv widths (default: the architecture's own).

    Returns:
        The module (``HeartCNN`` or ``HeartCNN2D``).
    """
    cls = ARCHITECTURES[arch]
    return cls(in_channels=in_channels) if widths is None else cls(tuple(widths), in_channels)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; gradient times ``-weight`` backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad, None


class SetAdversary(nn.Module):
    """Training-only head that guesses the recording's set (stethoscope) from the embedding.

    Its gradient reaches the CNN reversed, so the CNN learns features from which the set
    cannot be told: the score then means the same on every stethoscope (domain-adversarial
    training). Not exported: the device never runs it.

    Args:
        width: embedding width (``2 * widths[-1]``).
        n_sets: number of training sets.
        weight: strength of the reversed gradient.
    """

    def __init__(self, width: int, n_sets: int, weight: float) -> None:
        super().__init__()
        self.weight = weight
        self.head = nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Linear(32, n_sets))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Set logits ``(batch, n_sets)``."""
        reversed_ = _ReverseGradient.apply(embedding, self.weight)  # type: ignore[no-untyped-call]
        out: torch.Tensor = self.head(reversed_)
        return out


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
