// Errors that point at the kernel's source: file:line:col, the source line and a caret under the column.
import type { SourceLoc } from '../ir/ir.js';

/** Formats `file:line:col` plus the source line with a caret, as compilers print diagnostics. */
export function formatSourceExcerpt(loc: SourceLoc, sourceText: string | undefined, width = 1): string {
  const header = `${loc.file}:${loc.line}:${loc.col}`;
  const lineText = sourceText?.split(/\r?\n/)[loc.line - 1];
  if (lineText === undefined) return header;
  const gutter = String(loc.line);
  const pad = ' '.repeat(gutter.length);
  const caret = ' '.repeat(Math.max(0, loc.col - 1)) + '^' + '~'.repeat(Math.max(0, Math.min(width, lineText.length - loc.col + 1) - 1));
  return `${header}\n ${gutter} | ${lineText}\n ${pad} | ${caret}`;
}

/** A mistake in a kernel's source, found while compiling it. */
export class CompilationError extends Error {
  override name = 'CompilationError';
  constructor(
    readonly kernel: string,
    readonly loc: SourceLoc | undefined,
    readonly reason: string,
    sourceText?: string,
    width = 1,
  ) {
    super(
      loc
        ? `in kernel '${kernel}' at ${formatSourceExcerpt(loc, sourceText, width)}\nerror: ${reason}`
        : `in kernel '${kernel}': ${reason}`,
    );
  }
}

/** An error raised while a compiled kernel runs (out-of-bounds access, failed device assert). */
export class KernelRuntimeError extends Error {
  override name = 'KernelRuntimeError';
  constructor(
    readonly kernel: string,
    readonly loc: SourceLoc | undefined,
    readonly reason: string,
    sourceText?: string,
  ) {
    super(loc ? `in kernel '${kernel}' at ${formatSourceExcerpt(loc, sourceText)}\nerror: ${reason}` : `in kernel '${kernel}': ${reason}`);
  }
}

/** A bad argument at launch: wrong count, type, dtype or grid. */
export class LaunchError extends TypeError {
  override name = 'LaunchError';
}
