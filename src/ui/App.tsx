// The studio's frame: header with the adapter in use, tabs, and the notice that replaces
// everything when this browser has no WebGPU.

import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useEngineStore } from '../state/engineStore';
import { BenchPanel } from './BenchPanel';
import { GpuPanel } from './GpuPanel';
import { NoWebGpu } from './NoWebGpu';
import { SelfTestPanel } from './SelfTestPanel';
import { StudioTab } from './StudioTab';
import { StudyView } from './StudyView';
import { EngineNotice } from './EngineNotice';

const TABS = [
  { id: 'studio', label: 'Studio' },
  { id: 'gpu', label: 'GPU & self-test' },
  { id: 'bench', label: 'Benchmark' },
  { id: 'study', label: 'Study' },
] as const;
type TabId = (typeof TABS)[number]['id'];

export function App() {
  const { status, problem, gpu, incident, start } = useEngineStore();
  const [tab, setTab] = useState<TabId>('studio');
  const tabRefs = useRef<Partial<Record<TabId, HTMLButtonElement | null>>>({});

  // WAI-ARIA tabs: arrows, Home and End move between tabs (and select them); Tab leaves the list.
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    const id = TABS[(next + TABS.length) % TABS.length]!.id;
    setTab(id);
    tabRefs.current[id]?.focus();
  };

  useEffect(() => {
    void start();
  }, [start]);

  if (status === 'unavailable') {
    if (tab !== 'study') return <NoWebGpu reason={problem ?? 'WebGPU is not available.'} onShowStudy={() => setTab('study')} />;
    return (
      <div className="app">
        <header className="app-header">
          <h1>Adapter Studio</h1>
          <span className="adapter-chip" data-testid="adapter-chip">
            No WebGPU: the reference study only
          </span>
          <button type="button" onClick={() => setTab('studio')}>
            Back to the WebGPU notice
          </button>
        </header>
        <main className="app-main">
          <StudyView />
        </main>
      </div>
    );
  }

  return (
    <div className="app">
      <header className="app-header">
        <h1>Adapter Studio</h1>
        <span className="adapter-chip" data-testid="adapter-chip">
          {status === 'starting' ? 'Starting the GPU engine…' : gpu ? gpuName(gpu) : 'Engine failed'}
        </span>
        <nav className="tabs" role="tablist" aria-label="Studio sections">
          {TABS.map((t) => (
            <button
              key={t.id}
              ref={(el) => {
                tabRefs.current[t.id] = el;
              }}
              id={`tab-${t.id}`}
              role="tab"
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              className={tab === t.id ? 'tab active' : 'tab'}
              onClick={() => setTab(t.id)}
              onKeyDown={onTabKey}
            >
              {t.label}
            </button>
          ))}
        </nav>
      </header>
      <EngineNotice />
      {incident && (
        <div className="banner error" role="alert">
          {incident}
        </div>
      )}
      {status === 'failed' && (
        <div className="banner error" role="alert">
          The GPU engine could not start: {problem}
        </div>
      )}
      <main className="app-main" id={`panel-${tab}`} role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {tab === 'studio' && <StudioTab />}
        {tab === 'gpu' && (
          <div className="columns">
            <GpuPanel />
            <SelfTestPanel />
          </div>
        )}
        {tab === 'bench' && <BenchPanel />}
        {tab === 'study' && <StudyView />}
      </main>
    </div>
  );
}

export function gpuName(gpu: { vendor: string; architecture: string; device: string; description: string }): string {
  const maker = [gpu.vendor, gpu.architecture].filter(Boolean).join(' ');
  const name = gpu.description || gpu.device;
  if (name && maker) return `${name} (${maker})`;
  return name || maker || 'Unnamed WebGPU adapter';
}
