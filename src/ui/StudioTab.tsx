// The studio: set-up on the left (model, data, methods, training settings), the run on the right
// (controls, initialisation, live curves, results, generation). Opening it loads the built-in
// model and data once the engine is ready. The GPU in use and its self-test close the set-up
// column, so the first screen says which adapter does the work (PRODUCT.md step 1).

import { useEffect } from 'react';
import { useEngineStore } from '../state/engineStore';
import { openStudio } from '../state/studio';
import { DataPanel } from './DataPanel';
import { GeneratePanel } from './GeneratePanel';
import { GpuPanel } from './GpuPanel';
import { InitProgressList } from './InitProgressList';
import { LiveCharts } from './LiveCharts';
import { MethodsPanel } from './MethodsPanel';
import { ModelPanel } from './ModelPanel';
import { ResultsTable } from './ResultsTable';
import { RunControls } from './RunControls';
import { SelfTestPanel } from './SelfTestPanel';
import { AddMethodPanel } from './AddMethodPanel';
import { MethodChecks } from './MethodChecks';
import { QuantErrorPanel } from './QuantErrorPanel';
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
      <div className="studio-setup">
        <ModelPanel />
        <DataPanel />
        <MethodsPanel />
        <TrainingSettings />
        <GpuPanel />
        <SelfTestPanel />
      </div>
      <div className="studio-run">
        <RunControls />
        <AddMethodPanel />
        <InitProgressList />
        <QuantErrorPanel />
        <LiveCharts />
        <MethodChecks />
        <SpectrumPanel />
        <ResultsTable />
        <ScatterPanel />
        <GeneratePanel />
        <ExportPanel />
        <SavedRunsPanel />
      </div>
    </div>
  );
}
