// Comments in generated code that point at the kernel's source: when the lowering reaches an op of
// another source line than the op before it, the thread program gets a comment `file:line: text`
// (file as its base name, the line's text trimmed), which the WGSL and PTX renderers print.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Op, SourceLoc } from '../ir/ir.js';
import { registeredSources } from '../source/registry.js';

/** What the thread lowering asks, op by op (ThreadLoweringOptions.sourceComments); stateful: one per lowering. */
export interface SourceCommenter {
  /** The comment to emit before `op`, or undefined when it continues the previous op's line. */
  commentFor(op: Op): string | undefined;
}

/** The text of a source line; undefined when the file cannot be found. */
export type SourceLineReader = (loc: SourceLoc) => string | undefined;

/**
 * Reads lines from the texts given (the kernel's own source, as the compiler saw it), then from the
 * sources the esbuild plugin embedded, then from disk; each file's lines are kept once read.
 */
export function sourceLineReader(known: Readonly<Record<string, string>> = {}): SourceLineReader {
  const files = new Map<string, readonly string[] | undefined>();
  const linesOf = (file: string): readonly string[] | undefined => {
    if (files.has(file)) return files.get(file);
    let text: string | undefined = known[file];
    if (text === undefined) for (const [f, t] of registeredSources()) if (f === file || file.endsWith(f)) text = t;
    if (text === undefined) {
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        text = undefined;
      }
    }
    const lines = text?.split(/\r?\n/);
    files.set(file, lines);
    return lines;
  };
  return (loc) => linesOf(loc.file)?.[loc.line - 1];
}

/** A commenter for one lowering: `name.ts:12: const x = ...` where the op's line differs from the last one commented. */
export function sourceComments(read: SourceLineReader): SourceCommenter {
  let last = '';
  return {
    commentFor(op: Op): string | undefined {
      const loc = op.loc;
      if (!loc) return undefined;
      const where = `${basename(loc.file)}:${loc.line}`;
      // The first op inside a loop or branch names its line again, so every region starts with one.
      const previous = last;
      last = op.regions.length > 0 ? '' : where;
      if (where === previous) return undefined;
      const text = read(loc)?.trim().replace(/[\r\n]/g, ' ');
      return text ? `${where}: ${text.length > 120 ? `${text.slice(0, 117)}...` : text}` : where;
    },
  };
}
