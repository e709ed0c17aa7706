#!/usr/bin/env node
// reko's label worker: CenterNet (MobileNetV3 backbone, COCO-80) on TensorFlow.js WASM.
//
// The model is the one @vladmandic/human ships in its package (models/centernet.json + .bin);
// it is read from disk through a tf.io handler (no fetch, no network). Human itself is not
// loaded: its package.json exports are malformed and we only need the model files.
//
// Protocol (driven by pipeline/analysis/labels.py), all on stdin/stdout:
//   startup  -> one JSON line {"ready": true, "model": "...", "input_px": 512, "backend": "wasm"}
//               or {"error": "..."} and exit code 1
//   request  <- one JSON line {"id": N, "count": K, "size": S, "min_score": F} followed by
//               K*S*S*3 bytes: K frames, each RGB uint8 S×S×3 (already resized to the model
//               input by Python); detections scoring below min_score (0-1, default 0.05) are dropped
//   reply    -> one JSON line {"id": N, "detections": [[[x1, y1, x2, y2, score, class], ...], ...]}
//               per frame, coordinates as ratios 0-1 of the frame, score 0-1, class 0-79 (COCO-80
//               order), or {"id": N, "error": "..."}
// stderr is for diagnostics only. The worker exits when stdin closes.
'use strict';

const fs = require('fs');
const path = require('path');

const DEFAULT_MIN_SCORE = 0.05;

// @vladmandic/human's package.json "exports" do not export package.json or models/, so
// require.resolve cannot find them: look in the node_modules folders Node would search.
function modelDir() {
  for (const dir of require.resolve.paths('@vladmandic/human') || []) {
    const candidate = path.join(dir, '@vladmandic', 'human', 'models');
    if (fs.existsSync(path.join(candidate, 'centernet.json'))) return candidate;
  }
  throw new Error('@vladmandic/human/models/centernet.json not found: run infra/install-labels.sh');
}

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-converter');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  // one thread per worker process: reko runs one analysis process per core
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
  await tf.setBackend('wasm');
  await tf.ready();
  // the graph uses FloorMod, which the WASM backend does not implement (Human registers the same)
  if (!tf.getKernel('FloorMod', 'wasm')) {
    tf.registerKernel({
      kernelName: 'FloorMod',
      backendName: 'wasm',
      kernelFunc: (op) => tf.tidy(() => {
        const { a, b } = op.inputs;
        return tf.sub(a, tf.mul(tf.floorDiv(a, b), b));
      }),
    });
  }

  const MODEL_DIR = modelDir();
  const artifacts = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'centernet.json'), 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of artifacts.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(MODEL_DIR, p)));
  }
  const all = Buffer.concat(buffers);
  const handler = {
    load: async () => ({
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      signature: artifacts.signature,
      weightSpecs,
      weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    }),
  };
  const { loadGraphModel } = require('@tensorflow/tfjs-converter');
  const model = await loadGraphModel(handler);
  const inputPx = Number(artifacts.signature.inputs['tower_0/images'].tensorShape.dim[1].size);

  function detect(pixels, size, minScore) {
    const raw = tf.tidy(() => {
      let x = tf.tensor4d(Float32Array.from(pixels), [1, size, size, 3], 'float32'); // 0-255 RGB, as Human feeds it
      if (size !== inputPx) x = tf.image.resizeBilinear(x, [inputPx, inputPx]);
      return model.execute(x, ['tower_0/detections']);
    });
    const rows = raw.arraySync()[0];
    raw.dispose();
    const out = [];
    for (const [x1, y1, x2, y2, score, cls] of rows) {
      if (!(score >= minScore) || Number.isNaN(cls)) continue;
      out.push([x1 / inputPx, y1 / inputPx, x2 / inputPx, y2 / inputPx, score, Math.round(cls)]);
    }
    return out;
  }

  // warm-up so the first real frame is not slow
  detect(new Uint8Array(inputPx * inputPx * 3), inputPx, DEFAULT_MIN_SCORE);
  send({ ready: true, model: 'centernet-mb3-coco80 (@vladmandic/human 3.3.6)', input_px: inputPx,
    backend: tf.getBackend(), tfjs: tf.version_core });

  let buffer = Buffer.alloc(0);
  // chunks are kept in a list and joined once a whole request is there (no quadratic copying)
  let chunks = [];
  let length = 0;
  let header = null;
  const take = (n) => { // the first n buffered bytes as one Buffer
    const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    chunks = rest.length ? [rest] : [];
    length = rest.length;
    return head;
  };
  process.stdin.on('data', (chunk) => {
    chunks.push(chunk);
    length += chunk.length;
    for (;;) {
      if (!header) {
        let nl = -1;
        let offset = 0;
        for (const c of chunks) { // the header line is short: it is in the first chunk or two
          const i = c.indexOf(10);
          if (i >= 0) { nl = offset + i; break; }
          offset += c.length;
        }
        if (nl < 0) return;
        const line = take(nl + 1);
        try {
          header = JSON.parse(line.subarray(0, nl).toString('utf8'));
        } catch (e) {
          send({ id: null, error: `bad request header: ${e.message}` });
          process.exit(2);
        }
      }
      const frameBytes = header.size * header.size * 3;
      const need = header.count * frameBytes;
      if (length < need) return;
      const body = take(need);
      const { id, count, size } = header;
      const minScore = typeof header.min_score === 'number' ? header.min_score : DEFAULT_MIN_SCORE;
      header = null;
      try {
        const detections = [];
        for (let i = 0; i < count; i++) {
          detections.push(detect(body.subarray(i * frameBytes, (i + 1) * frameBytes), size, minScore));
        }
        send({ id, detections });
      } catch (e) {
        send({ id, error: String(e && e.stack || e) });
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));
}

main().catch((e) => {
  send({ error: String(e && e.stack || e) });
  process.exit(1);
});
