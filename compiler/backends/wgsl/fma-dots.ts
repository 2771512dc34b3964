// WebGPU has no tensor cores (WGSL has no warp-wide matrix operation, and Dawn's subgroup-matrix
// extension is not on the adapters CI has), so the WGSL backend computes f16/bf16 dots with FMA: each
// f16/bf16 operand of a dot with f32 accumulation is cast to f32 first. The result is the tensor-core
// one: a product of two f16 (11-bit) or bf16 (8-bit) significands is exact in f32, and the products
// are accumulated in f32 (in K order, where mma's order is unspecified). The casts cost nothing: f16
// and bf16 values live in f32 registers already. Emulating mma.sync through workgroup memory (the
// renderer can: WgslOptions.tensorCores = 'emulate') needs two barriers per 16x8x16 step, which makes
// attention-sized kernels take minutes to compile on llvmpipe.
import { Op, Value, walkOps, type Block, type Module } from '../../ir/ir.js';
import { dtypeOf, scalarType } from '../../ir/types.js';
import { usesTensorCores } from '../../layouts/assign.js';

/** Rewrites, in place, every dot that would run on tensor cores into an f32 FMA dot. Returns how many. */
export function dotsOnFma(module: Module): number {
  let count = 0;
  for (const f of module.funcs.values()) {
    const dots: Op[] = [];
    walkOps(f.body, (op) => {
      if (op.opcode === 'dot' && usesTensorCores(op)) dots.push(op);
    });
    for (const op of dots) {
      const block = op.parent as Block;
      for (const k of [0, 1]) {
        const v = op.operands[k]!;
        if (dtypeOf(v.type) === 'f32') continue;
        const r = new Value(scalarType('f32', v.type.shape), v.name);
        const cast = new Op('cast', [v], [r], {}, [], op.loc);
        cast.parent = block;
        block.ops.splice(block.ops.indexOf(op), 0, cast);
        op.operands[k] = r;
      }
      count++;
    }
  }
  return count;
}
