// Reads the kinds of a kernel's parameters from their type annotations: pointer, typed scalar,
// constexpr, or inferred from the launch argument.
import type { ParameterDeclaration } from 'ts-morph';
import { Node } from './ts-morph.js';
import { type DType, isDType } from '../ir/dtype.js';
import type { KernelFunction } from './parse.js';

export type DeclaredParam =
  | { readonly name: string; readonly kind: 'ptr'; readonly pointee?: DType }
  | { readonly name: string; readonly kind: 'scalar'; readonly dtype: DType }
  | { readonly name: string; readonly kind: 'constexpr' }
  /** No annotation we understand (plain JavaScript, `number`): typed from the launch argument. */
  | { readonly name: string; readonly kind: 'infer' };

export class ParamAnnotationError extends Error {
  constructor(readonly node: Node, message: string) {
    super(message);
  }
}

export function declaredParams(fn: KernelFunction, extraConstexprs: readonly string[] = []): DeclaredParam[] {
  return fn.getParameters().map((p) => declaredParam(p, extraConstexprs));
}

function declaredParam(p: ParameterDeclaration, extraConstexprs: readonly string[]): DeclaredParam {
  const nameNode = p.getNameNode();
  if (!Node.isIdentifier(nameNode)) throw new ParamAnnotationError(p, `kernel parameters must be plain names, not destructuring patterns`);
  const name = nameNode.getText();
  if (p.isRestParameter()) throw new ParamAnnotationError(p, `kernel parameter '${name}' cannot be a rest parameter`);
  if (p.hasInitializer()) throw new ParamAnnotationError(p, `kernel parameter '${name}' cannot have a default value; pass it at launch`);
  if (extraConstexprs.includes(name)) return { name, kind: 'constexpr' };
  const typeNode = p.getTypeNode();
  if (!typeNode) return { name, kind: 'infer' };
  if (Node.isTypeReference(typeNode)) {
    const ref = typeNode.getTypeName().getText().replace(/^tl\./, '');
    const typeArgs = typeNode.getTypeArguments();
    if (ref === 'Ptr') {
      if (typeArgs.length === 0) return { name, kind: 'ptr' };
      const t = typeArgs[0]!.getText().replace(/^['"]|['"]$/g, '');
      if (!isDType(t)) throw new ParamAnnotationError(typeArgs[0]!, `unknown pointer element type ${typeArgs[0]!.getText()} for parameter '${name}'`);
      return { name, kind: 'ptr', pointee: t };
    }
    if (ref === 'constexpr') return { name, kind: 'constexpr' };
    if (isDType(ref)) return { name, kind: 'scalar', dtype: ref };
  }
  const text = typeNode.getText();
  if (text === 'boolean') return { name, kind: 'scalar', dtype: 'i1' };
  if (text === 'number') return { name, kind: 'infer' };
  throw new ParamAnnotationError(
    typeNode,
    `cannot tell how to pass parameter '${name}' of type '${text}'; use tl.Ptr, tl.Ptr<'f16'>, a scalar type such as tl.i32 or tl.f32, or tl.constexpr`,
  );
}
