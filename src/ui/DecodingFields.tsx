// How text is decoded, as form fields: greedy or sampled with temperature, top-k and top-p (each
// with its allowed range beside it), stop at EOS, and a stop string typed on one line (\n for a
// new line). Used by the run's sample settings and by the Generate panel; ranges are
// worker/sampleSettings.ts's, the ones the worker checks.

import { useState } from 'react';
import { escapeStop, SAMPLE_BOUNDS, SAMPLE_STOP_CHARS, unescapeStop, type SampleBounds } from '../worker/sampleSettings';
import { NumberInput } from './NumberInput';
import { rangeText } from './numberRange';

export interface DecodingChoice {
  readonly greedy: boolean;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly stopAtEos: boolean;
  /** The stop string itself ('' for none), not as typed. */
  readonly stop: string;
}

interface Props {
  /** Prefixes the fields' ids (two forms on one page). */
  readonly idPrefix: string;
  readonly value: DecodingChoice;
  readonly onChange: (patch: Partial<DecodingChoice>) => void;
  readonly disabled?: boolean;
}

/** The label-and-field pairs, for a two-column .settings-grid. */
export function DecodingFields({ idPrefix, value, onChange, disabled = false }: Props) {
  const [stopDraft, setStopDraft] = useState<string | null>(null);
  const sampling = !disabled && !value.greedy;
  const id = (name: string) => `${idPrefix}-${name}`;
  return (
    <>
      <label htmlFor={id('decoding')}>Decoding</label>
      <select
        id={id('decoding')}
        title="Greedy picks the most likely token; sampled draws within temperature, top-k and top-p from a fixed seed, so it repeats."
        value={value.greedy ? 'greedy' : 'sample'}
        disabled={disabled}
        onChange={(e) => onChange({ greedy: e.target.value === 'greedy' })}
      >
        <option value="greedy">greedy</option>
        <option value="sample">sampled</option>
      </select>
      <label htmlFor={id('temperature')}>Temperature</label>
      <RangedNumber
        id={id('temperature')}
        value={value.temperature}
        bounds={SAMPLE_BOUNDS.temperature}
        disabled={!sampling}
        onChange={(temperature) => onChange({ temperature })}
      />
      <label htmlFor={id('top-k')}>Top-k (0: all)</label>
      <RangedNumber id={id('top-k')} value={value.topK} bounds={SAMPLE_BOUNDS.topK} disabled={!sampling} onChange={(topK) => onChange({ topK })} />
      <label htmlFor={id('top-p')}>Top-p</label>
      <RangedNumber id={id('top-p')} value={value.topP} bounds={SAMPLE_BOUNDS.topP} disabled={!sampling} onChange={(topP) => onChange({ topP })} />
      <label htmlFor={id('stop-eos')}>Stop at EOS</label>
      <input id={id('stop-eos')} type="checkbox" checked={value.stopAtEos} disabled={disabled} onChange={(e) => onChange({ stopAtEos: e.target.checked })} />
      <label htmlFor={id('stop')} title="Generation stops once this text appears; it is cut off. \n is a new line, \t a tab, \\ a backslash.">
        Stop string
      </label>
      <input
        id={id('stop')}
        type="text"
        className="sample-stop"
        value={stopDraft ?? escapeStop(value.stop)}
        maxLength={SAMPLE_STOP_CHARS}
        placeholder="none"
        title="\n is a new line, \t a tab, \\ a backslash"
        disabled={disabled}
        onChange={(e) => {
          setStopDraft(e.target.value);
          onChange({ stop: unescapeStop(e.target.value) });
        }}
        onBlur={() => setStopDraft(null)}
      />
    </>
  );
}

/** A number field with its allowed range written beside it (and read out with it). */
export function RangedNumber(props: {
  readonly id: string;
  readonly value: number;
  readonly bounds: SampleBounds;
  readonly disabled?: boolean;
  readonly onChange: (value: number) => void;
}) {
  const { id, value, bounds, disabled, onChange } = props;
  return (
    <span className="sample-number">
      <NumberInput id={id} value={value} {...bounds} disabled={disabled} describedBy={`${id}-allowed`} onChange={onChange} />
      <span id={`${id}-allowed`} className="small muted sample-range">
        {rangeText(bounds).replace(/^a (whole )?number /, '')}
      </span>
    </span>
  );
}
