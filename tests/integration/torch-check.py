# SPDX-License-Identifier: MIT
"""Helper of torch.pipeline (run with /usr/bin/python3): the in-process reference that the
workers' HTTP answers are checked against, with the same module and weights the workers load.

    torch-check.py accuracy SRC EXAMPLE_JSON     test-set accuracy of every classify variant,
                                                 compared with the accuracies in the example
    torch-check.py predict SRC URL VARIANT N     N test images through the pipeline over HTTP
                                                 (concurrently, urllib), each answer compared
                                                 with the in-process prediction
"""
import json
import os
import sys
import threading
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
SRC = sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "pipelines/worker/torch"))
import torch  # noqa: E402
import sponge_fmnist_torch as m  # noqa: E402

WEIGHTS = os.path.join(SRC, "pipelines/worker/torch/weights")
torch.set_num_threads(1)


def load(variant):
    enc = m.Encoder()
    enc.load_state_dict(torch.load(os.path.join(WEIGHTS, "encoder.pt")))
    clf = m.make_classifier(variant)
    clf.load_state_dict(torch.load(os.path.join(WEIGHTS, variant + ".pt")))
    return enc.eval(), clf.eval()


def predict(enc, clf, images):
    """(classes, scores) as the pipeline computes them: float16 features between the stages."""
    with torch.inference_mode():
        feats = enc(m.pixels_to_input(images)).half().float()
        score, cls = torch.softmax(clf(feats), 1).max(1)
    return cls, score


def cmd_accuracy(example):
    images, labels = m.read_idx("t10k")
    ex = json.load(open(example))
    stage = [s for s in ex["stages"] if s["name"] == "classify"][0]
    bad = 0
    for v in stage["variants"]:
        enc, clf = load(v["name"])
        right = 0
        for i in range(0, len(images), 250):
            cls, _ = predict(enc, clf, images[i:i + 250])
            right += int((cls == labels[i:i + 250]).sum())
        acc = round(100.0 * right / len(images), 2)
        ok = abs(acc - v["accuracy"]) < 0.005
        bad += not ok
        print(f"{v['name']}: measured {acc:.2f} % on the 10,000 test images, example says "
              f"{v['accuracy']:.2f} % {'ok' if ok else 'MISMATCH'}")
    return 1 if bad else 0


def cmd_predict(url, variant, n):
    images, labels = m.read_idx("t10k")
    # Spread over the test set, so all classes occur.
    idx = [(i * 7919) % len(images) for i in range(n)]
    cls, score = predict(*load(variant), images[idx])
    out = [None] * n

    def one(k):
        req = urllib.request.Request(url, data=images[idx[k]].numpy().tobytes(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                out[k] = (r.status, r.read().decode())
        except urllib.error.HTTPError as e:
            out[k] = (e.code, e.read().decode())
        except Exception as e:  # noqa: BLE001 — reported as a failed check
            out[k] = (None, repr(e))

    ts = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    bad = 0
    right = 0
    for k in range(n):
        status, body = out[k]
        want = {"class": int(cls[k]), "label": m.LABELS[int(cls[k])],
                "score": round(float(score[k]), 4)}
        try:
            got = json.loads(body) if status == 200 else None
        except ValueError:
            got = None
        if (got is None or got["class"] != want["class"] or got["label"] != want["label"] or
                abs(got["score"] - want["score"]) > 2e-4):
            bad += 1
            print(f"image {idx[k]}: HTTP {status} {body!r}, expected {json.dumps(want)}")
        right += int(cls[k]) == int(labels[idx[k]])
    print(f"{variant}: {n - bad}/{n} answers equal the model's own predictions "
          f"({right}/{n} of them the true label)")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "accuracy":
        sys.exit(cmd_accuracy(sys.argv[3]))
    sys.exit(cmd_predict(sys.argv[3], sys.argv[4], int(sys.argv[5])))
