// The runs the curve charts draw: the page's run, plus a saved run overlaid as dashed lines in
// the same method colours (keys `${method}~saved`, labels "LoRA (saved 12:03)").

import { useMemo } from 'react';
import { useRunStore } from '../state/runStore';
import { useSavedRunsStore } from '../state/savedRunsStore';
import { useSettingsStore } from '../state/settingsStore';
import { methodColor } from './methodColors';
import type { StepPoint } from '../worker/protocol';

export interface ChartMethod {
  readonly id: string;
  readonly label: string;
  readonly color: string;
  /** Drawn dashed (an overlaid saved run). */
  readonly dash?: boolean;
}

export const OVERLAY_SUFFIX = '~saved';

export function useChartRuns(): {
  methodIds: readonly string[];
  series: Readonly<Record<string, readonly StepPoint[]>>;
  evals: Readonly<Record<string, readonly { step: number; loss: number }[]>>;
  methods: readonly ChartMethod[];
} {
  const liveIds = useRunStore((s) => s.methods);
  const liveSeries = useRunStore((s) => s.series);
  const liveEvals = useRunStore((s) => s.evals);
  const infos = useSettingsStore((s) => s.methods);
  const overlay = useSavedRunsStore((s) => s.overlay);
  return useMemo(() => {
    const order = infos.map((m) => m.id);
    const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;
    const methods: ChartMethod[] = liveIds.map((id) => ({ id, label: label(id), color: methodColor(id, order) }));
    if (!overlay) return { methodIds: liveIds, series: liveSeries, evals: liveEvals, methods };
    const series: Record<string, readonly StepPoint[]> = { ...liveSeries };
    const evals: Record<string, readonly { step: number; loss: number }[]> = { ...liveEvals };
    const time = new Date(overlay.savedAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    for (const m of overlay.methods) {
      const key = `${m.id}${OVERLAY_SUFFIX}`;
      series[key] = overlay.series[m.id] ?? [];
      evals[key] = overlay.evals[m.id] ?? [];
      methods.push({ id: key, label: `${m.label} (saved ${time})`, color: methodColor(m.id, order), dash: true });
    }
    return { methodIds: methods.map((m) => m.id), series, evals, methods };
  }, [liveIds, liveSeries, liveEvals, infos, overlay]);
}
