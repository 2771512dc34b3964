// Functions passed as constexpr arguments (a custom activation, a score modifier): the launch hands
// over a JavaScript function, the compiler reads its text (what `Function.prototype.toString` gives:
// types already stripped, which the syntax-only frontend does not need) and inlines each call. The
// variant cache keys the function by a hash of that text, so two functions with one name never share
// compiled code. Parsing the text is the frontend's (parse-constexpr-function.ts): binding a launch
// argument needs no parser.
import { createHash } from 'node:crypto';

/** A function constexpr as bound at launch. */
export interface ConstexprFunction {
  readonly kind: 'function';
  /** The function's name, or the parameter's when anonymous. */
  readonly name: string;
  readonly source: string;
  /** Hash of the source text: the function's identity in cache keys. */
  readonly hash: string;
}

export function constexprFunction(fn: (...args: never[]) => unknown, paramName: string): ConstexprFunction {
  const source = Function.prototype.toString.call(fn);
  return { kind: 'function', name: fn.name || paramName, source, hash: createHash('sha256').update(source).digest('hex').slice(0, 16) };
}
