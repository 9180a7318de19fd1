// The run's samples, under Training: whether each validation step also generates one fixed
// prompt per method, which prompt, and how it is decoded (max tokens, then DecodingFields.tsx).
// Ranges are worker/sampleSettings.ts's, the same the worker checks.

import { useSettingsStore } from '../state/settingsStore';
import { SAMPLE_BOUNDS, SAMPLE_PROMPT_CHARS } from '../worker/sampleSettings';
import { DecodingFields, RangedNumber, type DecodingChoice } from './DecodingFields';

export function SampleSettings({ busy }: { readonly busy: boolean }) {
  const shared = useSettingsStore((s) => s.shared);
  const setShared = useSettingsStore((s) => s.setShared);
  const off = busy || !shared.samplesOn;
  const decoding: DecodingChoice = {
    greedy: shared.sampleGreedy,
    temperature: shared.sampleTemperature,
    topK: shared.sampleTopK,
    topP: shared.sampleTopP,
    stopAtEos: shared.sampleStopAtEos,
    stop: shared.sampleStop,
  };
  const setDecoding = (p: Partial<DecodingChoice>) =>
    setShared({
      ...(p.greedy !== undefined ? { sampleGreedy: p.greedy } : {}),
      ...(p.temperature !== undefined ? { sampleTemperature: p.temperature } : {}),
      ...(p.topK !== undefined ? { sampleTopK: p.topK } : {}),
      ...(p.topP !== undefined ? { sampleTopP: p.topP } : {}),
      ...(p.stopAtEos !== undefined ? { sampleStopAtEos: p.stopAtEos } : {}),
      ...(p.stop !== undefined ? { sampleStop: p.stop } : {}),
    });

  return (
    <fieldset className="sample-settings" data-testid="sample-settings" disabled={busy}>
      <legend>Samples at each validation</legend>
      <label className="check">
        <input type="checkbox" checked={shared.samplesOn} onChange={(e) => setShared({ samplesOn: e.target.checked })} /> Generate a sample per method
      </label>
      <p className="small muted">
        Samples cost time: at each validation every method generates up to {shared.sampleMaxTokens} tokens, one forward pass each. Turn them off for the fastest
        runs.
      </p>
      <label htmlFor="sample-prompt">Prompt</label>
      <textarea
        id="sample-prompt"
        rows={2}
        value={shared.samplePrompt}
        maxLength={SAMPLE_PROMPT_CHARS}
        disabled={off}
        placeholder="Empty: the first validation row's prompt, as trained"
        title="Empty: the first validation row's prompt, as training renders it (chat template applied for chat data). A typed prompt gets the chat template when the data is chat."
        onChange={(e) => setShared({ samplePrompt: e.target.value })}
      />
      <div className="settings-grid">
        <label htmlFor="sample-max-tokens">Max tokens</label>
        <RangedNumber
          id="sample-max-tokens"
          value={shared.sampleMaxTokens}
          bounds={SAMPLE_BOUNDS.maxTokens}
          disabled={off}
          onChange={(sampleMaxTokens) => setShared({ sampleMaxTokens })}
        />
        <DecodingFields idPrefix="sample" value={decoding} onChange={setDecoding} disabled={off} />
      </div>
    </fieldset>
  );
}
