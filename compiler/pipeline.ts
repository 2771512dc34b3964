// The compiler as an ordered list of named stages over the IR module. Every stage can be dumped:
// `dump: true | ['cse', ...]` in the compile options, or TILEJIT_DUMP=all|cse,dce in the environment
// (written to stderr, or to files under TILEJIT_DUMP_DIR).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from './ir/ir.js';
import { printModule } from './ir/printer.js';
import { verifyModule } from './ir/verifier.js';
import { inlineCalls } from './passes/inline.js';
import { foldConstants } from './passes/fold-constants.js';
import { canonicalize } from './passes/canonicalize.js';
import { eliminateCommonSubexpressions } from './passes/cse.js';
import { eliminateDeadCode } from './passes/dce.js';

export interface Stage {
  readonly name: string;
  readonly run: (m: Module) => void;
}

/** The target-independent passes, in order. Backends append their own stages. */
export const IR_STAGES: readonly Stage[] = [
  { name: 'inline', run: inlineCalls },
  { name: 'fold-constants', run: foldConstants },
  { name: 'canonicalize', run: canonicalize },
  { name: 'cse', run: eliminateCommonSubexpressions },
  { name: 'dce', run: eliminateDeadCode },
];

export type DumpOption = boolean | readonly string[];

export interface StageDump {
  readonly stage: string;
  readonly text: string;
}

function wantsDump(stage: string, opt: DumpOption | undefined): boolean {
  const env = process.env['TILEJIT_DUMP'];
  const fromEnv = env ? (env === 'all' || env === '1' ? true : env.split(',').map((s) => s.trim())) : undefined;
  const sel = opt ?? fromEnv;
  return sel === true || (Array.isArray(sel) && sel.includes(stage));
}

/** Writes one stage's dump where the user asked for it. */
export function emitDump(kernel: string, stage: string, text: string, opt: DumpOption | undefined): void {
  if (!wantsDump(stage, opt)) return;
  const dir = process.env['TILEJIT_DUMP_DIR'];
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${kernel}.${stage}.txt`), text);
  } else process.stderr.write(`// ---- ${kernel}: after ${stage}\n${text}\n`);
}

/** Runs the stages on `m`, verifying after each, and returns the text of the IR after every stage. */
export function runStages(m: Module, stages: readonly Stage[], dump?: DumpOption): StageDump[] {
  const dumps: StageDump[] = [];
  const record = (stage: string): void => {
    const text = printModule(m, { locations: false });
    dumps.push({ stage, text });
    emitDump(m.kernelName, stage, text, dump);
  };
  verifyModule(m);
  record('frontend');
  for (const s of stages) {
    s.run(m);
    verifyModule(m);
    record(s.name);
  }
  return dumps;
}
