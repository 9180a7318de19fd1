// Every method the studio offers, in the order the UI lists them. Adding a method is adding its
// file under methods/ and one line here. The registry (with methods/) is the only place that
// names methods by id; everything else asks a definition (see registry.test.ts).

import { corda } from './methods/corda';
import { dora } from './methods/dora';
import { eva } from './methods/eva';
import { full } from './methods/full';
import { lora } from './methods/lora';
import { loraga } from './methods/loraga';
import { loraplus } from './methods/loraplus';
import { lorasb } from './methods/lorasb';
import { milora } from './methods/milora';
import { olora } from './methods/olora';
import { pissa } from './methods/pissa';
import { loftq, qlora, qpissa } from './methods/quantized';
import { sorsa } from './methods/sorsa';
import { shira } from './methods/shira';
import { spp } from './methods/spp';
import { vera } from './methods/vera';
import type { MethodDefinition, MethodId } from './types';
import { InputError } from '../errors';

export const METHODS: readonly MethodDefinition[] = [
  lora,
  loraplus,
  dora,
  pissa,
  olora,
  milora,
  corda,
  loraga,
  eva,
  qlora,
  qpissa,
  loftq,
  sorsa,
  lorasb,
  vera,
  spp,
  shira,
  full,
];

/** Ticked when the studio opens. */
export const DEFAULT_SELECTED: readonly MethodId[] = [lora.id, pissa.id];

/** What `train` trains when no --method is given. */
export const DEFAULT_TRAIN_METHOD: MethodId = full.id;

export function methodById(id: string): MethodDefinition {
  const method = METHODS.find((m) => m.id === id);
  if (!method) throw new InputError(`unknown method "${id}"; available: ${METHODS.map((m) => m.id).join(', ')}`);
  return method;
}

export function isMethodId(id: string): id is MethodId {
  return METHODS.some((m) => m.id === id);
}
