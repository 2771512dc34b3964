// Tensor: an n-dimensional strided view of device memory, the currency of the op layer. Ops enqueue
// kernels and return tensors at once; only `toArray()` waits. Views (permute, transpose, slice,
// reshape of contiguous tensors) share memory; `contiguous()` and `to()` copy through a kernel.
import { DTYPES, type DType, isDType } from '../compiler/ir/dtype.js';
import { numel, rowMajorStrides } from '../compiler/ir/types.js';
import { fromHost, toHost, type TypedArray } from '../runtime/storage.js';
import { dtypeOfTypedArray } from '../runtime/storage.js';
import { defaultDevice } from '../runtime/device.js';
import { stridedCopy, stridedCopyTo } from '../kernels/copy.js';
import { allocate, canonicalDevice, type Storage, type TensorDevice } from './storage.js';

export type { TensorDevice };

export interface TensorOptions {
  readonly dtype?: DType;
  readonly device?: TensorDevice;
}

type Nested = number | boolean | readonly Nested[];


/** The device of new tensors when none is named: CUDA, else WebGPU (once initialized), else the CPU. */
export function defaultTensorDevice(): TensorDevice {
  const d = defaultDevice();
  return d.target === 'ptx' ? 'cuda:0' : d.target === 'wgsl' ? 'webgpu' : 'cpu';
}

