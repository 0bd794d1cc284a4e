"""MixStyle (training only): it mixes channel statistics between windows in training and
leaves evaluation, hence the exported model, untouched."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from model.net import HeartCNN, mix_style, style_noise  # noqa: E402


def test_mixing_windows_of_one_style_changes_nothing() -> None:
    torch.manual_seed(0)
    window = torch.randn(1, 32, 240)
    batch = window.repeat(8, 1, 1)  # same statistics everywhere: any mix is the same
    assert torch.allclose(mix_style(batch, 1.0), batch, atol=1e-4)


def test_each_window_gets_a_mix_of_its_own_and_another_s_statistics() -> None:
    torch.manual_seed(1)
    batch = torch.randn(16, 4, 200) * torch.linspace(0.5, 3, 16)[:, None, None]
    batch = batch + torch.linspace(-2, 2, 16)[:, None, None]
    out = mix_style(batch, 1.0)
    means, new_means = batch.mean(dim=2), out.mean(dim=2)
    assert not torch.allclose(out, batch)
    # every new mean lies within the batch's range of means, channel by channel
    low, high = means.min(dim=0).values, means.max(dim=0).values
    assert bool(((new_means >= low - 1e-3) & (new_means <= high + 1e-3)).all())


def test_off_or_in_evaluation_the_net_is_unchanged() -> None:
    torch.manual_seed(2)
    net = HeartCNN()
    x = torch.randn(6, 1, 32, 249)
    assert torch.equal(mix_style(x[:, 0], 0.0), x[:, 0])
    net.eval()
    plain = net(x)
    net.mix_style = 1.0
    assert torch.equal(net(x), plain)  # eval: never mixed, so ONNX export is unaffected
    net.train()
    torch.manual_seed(3)
    mixed = net.embed(x)
    net.mix_style = 0.0
    torch.manual_seed(3)
    assert not torch.allclose(mixed, net.embed(x))


@pytest.mark.parametrize("blocks", [0, 1, 3])
def test_the_input_and_the_first_blocks_outputs_are_mixed(
    blocks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.net

    seen_channels: list[int] = []

    def record(x: torch.Tensor, probability: float, alpha: float = 0.1) -> torch.Tensor:
        seen_channels.append(x.size(1))
        assert alpha == 0.3
        return x

    monkeypatch.setattr(model.net, "mix_style", record)
    net = HeartCNN()
    net.train()
    net.mix_style, net.mix_style_alpha, net.mix_style_blocks = 1.0, 0.3, blocks
    net.embed(torch.randn(4, 1, 32, 249))
    assert seen_channels == [32, *net.widths[:blocks]]


def test_style_noise_redraws_statistics_near_the_batch_s_spread() -> None:
    torch.manual_seed(4)
    batch = torch.randn(32, 4, 300) + torch.linspace(-1, 1, 32)[:, None, None]
    out = style_noise(batch, 1.0)
    assert not torch.allclose(out, batch)
    shift = (out.mean(dim=2) - batch.mean(dim=2)).abs()
    spread = batch.mean(dim=2).std(dim=0)
    # a Gaussian redraw as wide as the batch's spread: about 0.8 spread on average
    assert 0.3 < float((shift / spread).mean()) < 1.5
    assert torch.equal(style_noise(batch, 0.0), batch)
