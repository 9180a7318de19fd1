// The runs the curve charts draw: the page's run, plus a saved run overlaid as plain dashed, fainter
// lines in the same method colours and markers (keys `${method}~saved`, labels "LoRA (saved
// 12:03)"), grouped under the saved run's name in the legends.

import { useMemo } from 'react';
import { useRunStore } from '../state/runStore';
import { useSavedRunsStore } from '../state/savedRunsStore';
import { useSettingsStore } from '../state/settingsStore';
import { methodSeries, methodStyle, type ChartSeries } from './methodColors';
import type { StepPoint } from '../worker/protocol';

export type ChartMethod = ChartSeries;

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
    const methods: ChartMethod[] = liveIds.map((id) => methodSeries(id, label(id), order));
    if (!overlay) return { methodIds: liveIds, series: liveSeries, evals: liveEvals, methods };
    const series: Record<string, readonly StepPoint[]> = { ...liveSeries };
    const evals: Record<string, readonly { step: number; loss: number }[]> = { ...liveEvals };
    const time = new Date(overlay.savedAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    for (const m of overlay.methods) {
      const key = `${m.id}${OVERLAY_SUFFIX}`;
      series[key] = overlay.series[m.id] ?? [];
      evals[key] = overlay.evals[m.id] ?? [];
      const { color, marker } = methodStyle(m.id, order);
      methods.push({
        id: key,
        label: `${m.label} (saved ${time})`,
        color,
        marker,
        dash: 'overlay',
        group: `${overlay.name} (saved ${time}, dashed)`,
        short: m.label,
      });
    }
    return { methodIds: methods.map((m) => m.id), series, evals, methods };
  }, [liveIds, liveSeries, liveEvals, infos, overlay]);
}
