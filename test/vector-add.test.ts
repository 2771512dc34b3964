import { describe, it, expect } from 'vitest';
import { vectorAdd } from '../kernels/vector-add.js';
import { cdiv } from '../index.js';
import { testDevices } from './reference/devices.js';

describe.each(testDevices())('vectorAdd on %s', (device) => {
  it('adds ragged-length f32 vectors', () => {
    const n = 1000 + Math.floor(Math.random() * 100);
    const x = Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    const y = Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    const z = new Float32Array(n);
    vectorAdd.launch({ grid: cdiv(n, 128), device }, x, y, z, n, 128);
    for (let i = 0; i < n; i++) expect(z[i]).toBe(Math.fround(x[i]! + y[i]!));
  });
});
