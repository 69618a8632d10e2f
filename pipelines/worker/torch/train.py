#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Trains the two-stage Fashion-MNIST CNNs of pipelines/examples/fmnist-torch.json.

    /usr/bin/python3 train.py [--variant NAME ...] [--out DIR] [--encoder FILE]

Fixed seed, one thread, a fixed number of steps: the run is deterministic on one machine and
bounded in time (about 2-3 minutes per variant on one core of the 2-core development machine).
The stem (stage 1, encoder.pt) is trained jointly with the first variant named (resnet-s by
default) and then frozen; each other variant is trained on the frozen stem. Accuracy is
measured on the 10,000 test images exactly as the pipeline computes it (features rounded to
float16 between the stages) and printed as one JSON line per variant.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import sponge_fmnist_torch as m  # noqa: E402

SEED = 1
TRAIN_IMAGES = 15000  # the first 15,000 training images: bounds the time on 2 shared cores
EPOCHS = 2
BATCH = 128
LR = 3e-3


def batches(n, gen):
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, BATCH):
        yield order[i:i + BATCH]


def train(encoder, clf, x, y, train_encoder):
    gen = torch.Generator().manual_seed(SEED)
    params = list(clf.parameters()) + (list(encoder.parameters()) if train_encoder else [])
    opt = torch.optim.Adam(params, lr=LR)
    steps = EPOCHS * ((len(x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    encoder.train(train_encoder)
    clf.train()
    for _ in range(EPOCHS):
        for idx in batches(len(x), gen):
            opt.zero_grad()
            if train_encoder:
                feats = encoder(x[idx])
            else:
                with torch.no_grad():
                    feats = encoder(x[idx])
            loss = F.cross_entropy(clf(feats), y[idx])
            loss.backward()
            opt.step()
            sched.step()
    encoder.eval()
    clf.eval()


def accuracy(encoder, clf, images, labels):
    """Percentage of test images classified right, through float16 features (as served)."""
    right = 0
    with torch.no_grad():
        for i in range(0, len(images), 500):
            feats = encoder(m.pixels_to_input(images[i:i + 500])).half().float()
            right += int((clf(feats).argmax(1) == labels[i:i + 500]).sum())
    return round(100.0 * right / len(images), 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", choices=list(m.VARIANTS))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "weights"))
    ap.add_argument("--encoder", help="use this trained stem (frozen) instead of training one")
    args = ap.parse_args()
    variants = args.variant or list(m.VARIANTS)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    images, labels = m.read_idx("train")
    x = m.pixels_to_input(images[:TRAIN_IMAGES])
    y = labels[:TRAIN_IMAGES]
    test_images, test_labels = m.read_idx("t10k")
    os.makedirs(args.out, exist_ok=True)
    encoder = m.Encoder()
    if args.encoder:
        encoder.load_state_dict(torch.load(args.encoder))
        encoder.eval()
    for i, v in enumerate(variants):
        torch.manual_seed(SEED)
        clf = m.make_classifier(v)
        t0 = time.monotonic()
        first = i == 0 and not args.encoder
        train(encoder, clf, x, y, first)
        if first:
            torch.save(encoder.state_dict(), os.path.join(args.out, "encoder.pt"))
        torch.save(clf.state_dict(), os.path.join(args.out, v + ".pt"))
        print(json.dumps({"variant": v, "accuracy": accuracy(encoder, clf, test_images,
                                                               test_labels),
                          "params": sum(p.numel() for p in clf.parameters()),
                          "train_s": round(time.monotonic() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
