// `nf4 <in.safetensors> --out <out.safetensors> [--double-quant]`: quantizes every 2-D floating-point
// tensor (F32, F16, BF16, F64) to NF4 exactly as bitsandbytes does (quantize_4bit, quant_type nf4, blocksize 64), with
// the CPU reference src/io/nf4Reference.ts (no GPU needed; bit-exact to bitsandbytes, and the
// GPU kernel is tested against it). For a tensor `<name>` [out, in] it writes
//   <name>.nf4     U8 [ceil(n/2), 1]  codes, two per byte, the first element in the high nibble
//                                    (bitsandbytes' packed weight; n = out·in, row-major)
//   <name>.absmax  F32 [ceil(n/64)]   the exact absmax of each block of 64
// and with --double-quant also (QLoRA's double quantization of the absmax values):
//   <name>.absmax_codes8  U8 [blocks]             8-bit dynamic-map codes of absmax − mean
//   <name>.absmax_scales  F32 [ceil(blocks/256)]  one scale per 256 blocks
//   <name>.absmax_mean    F32 [1]                 the mean subtracted
// so absmax ≈ dynamic_map[code8]·scale + mean. Every other tensor (1-D, integer) is copied as
// stored. The original shapes and dtypes are in the file's __metadata__ ("nf4" key, JSON).
// Prints each quantized tensor with its relative error ‖W − deq‖_F / ‖W‖_F and the bits per
// weight: bitsandbytes' storage (4.5, or ≈ 4.127 with double quantization), and of this file.

import { writeFile } from 'node:fs/promises';
import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { nodeFileSource } from '../../io/nodeSource';
import { dequantizeNf4Ref, nf4StorageBytes, quantizeNf4Ref, NF4_BLOCK } from '../../io/nf4Reference';
import { formatShape, parseSafetensorsHeader, readTensorAsF32, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../io/safetensors';
import { StudioError, errorMessage, formatBytes } from '../../errors';
import { checkOutputFile, formatTable, type CliEnv } from './common';

const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

export const nf4Spec: CommandSpec = {
  name: 'nf4',
  summary: 'Quantize the 2-D tensors of a safetensors file to NF4 (bitsandbytes layout), on the CPU.',
  positionals: [{ name: 'in.safetensors', description: 'input safetensors file' }],
  flags: {
    out: { type: 'string', value: 'FILE', description: 'output safetensors file (required)' },
    'double-quant': { type: 'boolean', description: 'also double-quantize the absmax values (8-bit codes per 256 blocks)' },
  },
  examples: ['nf4 path/to/model/model.safetensors --out model.nf4.safetensors --double-quant'],
};

export interface Nf4TensorReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly relativeError: number;
}

export interface Nf4Result {
  readonly quantized: Nf4TensorReport[];
  readonly copied: string[];
  /** Bits per quantized weight as bitsandbytes stores them. */
  readonly bitsPerWeight: number;
  /** Bits per quantized weight in the written file (with double quantization the f32 absmax is kept too). */
  readonly fileBitsPerWeight: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
}

