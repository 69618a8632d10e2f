# SPDX-License-Identifier: MIT
"""sponge_fmnist_torch — the Fashion-MNIST CNNs of the two-stage PyTorch pipeline.

Stage 1 ("encode"): a convolutional stem, 1×28×28 grey pixels → 16×14×14 features
(conv 3×3, batch norm, ReLU, 2×2 max-pool). Its output crosses to stage 2 as float16 bytes.
Stage 2 ("classify"): a small ResNet body over those features in three sizes (``VARIANTS``),
then global average pooling and a linear layer to the 10 classes.

The stem is trained once, jointly with the smallest body; the larger bodies are then trained
on the frozen stem, so every stage-2 variant reads the same stage-1 output and a variant
switch never touches stage 1. Used by the trainer (train.py), the workers and the tests.
"""
import gzip
import os
import struct

import torch
from torch import nn
import torch.nn.functional as F

DATASET_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PIXELS = 28 * 28
FEAT_SHAPE = (16, 14, 14)
FEAT_BYTES = 16 * 14 * 14 * 2  # float16
# Normalisation of the raw pixels (mean and standard deviation of the training images / 255).
MEAN, STD = 0.2860, 0.3530

# name → (width, blocks per stage): stage A at 14×14 (width), stage B at 7×7 (2·width).
VARIANTS = {
    "resnet-s": (16, 1),
    "resnet-m": (24, 1),
    "resnet-l": (32, 2),
}


def read_idx(prefix, directory=DATASET_DIR):
    """Returns (images uint8 tensor N×28×28, labels int64 tensor N) of "train" or "t10k"."""
    with gzip.open(os.path.join(directory, prefix + "-images-idx3-ubyte.gz"), "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051 or rows != 28 or cols != 28:
            raise ValueError(f"{prefix}: not an IDX3 file of 28×28 images")
        images = torch.frombuffer(bytearray(f.read(n * PIXELS)), dtype=torch.uint8)
    with gzip.open(os.path.join(directory, prefix + "-labels-idx1-ubyte.gz"), "rb") as f:
        magic, m = struct.unpack(">II", f.read(8))
        if magic != 2049 or m != n:
            raise ValueError(f"{prefix}: labels do not match the images")
        labels = torch.frombuffer(bytearray(f.read(n)), dtype=torch.uint8)
    return images.view(n, 28, 28), labels.long()


def pixels_to_input(images):
    """uint8 N×28×28 → normalised float N×1×28×28."""
    return ((images.float() / 255.0 - MEAN) / STD).unsqueeze(1)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)


class Block(nn.Module):
    """A ResNet basic block (two 3×3 convolutions and a shortcut)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


class Classifier(nn.Module):
    def __init__(self, width, blocks):
        super().__init__()
        layers, cin = [], FEAT_SHAPE[0]
        for stage, (w, stride) in enumerate([(width, 1), (2 * width, 2)]):
            for i in range(blocks):
                layers.append(Block(cin, w, stride if i == 0 else 1))
                cin = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 10)

    def forward(self, feats):
        return self.fc(self.body(feats).mean(dim=(2, 3)))


def make_classifier(variant):
    width, blocks = VARIANTS[variant]
    return Classifier(width, blocks)
