// Every sample kernel, in f32, f16 and bf16, lowered to PTX and assembled by ptxas for sm_80 and
// sm_90. Where ptxas is missing the tests are skipped, saying why.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHost, type DType, type JITKernel } from '../index.js';
import { lowerToPtx } from '../compiler/backends/ptx/index.js';
import { vectorAdd } from '../kernels/vector-add.js';
import { rowSoftmax } from '../kernels/softmax.js';
import { layerNorm } from '../kernels/layernorm.js';
import { matmul } from '../kernels/matmul.js';
import { popeApply } from '../kernels/pope-apply.js';
import { popeSimilarity } from '../kernels/pope-similarity.js';
import { popeFlashAttention } from '../kernels/pope-flash-attention.js';
import { popeKeyFeatures } from '../kernels/pope-key-features.js';

const PTXAS = process.env['TILEJIT_PTXAS'] ?? ['/usr/local/bin/ptxas', '/usr/local/cuda/bin/ptxas'].find(existsSync);
const dir = mkdtempSync(join(tmpdir(), 'tilejit-ptxas-'));
const buf = (dtype: DType, n = 64) => ({ dtype, data: toHost(dtype, new Float64Array(n)) });
const f32 = () => new Float32Array(64);
const mask = () => new Uint8Array(64);

// Representative launch arguments per kernel (only their types and constexprs matter here).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKernel = JITKernel<(...args: any[]) => void>;
const CASES: Array<[string, AnyKernel, (d: DType) => unknown[]]> = [
  ['vectorAdd', vectorAdd as AnyKernel, (d) => [buf(d), buf(d), buf(d), 64, 128]],
  ['rowSoftmax', rowSoftmax as AnyKernel, (d) => [buf(d), buf(d), 50, 50, 50, 64]],
  ['layerNorm', layerNorm as AnyKernel, (d) => [buf(d), buf(d), buf(d), buf(d), 100, 100, 1e-5, 32]],
  ['matmul', matmul as AnyKernel, (d) => [buf(d), buf(d), f32(), 30, 30, 30, 30, 1, 30, 1, 30, 1, 32, 32, 16]],
  ['popeApply', popeApply as AnyKernel, (d) => [buf(d), f32(), f32(), f32(), 7, 4, 24, 16, 0, true, 'softplus', false, 16, 32]],
  ['popeSimilarity', popeSimilarity as AnyKernel, (d) => [buf(d), buf(d), f32(), f32(), f32(), 4, 2, 5, 7, 24, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, 'softplus', 16, 16, 32, d === 'f32' ? 'f32' : d]],
  ['popeFlashAttention', popeFlashAttention as AnyKernel, (d) => [buf(d), buf(d), buf(d), f32(), f32(), mask(), buf(d), 4, 2, 5, 7, 24, 16, 0.2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, true, 'softplus', 16, 16, 32, d === 'f32' ? 'f32' : d, false, 64]],
  ['popeKeyFeatures', popeKeyFeatures as AnyKernel, (d) => [buf(d), f32(), buf(d === 'f32' ? 'f32' : d), 2, 70, 24, 16, 1, 1, 1, 'softplus', 64, 64]],
  ['popeFlashAttention (keys rotated once)', popeFlashAttention as AnyKernel, (d) => [buf(d), buf(d), buf(d), f32(), f32(), mask(), buf(d), 4, 2, 5, 70, 24, 16, 0.2,
    1, 1, 1, 1, 1, 64, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, true, 'softplus', 64, 64, 32, d === 'f32' ? 'f32' : d, true, 64]],
];

describe.skipIf(!PTXAS)(`ptxas accepts the PTX of every sample kernel${PTXAS ? '' : ' (skipped: no ptxas at /usr/local/bin/ptxas or $TILEJIT_PTXAS)'}`, () => {
  for (const [name, kernel, args] of CASES)
    for (const dtype of ['f32', 'f16', 'bf16'] as const)
      it(`${name} ${dtype}`, () => {
        const { compiled } = kernel.specialize({ device: 'ptx-sim' }, ...(args(dtype) as never[]));
        for (const arch of ['sm_80', 'sm_90'] as const) {
          const { ptx } = lowerToPtx(compiled.module, { numWarps: 4, arch });
          const file = join(dir, `${name}-${dtype}-${arch}.ptx`);
          writeFileSync(file, ptx);
          try {
            execFileSync(PTXAS!, [`-arch=${arch}`, file, '-o', file.replace(/\.ptx$/, '.cubin')], { stdio: 'pipe' });
          } catch (e) {
            expect.fail(`ptxas -arch=${arch} rejected ${file}:\n${(e as { stderr?: Buffer }).stderr?.toString()}`);
          }
        }
      });
});
