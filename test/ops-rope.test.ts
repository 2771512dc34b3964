// RotaryEmbedding on every test device against the golden cases of rotary-embedding-torch.
import { describe, it, expect } from 'vitest';
import { Tensor } from '../ops/tensor.js';
import { RotaryEmbedding } from '../ops/rope.js';
import { loadGolden, tensor, type GoldenCase } from './reference/golden.js';
import { expectClose, F32 } from './reference/compare.js';
import { testDevices } from './reference/devices.js';

const golden = loadGolden();
const byName = (n: string): GoldenCase => golden.find((c) => c.name === n)!;

describe.each(testDevices())('RotaryEmbedding on %s', (device) => {
  const t = (c: GoldenCase, name: string): Tensor => {
    const g = tensor(c, 'inputs', name);
    return Tensor.from(g.data, { shape: g.shape, dtype: 'f32', device });
  };
  const want = (c: GoldenCase, name: string) => tensor(c, 'outputs', name).data;

  it('rotateQueriesOrKeys with an offset, theta rescaling, interpolation and seq-before-head layouts', async () => {
    const cases: [string, ConstructorParameters<typeof RotaryEmbedding>[1], { offset?: number }][] = [
      ['rope_lang_offset2', {}, { offset: 2 }],
      ['rope_theta_rescale2', { thetaRescaleFactor: 2 }, {}],
      ['rope_interpolate2', { interpolateFactor: 2 }, {}],
      ['rope_seq_before_head', { seqBeforeHeadDim: true }, {}],
    ];
    for (const [name, opts, rot] of cases) {
      const c = byName(name);
      const out = new RotaryEmbedding(c.params['dim'] as number, opts).rotateQueriesOrKeys(t(c, 't'), rot);
      expectClose(await out.toArray(), want(c, 'out'), F32, name);
    }
  });

  it('rotateQueriesWithCachedKeys: queries take the last positions', async () => {
    const c = byName('rope_cached_keys');
    const [q, k] = new RotaryEmbedding(8).rotateQueriesWithCachedKeys(t(c, 'q'), t(c, 'k'));
    expectClose(await q.toArray(), want(c, 'q'), F32, 'q');
    expectClose(await k.toArray(), want(c, 'k'), F32, 'k');
  });

  it('rotateQueriesAndKeys with xpos scales', async () => {
    const c = byName('rope_xpos');
    const [q, k] = new RotaryEmbedding(8, { useXpos: true, xposScaleBase: 64 }).rotateQueriesAndKeys(t(c, 'q'), t(c, 'k'));
    expectClose(await q.toArray(), want(c, 'q'), F32, 'q');
    expectClose(await k.toArray(), want(c, 'k'), F32, 'k');
  });

  it('errors name the argument, the expected and the received', () => {
    const rope = new RotaryEmbedding(16);
    expect(() => rope.rotateQueriesOrKeys(Tensor.zeros([1, 2, 3, 8], { device }))).toThrow(/t: expected a feature dim of at least 16 \(the rotated width\), received 8/);
    expect(() => rope.rotateQueriesWithCachedKeys(Tensor.zeros([1, 2, 5, 16], { device }), Tensor.zeros([1, 2, 3, 16], { device }))).toThrow(/q: expected q_len <= k_len \(3\), received q_len 5/);
    expect(() => new RotaryEmbedding(8, { useXpos: true }).rotateQueriesOrKeys(Tensor.zeros([1, 1, 2, 8], { device }))).toThrow(/rotateQueriesAndKeys/);
  });
});