function checkShape(shape: readonly number[], what: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
    throw new TypeError(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
}

export class Tensor {
  private constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    /** Element offset of [0, ..., 0] in the storage. */
    readonly offset: number,
  ) {}

  get dtype(): DType {
    return this.storage.dtype;
  }
  get device(): TensorDevice {
    return this.storage.device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return numel(this.shape);
  }
  get isContiguous(): boolean {
    return this.offset === 0 && rowMajorStrides(this.shape).every((s, i) => s === this.strides[i] || this.shape[i] === 1);
  }

  // ---------------------------------------------------------------- creation
  /** From a typed array (with `shape`) or nested arrays; dtype from the typed array unless given. */
  static from(data: TypedArray | Nested, options: TensorOptions & { readonly shape?: readonly number[] } = {}): Tensor {
    let values: ArrayLike<number>;
    let shape: number[];
    let dtype = options.dtype;
    if (ArrayBuffer.isView(data)) {
      const plain = dtypeOfTypedArray(data);
      if (!dtype && !plain) throw new TypeError(`Tensor.from: a ${data.constructor.name} needs options.dtype (f16 and bf16 bits come as Uint16Array)`);
      dtype ??= plain!;
      shape = [...(options.shape ?? [data.length])];
      checkShape(shape, 'Tensor.from');
      if (numel(shape) !== data.length) throw new RangeError(`Tensor.from: shape [${shape}] holds ${numel(shape)} elements, the data has ${data.length}`);
      if (!plain || plain === dtype) return Tensor.fromStored(data as TypedArray, shape, dtype, options.device);
      values = fromHost(plain, data as TypedArray);
    } else {
      const flat: number[] = [];
      shape = nestedShape(data, flat);
      if (options.shape && numel(options.shape) !== flat.length) throw new RangeError(`Tensor.from: shape [${options.shape}] holds ${numel(options.shape)} elements, the data has ${flat.length}`);
      if (options.shape) shape = [...options.shape];
      values = flat;
      dtype ??= 'f32';
    }
    if (!isDType(dtype)) throw new TypeError(`Tensor.from: dtype must be one of ${DTYPES.join(', ')}, got ${String(dtype)}`);
    return Tensor.fromStored(toHost(dtype, values), shape, dtype, options.device);
  }

  private static fromStored(data: TypedArray, shape: readonly number[], dtype: DType, device?: TensorDevice): Tensor {
    const storage = allocate(device ?? defaultTensorDevice(), dtype, data.length, data);
    return new Tensor(storage, shape, rowMajorStrides(shape), 0);
  }

  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    checkShape(shape, 'Tensor.zeros');
    const dtype = options.dtype ?? 'f32';
    return new Tensor(allocate(options.device ?? defaultTensorDevice(), dtype, numel(shape)), [...shape], rowMajorStrides(shape), 0);
  }
  /** Uninitialized memory on GPUs (zeros on the CPU). */
  static empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return Tensor.zeros(shape, options);
  }
  /** Seeded uniform [lo, hi) values (reproducible across devices: generated on the host). */
  static rand(shape: readonly number[], options: TensorOptions & { readonly seed?: number; readonly lo?: number; readonly hi?: number } = {}): Tensor {
    checkShape(shape, 'Tensor.rand');
    let a = (options.seed ?? 0) >>> 0;
    const lo = options.lo ?? 0, hi = options.hi ?? 1;
    const values = Float64Array.from({ length: numel(shape) }, () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
    });
    return Tensor.from(values, { shape, dtype: options.dtype ?? 'f32', device: options.device });
  }

  // ---------------------------------------------------------------- views
  permute(...dims: number[]): Tensor {
    const r = this.ndim;
    const d = dims.map((x) => (x < 0 ? x + r : x));
    if (d.length !== r || [...d].sort((a, b) => a - b).some((x, i) => x !== i))
      throw new RangeError(`permute: expected a permutation of ${r} dims, got [${dims}]`);
    return new Tensor(this.storage, d.map((i) => this.shape[i]!), d.map((i) => this.strides[i]!), this.offset);
  }
  transpose(a: number, b: number): Tensor {
    const p = [...Array(this.ndim).keys()];
    const r = this.ndim;
    const [x, y] = [a < 0 ? a + r : a, b < 0 ? b + r : b];
    if (!(x >= 0 && x < r && y >= 0 && y < r)) throw new RangeError(`transpose: dims must be in [-${r}, ${r - 1}], got ${a} and ${b}`);
    [p[x], p[y]] = [p[y]!, p[x]!];
    return this.permute(...p);
  }
  /** Elements start..end-1 along `dim` (a view). */
  slice(dim: number, start: number, end = this.shape[dim < 0 ? dim + this.ndim : dim]!): Tensor {
    const d = dim < 0 ? dim + this.ndim : dim;
    const n = this.shape[d];
    if (n === undefined) throw new RangeError(`slice: dim ${dim} does not exist in a ${this.ndim}-D tensor`);
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= n))
      throw new RangeError(`slice: expected 0 <= start <= end <= ${n} along dim ${dim}, got ${start}..${end}`);
    const shape = [...this.shape];
    shape[d] = end - start;
    return new Tensor(this.storage, shape, this.strides, this.offset + start * this.strides[d]!);
  }
  /** A view with another shape; the tensor must be contiguous (call contiguous() first otherwise). */
  reshape(...shape: number[]): Tensor {
    const known = shape.filter((x) => x !== -1).reduce((a, b) => a * b, 1);
    const s = shape.map((x) => (x === -1 ? this.numel / known : x));
    checkShape(s, 'reshape');
    if (numel(s) !== this.numel) throw new RangeError(`reshape: cannot view [${this.shape}] (${this.numel} elements) as [${shape}]`);
    if (!this.isContiguous) throw new RangeError(`reshape: the tensor is not contiguous (strides [${this.strides}]); call contiguous() first`);
    return new Tensor(this.storage, s, rowMajorStrides(s), 0);
  }

  /**
   * A view with explicit shape, element strides and offset over this tensor's memory (torch's
   * as_strided): stride 0 repeats an element, stride 2 takes every other one. Checked against the
   * memory's bounds.
   */
  asStrided(shape: readonly number[], strides: readonly number[], offset = this.offset): Tensor {
    checkShape(shape, 'asStrided');
    if (strides.length !== shape.length || strides.some((x) => !Number.isInteger(x) || x < 0) || !Number.isInteger(offset) || offset < 0)
      throw new RangeError(`asStrided: expected ${shape.length} non-negative integer strides and a non-negative offset, received strides [${strides}] and offset ${offset}`);
    const last = shape.some((d) => d === 0) ? offset : offset + shape.reduce((a, d, i) => a + (d - 1) * strides[i]!, 0);
    if (last >= this.storage.length && numel(shape) > 0)
      throw new RangeError(`asStrided: shape [${shape}], strides [${strides}] and offset ${offset} reach element ${last}, beyond the ${this.storage.length} elements of the memory`);
    return new Tensor(this.storage, [...shape], [...strides], offset);
  }
  /** A broadcast view to `shape` (NumPy rules, right-aligned): size-1 and missing axes repeat with stride 0. */
  expand(shape: readonly number[]): Tensor {
    const pad = shape.length - this.ndim;
    if (pad < 0) throw new RangeError(`expand: cannot broadcast shape [${this.shape}] to fewer dims [${shape}]`);
    const strides = shape.map((d, i) => {
      const own = i - pad < 0 ? 1 : this.shape[i - pad]!;
      if (own !== d && own !== 1) throw new RangeError(`expand: shape [${this.shape}] does not broadcast to [${shape}] (axis ${i}: ${own} vs ${d})`);
      return i - pad < 0 || own !== d ? 0 : this.strides[i - pad]!;
    });
    return new Tensor(this.storage, [...shape], strides, this.offset);
  }
  /** Copies (and converts) `src`'s elements into this view (same shape, any strides), by a kernel. */
  assign(src: Tensor): this {
    if (src.shape.join() !== this.shape.join()) throw new RangeError(`assign: expected a source of shape [${this.shape}], received [${src.shape}]`);
    if (src.device !== this.device) throw new TypeError(`assign: the source is on '${src.device}', expected '${this.device}'`);
    if (src.ndim > 4) throw new RangeError(`copies of tensors of more than 4 dims are not supported yet, got ${src.ndim}`);
    const pad = 4 - src.ndim;
    const shape = [...Array(pad).fill(1), ...src.shape], ss = [...Array(pad).fill(0), ...src.strides], ds = [...Array(pad).fill(0), ...this.strides];
    if (src.numel > 0)
      stridedCopyTo.launch({ grid: Math.ceil(src.numel / 1024), device: this.device }, src.storage.arg, this.storage.arg, src.numel, src.offset, this.offset,
        shape[1]!, shape[2]!, shape[3]!, ss[0]!, ss[1]!, ss[2]!, ss[3]!, ds[0]!, ds[1]!, ds[2]!, ds[3]!, 1024);
    return this;
  }

  // ---------------------------------------------------------------- copies
  /** This tensor, or a contiguous copy of it (converted to `dtype` if given). */
  contiguous(dtype: DType = this.dtype): Tensor {
    if (this.isContiguous && dtype === this.dtype) return this;
    return Tensor.zeros(this.shape, { dtype, device: this.device }).copyFrom(this);
  }
  /** A copy on another device and/or in another dtype. */
  to(target: TensorDevice | DType | TensorOptions): Tensor {
    const o: TensorOptions = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    const dtype = o.dtype ?? this.dtype, device = canonicalDevice(o.device ?? this.device);
    if (device === this.device) return this.contiguous(dtype); // itself when nothing changes, as torch's .to
    throw new TypeError(`to(): moving between devices is asynchronous; use await tensor.toDevice('${device}')`);
  }
  /** A copy on another device (waits for this tensor's data). */
  async toDevice(device: TensorDevice, dtype: DType = this.dtype): Promise<Tensor> {
    const host = await this.contiguous(dtype).readStored();
    return Tensor.fromStored(host, this.shape, dtype, device);
  }
  clone(): Tensor {
    return Tensor.zeros(this.shape, { dtype: this.dtype, device: this.device }).copyFrom(this);
  }
  /** Copies (and converts) `src`'s elements into this contiguous tensor of the same shape, by a kernel. */
  private copyFrom(src: Tensor): Tensor {
    if (src.ndim > 4) throw new RangeError(`copies of tensors of more than 4 dims are not supported yet, got ${src.ndim}`);
    const pad = 4 - src.ndim;
    const shape = [...Array(pad).fill(1), ...src.shape], strides = [...Array(pad).fill(0), ...src.strides];
    if (src.numel > 0)
      stridedCopy.launch({ grid: Math.ceil(src.numel / 1024), device: this.device }, src.storage.arg, this.storage.arg, src.numel, src.offset,
        shape[1]!, shape[2]!, shape[3]!, strides[0]!, strides[1]!, strides[2]!, strides[3]!, 1024);
    return this;
  }

  private async readStored(): Promise<TypedArray> {
    const t = this.contiguous();
    const all = await t.storage.read();
    return all.subarray(0, t.numel) as TypedArray;
  }
  /** The elements in row-major order as float64 numbers (waits for pending work). */
  async toArray(): Promise<Float64Array> {
    return fromHost(this.dtype, await this.readStored());
  }
  /** Frees the memory (views of it become invalid). */
  dispose(): void {
    this.storage.dispose();
  }
  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }
}

function nestedShape(x: Nested, out: number[]): number[] {
  if (typeof x === 'number' || typeof x === 'boolean') {
    out.push(Number(x));
    return [];
  }
  if (!Array.isArray(x)) throw new TypeError(`Tensor.from: expected numbers or nested arrays of numbers, got ${typeof x}`);
  const inner = x.map((y) => nestedShape(y, out));
  const first = inner[0] ?? [];
  if (inner.some((s) => s.join() !== first.join())) throw new RangeError('Tensor.from: nested arrays must be rectangular');
  return [x.length, ...first];
}
