// Target selection: which projections of a model a method adapts, by role (q, k, v, o, gate,
// up, down; GPT-2: c_attn, attn.c_proj, c_fc, mlp.c_proj). "all" is every projection, as the
// papers do.

import type { CausalLM } from '../models/causalLM';
import { InputError } from '../errors';

export function rolesOf(model: CausalLM): string[] {
  return [...new Set(model.linearNames().map((n) => model.linearRole(n)))];
}

/** Module paths of the projections whose role is in `roles` (or all of them for ['all']). */
export function selectTargets(model: CausalLM, roles: readonly string[]): string[] {
  const available = rolesOf(model);
  if (roles.includes('all')) return [...model.linearNames()];
  const unknown = roles.filter((r) => !available.includes(r));
  if (unknown.length > 0) throw new InputError(`unknown target ${unknown.join(', ')}; this model has ${available.join(', ')}`);
  const names = model.linearNames().filter((n) => roles.includes(model.linearRole(n)));
  if (names.length === 0) throw new InputError('no projection selected');
  return names;
}