export async function runNf4(args: ParsedArgs, env: CliEnv): Promise<Nf4Result> {
  const { io } = env;
  const input = args.positionals[0]!;
  const out = args.string('out');
  if (out === undefined) throw new UsageError("'nf4' needs --out FILE", 'nf4');
  await checkOutputFile('out', out);
  const doubleQuant = args.bool('double-quant');
  const source = await nodeFileSource(input);
  const header = await parseSafetensorsHeader(source);
  const tensors: TensorToWrite[] = [];
  const meta: Record<string, { shape: readonly number[]; dtype: string }> = {};
  const result: Nf4Result = { quantized: [], copied: [], bitsPerWeight: 0, fileBitsPerWeight: 0, inputBytes: source.size, outputBytes: 0 };
  let weights = 0;
  let storage = 0;
  let fileBytes = 0;
  for (const info of header.tensors.values()) {
    const n = info.shape.reduce((a, b) => a * b, 1);
    if (info.shape.length !== 2 || n === 0 || !FLOAT_DTYPES.includes(info.dtype)) {
      tensors.push({ name: info.name, dtype: info.dtype, shape: info.shape, data: await readTensorBytes(source, info) });
      result.copied.push(info.name);
      continue;
    }
    for (const suffix of ['.nf4', '.absmax', '.absmax_codes8', '.absmax_scales', '.absmax_mean']) {
      if (header.tensors.has(info.name + suffix)) throw new StudioError(`${input} already has a tensor ${info.name + suffix}; is it quantized already?`);
    }
    const w = await readTensorAsF32(source, info);
    const q = quantizeNf4Ref(w, { doubleQuant });
    const deq = dequantizeNf4Ref(q);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < n; i++) {
      err += (w[i]! - deq[i]!) ** 2;
      norm += w[i]! ** 2;
    }
    const blocks = Math.ceil(n / NF4_BLOCK);
    tensors.push({ name: `${info.name}.nf4`, dtype: 'U8', shape: [q.bytes.length, 1], data: q.bytes });
    tensors.push({ name: `${info.name}.absmax`, dtype: 'F32', shape: [blocks], data: q.absmax });
    fileBytes += q.bytes.length + 4 * blocks;
    if (q.double) {
      tensors.push({ name: `${info.name}.absmax_codes8`, dtype: 'U8', shape: [blocks], data: q.double.codes8 });
      tensors.push({ name: `${info.name}.absmax_scales`, dtype: 'F32', shape: [q.double.scales.length], data: q.double.scales });
      tensors.push({ name: `${info.name}.absmax_mean`, dtype: 'F32', shape: [1], data: Float32Array.of(q.double.mean) });
      fileBytes += blocks + 4 * q.double.scales.length + 4;
    }
    meta[info.name] = { shape: info.shape, dtype: info.dtype };
    weights += n;
    storage += nf4StorageBytes(n, doubleQuant);
    result.quantized.push({ name: info.name, shape: info.shape, dtype: info.dtype, relativeError: norm > 0 ? Math.sqrt(err / norm) : 0 });
  }
  if (result.quantized.length === 0) throw new StudioError(`${input} has no 2-D floating-point tensor to quantize`);
  const metadata = {
    format: 'pt',
    nf4: JSON.stringify({
      quant_type: 'nf4',
      blocksize: NF4_BLOCK,
      double_quant: doubleQuant,
      double_quant_blocksize: 256,
      layout: 'bitsandbytes',
      tensors: meta,
    }),
  };
  const bytes = writeSafetensors(tensors, metadata);
  try {
    await writeFile(out, bytes);
  } catch (error) {
    throw new StudioError(`could not write ${out}: ${errorMessage(error)}`);
  }
  Object.assign(result, { bitsPerWeight: (8 * storage) / weights, fileBitsPerWeight: (8 * fileBytes) / weights, outputBytes: bytes.byteLength });
  io.out(
    formatTable(
      ['tensor', 'shape', 'dtype', 'rel. error'],
      result.quantized.map((t) => [t.name, formatShape(t.shape), t.dtype, t.relativeError.toExponential(3)]),
    ),
  );
  io.out(
    `\nquantized ${result.quantized.length} tensors (${weights} weights), copied ${result.copied.length}; NF4 block 64${doubleQuant ? ', double quantization' : ''} (CPU reference, bitsandbytes-exact)\n` +
      `bits/weight ${result.bitsPerWeight.toFixed(3)} as bitsandbytes stores them` +
      (doubleQuant ? `; ${result.fileBitsPerWeight.toFixed(3)} in this file, which keeps the f32 absmax beside the double-quantized one` : '') +
      `\n${formatBytes(result.inputBytes)} → ${formatBytes(result.outputBytes)}: wrote ${out}\n`,
  );
  return result;
}
