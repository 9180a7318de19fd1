// The line under a panel's title that names the run its numbers belong to ("Run: LoRA · 60 steps ·
// kjv-llama-1m (built-in) · math (built-in)"), so a chart, table, generation or export is never
// read as if it came from what is loaded now. Renders nothing before any run.

import { useRunStore } from '../state/runStore';
import './records.css';

export function RunTag({ what = 'Run' }: { what?: string }) {
  const record = useRunStore((s) => s.record);
  if (!record) return null;
  return (
    <p className="run-tag" data-testid="run-tag">
      {what}: <strong>{record.name}</strong> · {record.modelInfo?.name ?? record.model} · {record.dataInfo?.name ?? record.dataset}
    </p>
  );
}
