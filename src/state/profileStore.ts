// State of the Benchmark tab's training-step profile: the last report, the steps streamed while
// one runs, and the job's state. Only this store calls the worker's profileTraining.

import { create } from 'zustand';
import type { ProfileParams, ProfileReport, ProfileStep } from '../worker/protocol';
import { engineClient } from './engineStore';
import { errorMessage } from '../errors';

type ProfileJob = { state: 'idle' } | { state: 'running'; text: string } | { state: 'done' } | { state: 'failed'; message: string };

interface ProfileState {
  job: ProfileJob;
  report: ProfileReport | null;
  /** Steps finished so far in the running profile, by method. */
  live: readonly { readonly method: string; readonly step: ProfileStep }[];
  runProfile: (params: ProfileParams) => Promise<void>;
}

export const useProfileStore = create<ProfileState>()((set, get) => ({
  job: { state: 'idle' },
  report: null,
  live: [],

  runProfile: async (params) => {
    if (get().job.state === 'running') return;
    set({ job: { state: 'running', text: 'waiting for the engine' }, live: [] });
    try {
      const report = await engineClient().call('profileTraining', params, (p) => {
        const step = p.step;
        set({ job: { state: 'running', text: p.text }, ...(step ? { live: [...get().live, { method: p.method, step }] } : {}) });
      });
      set({ job: { state: 'done' }, report, live: [] });
    } catch (error) {
      set({ job: { state: 'failed', message: errorMessage(error) } });
    }
  },
}));
