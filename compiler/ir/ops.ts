// The opcode table of the block IR: every opcode, its family and whether it has side effects.
// Passes and backends dispatch on the family instead of listing opcodes again.

export const UNARY_MATH = ['neg', 'not', 'exp', 'exp2', 'log', 'log2', 'sqrt', 'rsqrt', 'sin', 'cos', 'abs', 'floor', 'sigmoid', 'softplus'] as const;
export type UnaryOpcode = (typeof UNARY_MATH)[number];

export const BINARY_ARITH = ['add', 'sub', 'mul', 'div', 'idiv', 'rem', 'min', 'max', 'and', 'or', 'xor', 'shl', 'shr'] as const;
export type BinaryOpcode = (typeof BINARY_ARITH)[number];

export const CMP_PREDICATES = ['lt', 'le', 'gt', 'ge', 'eq', 'ne'] as const;
export type CmpPredicate = (typeof CMP_PREDICATES)[number];

export const REDUCE_KINDS = ['sum', 'max', 'min', 'argmax'] as const;
export type ReduceKind = (typeof REDUCE_KINDS)[number];

type Family =
  | 'constant' | 'index' | 'shape' | 'unary' | 'binary' | 'cmp' | 'cast' | 'select' | 'memory'
  | 'reduce' | 'dot' | 'control' | 'call' | 'debug';

interface OpcodeInfo {
  readonly family: Family;
  /** True when the op reads or writes memory or the outside world: CSE and DCE leave it alone. */
  readonly effects: boolean;
}

const pure = (family: Family): OpcodeInfo => ({ family, effects: false });
const effectful = (family: Family): OpcodeInfo => ({ family, effects: true });

export const OPCODES = {
  constant: pure('constant'),
  program_id: pure('index'),
  num_programs: pure('index'),
  arange: pure('index'),
  splat: pure('shape'),
  broadcast: pure('shape'),
  expand_dims: pure('shape'),
  reshape: pure('shape'),
  trans: pure('shape'),
  /** Same values, another distributed layout (inserted by GPU backends; attrs.layout names it). */
  convert_layout: pure('shape'),
  ...(Object.fromEntries(UNARY_MATH.map((o) => [o, pure('unary')])) as Record<UnaryOpcode, OpcodeInfo>),
  ...(Object.fromEntries(BINARY_ARITH.map((o) => [o, pure('binary')])) as Record<BinaryOpcode, OpcodeInfo>),
  cmp: pure('cmp'),
  cast: pure('cast'),
  select: pure('select'),
  addptr: pure('memory'),
  // A load is not pure for CSE across stores, but has no effect of its own: DCE may remove it.
  load: { family: 'memory', effects: false } as OpcodeInfo,
  store: effectful('memory'),
  atomic_add: effectful('memory'),
  reduce: pure('reduce'),
  dot: pure('dot'),
  for: pure('control'),
  if: pure('control'),
  yield: effectful('control'),
  return: effectful('control'),
  call: effectful('call'),
  print: effectful('debug'),
  assert: effectful('debug'),
} as const satisfies Record<string, OpcodeInfo>;

export type Opcode = keyof typeof OPCODES;
export const opcodeInfo = (op: Opcode): OpcodeInfo => OPCODES[op];
