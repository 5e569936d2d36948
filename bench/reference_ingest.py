"""The Python reference pipeline of bench/ingestVsReference.ts (REFERENCE-MEASUREMENTS.md): PIL decode, white pad to
a square, bilinear resize to 224, ImageNet mean/std, onnxruntime MobileNetV2-int8 cut at its last feature map (the
product's own head-cut model, passed in), global max pooling in the graph, batches of 32 on 2 threads, vectors to a
file. Prints one JSON line. Usage: python3 reference_ingest.py MODEL.onnx PHOTO_DIR N OUT.f32 [THREADS=2] [model-only]
With `model-only` every batch is decoded first and only the model's runs are timed (the ceiling of bench/modelCeiling.ts).
"""
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

model, photo_dir, n, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
model_only = len(sys.argv) > 6 and sys.argv[6] == "model-only"
files = sorted(os.listdir(photo_dir))[:n]
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255
std = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255


def load(path):
    img = Image.open(path).convert("RGB")
    side = max(img.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(img, ((side - img.size[0]) // 2, (side - img.size[1]) // 2))
    x = (np.asarray(square.resize((224, 224), Image.BILINEAR), dtype=np.float32) - mean) / std
    return x.transpose(2, 0, 1)


if model_only:
    batches = [np.stack([load(os.path.join(photo_dir, f)) for f in files[i : i + 32]]) for i in range(0, len(files), 32)]
    session.run(None, {input_name: batches[0]})  # warm-up: the first run allocates its buffers
    started = time.perf_counter()
    for batch in batches:
        session.run(None, {input_name: batch})
    seconds = time.perf_counter() - started
    print(json.dumps({"images": len(files), "seconds": round(seconds, 2), "imagesPerSecond": round(len(files) / seconds, 1), "onnxruntime": ort.__version__}))
    sys.exit(0)

started = time.perf_counter()
with open(out_path, "wb") as out:
    for i in range(0, len(files), 32):
        batch = np.stack([load(os.path.join(photo_dir, f)) for f in files[i : i + 32]])
        vectors = session.run(None, {input_name: batch})[0].reshape(len(batch), -1).astype(np.float32)
        out.write(vectors.tobytes())
seconds = time.perf_counter() - started
print(json.dumps({"images": len(files), "seconds": round(seconds, 2), "imagesPerSecond": round(len(files) / seconds, 1), "onnxruntime": ort.__version__}))
