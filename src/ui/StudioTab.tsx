// The studio: the run bar pinned on top (Start, Pause, Stop, Add method, progress, the run's
// name); the set-up in a column of foldable sections (model, data, methods, training settings,
// then the GPU in use and its self-test, folded to the adapter's name), which scrolls on its own
// on wide screens; the run in the main area, curves first (then each method's samples, results, comparison, generation,
// diagnostics, exports, saved runs). Below 1200 px the set-up sits above the run. Opening it
// loads the built-in model and data once the engine is ready.

import { useEffect } from 'react';
import { useEngineStore } from '../state/engineStore';
import { openStudio } from '../state/studio';
import { DataPanel } from './DataPanel';
import { GeneratePanel } from './GeneratePanel';
import { GpuPanel } from './GpuPanel';
import { InitProgressList } from './InitProgressList';
import { LiveCharts } from './LiveCharts';
import { SamplesStrip } from './SamplesStrip';
import { MethodsPanel } from './MethodsPanel';
import { ModelPanel } from './ModelPanel';
import { ResultsTable } from './ResultsTable';
import { RunControls } from './RunControls';
import { RunBanner } from './RunBanner';
import { SelfTestPanel } from './SelfTestPanel';
import { MethodChecks } from './MethodChecks';
import { QuantErrorPanel } from './QuantErrorPanel';
import { ParetoPanel } from './ParetoPanel';
import { ScatterPanel } from './ScatterPanel';
import { SpectrumPanel } from './SpectrumPanel';
import { TrainingSettings } from './TrainingSettings';
import { ExportPanel } from './ExportPanel';
import { SavedRunsPanel } from './SavedRunsPanel';

export function StudioTab() {
  const ready = useEngineStore((s) => s.status === 'ready');
  useEffect(() => {
    if (ready) void openStudio();
  }, [ready]);

  return (
    <div className="studio" data-testid="studio">
      <RunControls />
      <div className="studio-body">
        <div className="studio-setup" role="region" aria-label="Set-up" data-testid="studio-setup">
          <ModelPanel />
          <DataPanel />
          <MethodsPanel />
          <TrainingSettings />
          <GpuPanel collapsible />
          <SelfTestPanel collapsible />
        </div>
        <div className="studio-run">
          <RunBanner />
          <InitProgressList />
          <LiveCharts />
          <SamplesStrip />
          <ResultsTable />
          <ParetoPanel />
          <ScatterPanel />
          <GeneratePanel />
          <MethodChecks />
          <QuantErrorPanel />
          <SpectrumPanel />
          <ExportPanel />
          <SavedRunsPanel />
        </div>
      </div>
    </div>
  );
}
