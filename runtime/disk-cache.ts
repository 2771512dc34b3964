// The persistent kernel cache: compiled artifacts (PTX, kernel signatures) on disk, keyed by what keys
// the in-memory cache plus a fingerprint of the compiler itself. Writes are atomic (a temporary file
// renamed into place, so concurrent processes never see half an entry); reads are verified (the key and
// a SHA-256 of the payload) and a damaged entry is a miss. TILEJIT_CACHE_DIR moves it (default
// ~/.cache/tilejit); TILEJIT_CACHE=0 turns it off.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { callerFileFromStack } from '../compiler/source/locate.js';

const FORMAT = 1;
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

export class DiskCache {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return join(this.dir, `${sha256(key).slice(0, 40)}.json`);
  }

  get<T>(key: string): T | undefined {
    const file = this.file(key);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const e = JSON.parse(text) as { format: number; key: string; digest: string; payload: T };
      if (e.format === FORMAT && e.key === key && e.digest === sha256(JSON.stringify(e.payload))) return e.payload;
    } catch {
      // fall through: a damaged entry
    }
    rmSync(file, { force: true });
    return undefined;
  }

  put(key: string, payload: unknown): void {
    try {
      mkdirSync(this.dir, { recursive: true });
      const file = this.file(key);
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, JSON.stringify({ format: FORMAT, key, digest: sha256(JSON.stringify(payload)), payload }));
      renameSync(tmp, file);
    } catch {
      // A cache that cannot be written (read-only home, full disk) only costs a recompile.
    }
  }
}

let cache: DiskCache | null | undefined;

/** The process's disk cache, or undefined when turned off. */
export function diskCache(): DiskCache | undefined {
  if (cache === undefined) {
    const off = process.env['TILEJIT_CACHE'] === '0';
    cache = off ? null : new DiskCache(process.env['TILEJIT_CACHE_DIR'] ?? join(homedir(), '.cache', 'tilejit'));
  }
  return cache ?? undefined;
}

let fingerprint: string | undefined;

/**
 * A hash of the compiler that produced an entry: of this bundle when running bundled, else of every
 * source file of compiler/ and runtime/ (so that any change to the compiler invalidates old entries).
 */
export function compilerFingerprint(): string {
  if (fingerprint) return fingerprint;
  // This module's own file (from the stack: import.meta is empty in CommonJS bundles).
  const self = callerFileFromStack(new Error().stack, 0);
  const h = createHash('sha256');
  if (!self) h.update(`unknown-build:${process.version}`);
  else if (!self.endsWith('.ts')) h.update(readFileSync(self));
  else {
    const root = join(dirname(self), '..');
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir).sort()) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (f.endsWith('.ts')) h.update(p).update(readFileSync(p));
      }
    };
    walk(join(root, 'compiler'));
    walk(join(root, 'runtime'));
  }
  return (fingerprint = h.digest('hex').slice(0, 16));
}
