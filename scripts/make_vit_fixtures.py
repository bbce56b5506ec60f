#!/usr/bin/env python3
"""Write two tiny ViT feature extractors, random weights, into tests/fixtures/vit/.

    tests/fixtures/vit/
        dinov2_vit.onnx   laid out like DINOv2 (facebook/dinov2-*): 14x14 patch embedding (a
                          strided convolution), CLS token, learned position embedding, pre-norm
                          blocks with LayerScale, final LayerNorm; output `pooler_output`, the
                          normed CLS token, [batch, 48]
        clip_vit.onnx     laid out like CLIP's image tower (openai ViT-L/14-336): bias-free patch
                          convolution, class embedding, position embedding, ln_pre, pre-norm
                          blocks with QuickGELU, ln_post on the CLS token, the projection;
                          output `image_embeds`, [batch, 32]
        reference.json    the feature width, input size and output name of each

Both take a [batch, 3, 56, 56] input (4 x 4 patches of 14 pixels, 17 tokens), with a dynamic
batch axis, and have 2 blocks of width 48 with 4 heads: the layout of the real networks at a
size of a few hundred KB. The weights are random (seeded): these are for testing the `onnx:`
extractor path on ViT graphs, not for scoring. The real networks are exported by the recipe in
README.md (section "ViT extractors: DINOv2, RAD-DINO, CLIP").

    python3 scripts/make_vit_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnx
import torch
from torch import nn

SIZE = 56
PATCH = 14
WIDTH = 48
HEADS = 4
BLOCKS = 2


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = torch.softmax(q @ k.transpose(-2, -1) * (c // HEADS) ** -0.5, dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, activation: nn.Module, layer_scale: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(WIDTH, eps=1e-6)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(WIDTH, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(WIDTH, 4 * WIDTH), activation, nn.Linear(4 * WIDTH, WIDTH)
        )
        scale = torch.full((WIDTH,), 0.5) if layer_scale else torch.ones(WIDTH)
        self.ls1 = nn.Parameter(scale.clone(), requires_grad=layer_scale)
        self.ls2 = nn.Parameter(scale.clone(), requires_grad=layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1 * self.attn(self.norm1(x))
        return x + self.ls2 * self.mlp(self.norm2(x))


class Dinov2Like(nn.Module):
    """DINOv2's layout: patch conv with bias, CLS token, position embedding, LayerScale."""

    def __init__(self) -> None:
        super().__init__()
        tokens = (SIZE // PATCH) ** 2 + 1
        self.patch_embed = nn.Conv2d(3, WIDTH, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.randn(1, 1, WIDTH) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, WIDTH) * 0.02)
        self.blocks = nn.Sequential(*[Block(nn.GELU(), True) for _ in range(BLOCKS)])
        self.norm = nn.LayerNorm(WIDTH, eps=1e-6)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixel_values).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


class ClipVisionLike(nn.Module):
    """CLIP's image tower: bias-free patch conv, ln_pre, QuickGELU, ln_post, projection."""

    EMBED = 32

    def __init__(self) -> None:
        super().__init__()
        tokens = (SIZE // PATCH) ** 2 + 1
        self.conv1 = nn.Conv2d(3, WIDTH, PATCH, stride=PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(WIDTH) * WIDTH**-0.5)
        self.positional_embedding = nn.Parameter(torch.randn(tokens, WIDTH) * WIDTH**-0.5)
        self.ln_pre = nn.LayerNorm(WIDTH)
        self.blocks = nn.Sequential(*[Block(QuickGELU(), False) for _ in range(BLOCKS)])
        self.ln_post = nn.LayerNorm(WIDTH)
        self.proj = nn.Parameter(torch.randn(WIDTH, self.EMBED) * WIDTH**-0.5)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.conv1(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.blocks(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


def export(model: nn.Module, path: Path, output: str) -> int:
    model.eval()
    example = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        width = model(example).shape[1]
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["pixel_values"],
            output_names=[output],
            dynamic_axes={"pixel_values": {0: "batch"}, output: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    # The exporter can leave the feature axis symbolic (after the CLS Gather): fix it, as the
    # extractor needs a fixed feature width.
    graph = onnx.load(str(path))
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value = int(width)
    graph.producer_name = "medigan scripts/make_vit_fixtures.py"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    return int(width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "tests/fixtures/vit")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(30)
    reference = {}
    for name, model, output in [
        ("dinov2_vit.onnx", Dinov2Like(), "pooler_output"),
        ("clip_vit.onnx", ClipVisionLike(), "image_embeds"),
    ]:
        width = export(model, args.out / name, output)
        reference[name] = {"features": width, "input_size": SIZE, "output": output}
    (args.out / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(json.dumps(reference, indent=2))


if __name__ == "__main__":
    main()
