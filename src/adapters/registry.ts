// Every method the studio offers, in the order the UI lists them. Adding a method is adding its
// file under methods/ and one line here.

import { full } from './methods/full';
import { lora } from './methods/lora';
import { lorasb } from './methods/lorasb';
import { pissa } from './methods/pissa';
import { loftq, qlora, qpissa } from './methods/quantized';
import { sorsa } from './methods/sorsa';
import { spp } from './methods/spp';
import type { MethodDefinition, MethodId } from './types';

export const METHODS: readonly MethodDefinition[] = [lora, pissa, qlora, qpissa, loftq, sorsa, lorasb, spp, full];

export function methodById(id: string): MethodDefinition {
  const method = METHODS.find((m) => m.id === id);
  if (!method) throw new RangeError(`unknown method "${id}"; available: ${METHODS.map((m) => m.id).join(', ')}`);
  return method;
}

export function isMethodId(id: string): id is MethodId {
  return METHODS.some((m) => m.id === id);
}
