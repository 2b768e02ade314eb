#!/usr/bin/env python3
"""onnxruntime side of tools/bench/teacher: images/s of one model at one batch size and
thread count (intra_op_num_threads), same kind of input as TeacherBench.
Usage: teacher-ort.py MODEL.onnx BATCH THREADS SECONDS  -> one JSON line."""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

model, batch, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
shape = [batch if not isinstance(d, int) else d for d in inp.shape]
x = (np.random.RandomState(0).randint(0, 2000, size=shape) / 1000 - 1).astype(np.float32)
outs = [sess.get_outputs()[0].name]
sess.run(outs, {inp.name: x})
n, start = 0, time.perf_counter()
while True:
    sess.run(outs, {inp.name: x})
    n += 1
    if time.perf_counter() - start >= seconds and n >= 2:
        break
t = (time.perf_counter() - start) / n
print(json.dumps({"images_per_s": batch / t, "seconds_per_batch": t, "batches": n}))
