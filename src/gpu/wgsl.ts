// Reads a WGSL compute shader's interface from its source, so the TypeScript side never keeps
// a second copy of a binding list or a uniform layout by hand.
//
// Conventions every shader in shaders/ follows (checked here, with a clear error otherwise):
//   - all resources are in @group(0);
//   - at most one `var<uniform> params: Params;` whose struct holds only 4-byte scalars
//     (u32, i32, f32), so field i sits at byte offset 4·i and the struct is padded to 16 bytes;
//   - storage buffers are `var<storage, read>` or `var<storage, read_write>`.

import { InternalError } from '../errors';

export type ScalarType = 'u32' | 'i32' | 'f32';

export interface ShaderBinding {
  readonly binding: number;
  readonly name: string;
  readonly kind: 'uniform' | 'read-only-storage' | 'storage';
}

export interface UniformField {
  readonly name: string;
  readonly type: ScalarType;
  readonly offset: number;
}

export interface ShaderInterface {
  readonly bindings: readonly ShaderBinding[];
  readonly uniformFields: readonly UniformField[];
  /** Byte size of the Params struct, padded to 16 (0 when the shader has no uniform). */
  readonly uniformSize: number;
  readonly entryPoints: readonly string[];
}

const BINDING_RE = /@group\((\d+)\)\s*@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>\s*(\w+)\s*:\s*(\w+)/g;
const ENTRY_RE = /@compute[^f]*fn\s+(\w+)/g;

export function parseShaderInterface(source: string, shaderName: string): ShaderInterface {
  const code = stripComments(source);
  const bindings: ShaderBinding[] = [];
  let uniformStruct: string | undefined;
  for (const m of code.matchAll(BINDING_RE)) {
    const [, group, binding, space, access, name, type] = m;
    if (group !== '0') throw new InternalError(`${shaderName}: binding ${name} must be in @group(0)`);
    if (space === 'uniform') {
      if (uniformStruct) throw new InternalError(`${shaderName}: only one uniform binding is supported`);
      uniformStruct = type;
      bindings.push({ binding: Number(binding), name: name!, kind: 'uniform' });
    } else {
      bindings.push({
        binding: Number(binding),
        name: name!,
        kind: access === 'read_write' ? 'storage' : 'read-only-storage',
      });
    }
  }
  bindings.sort((x, y) => x.binding - y.binding);

  const uniformFields: UniformField[] = [];
  if (uniformStruct) {
    const structRe = new RegExp(`struct\\s+${uniformStruct}\\s*\\{([^}]*)\\}`);
    const body = structRe.exec(code)?.[1];
    if (body === undefined) throw new InternalError(`${shaderName}: struct ${uniformStruct} not found`);
    const fields = body
      .split(',')
      .map((f) => f.trim())
      .filter((f) => f.length > 0);
    fields.forEach((field, i) => {
      const fm = /^(\w+)\s*:\s*(\w+)$/.exec(field);
      if (!fm || !['u32', 'i32', 'f32'].includes(fm[2]!)) {
        throw new InternalError(`${shaderName}: uniform field "${field}" must be a u32, i32 or f32 scalar`);
      }
      uniformFields.push({ name: fm[1]!, type: fm[2] as ScalarType, offset: 4 * i });
    });
  }
  const uniformSize = uniformFields.length === 0 ? 0 : Math.ceil((4 * uniformFields.length) / 16) * 16;
  const entryPoints = [...code.matchAll(ENTRY_RE)].map((m) => m[1]!);
  return { bindings, uniformFields, uniformSize, entryPoints };
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** Writes uniform values into `view` at `byteOffset` following the parsed layout. */
export function writeUniforms(
  view: DataView,
  byteOffset: number,
  fields: readonly UniformField[],
  values: Readonly<Record<string, number>>,
  shaderName: string,
): void {
  for (const field of fields) {
    const value = values[field.name];
    if (value === undefined) throw new InternalError(`${shaderName}: missing uniform "${field.name}"`);
    const at = byteOffset + field.offset;
    if (field.type === 'f32') view.setFloat32(at, value, true);
    else if (field.type === 'i32') view.setInt32(at, value, true);
    else {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
        throw new InternalError(`${shaderName}: uniform "${field.name}" = ${value} is not a u32`);
      }
      view.setUint32(at, value, true);
    }
  }
  for (const name of Object.keys(values)) {
    if (!fields.some((f) => f.name === name)) {
      throw new InternalError(`${shaderName}: "${name}" is not a field of its Params struct`);
    }
  }
}
