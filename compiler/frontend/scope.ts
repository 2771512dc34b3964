// Lexical scopes of kernel variables. A binding's operand changes on assignment; control flow
// compares bindings before and after a branch or loop body to find what it modified.
import type { Operand } from './operand.js';

export class Binding {
  constructor(
    public operand: Operand,
    readonly mutable: boolean,
    readonly name: string,
  ) {}
}

export class Scope {
  private readonly vars = new Map<string, Binding>();
  constructor(readonly parent?: Scope) {}

  lookup(name: string): Binding | undefined {
    return this.vars.get(name) ?? this.parent?.lookup(name);
  }
  declare(name: string, b: Binding): void {
    this.vars.set(name, b);
  }
  hasOwn(name: string): boolean {
    return this.vars.has(name);
  }
  /** Every visible mutable binding (the nearest of each name). */
  visibleMutable(): Binding[] {
    const seen = new Map<string, Binding>();
    for (let s: Scope | undefined = this; s; s = s.parent)
      for (const [n, b] of s.vars) if (!seen.has(n)) seen.set(n, b);
    return [...seen.values()].filter((b) => b.mutable);
  }
}
