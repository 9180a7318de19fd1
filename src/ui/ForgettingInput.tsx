// The "Forgetting text" input of the Data section: the held-out sample of the model's own
// pretraining text that forgetting is measured on. The built-in model brings its heldout.txt; for
// a dropped model the user gives a plain-text file (paragraphs separated by blank lines).

import { useForgettingStore } from '../state/forgettingStore';

export function ForgettingInput({ disabled }: { disabled: boolean }) {
  const source = useForgettingStore((s) => s.source);
  const error = useForgettingStore((s) => s.error);
  const loadFile = useForgettingStore((s) => s.loadFile);
  return (
    <div className="field-row" data-testid="forgetting-input">
      <label htmlFor="forgetting-file" title="Loss on this text after training minus the base model's: how much of its pretraining a method forgot">
        Forgetting text
      </label>
      <input
        id="forgetting-file"
        type="file"
        accept=".txt,.md,text/plain"
        disabled={disabled}
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) void loadFile(file);
          e.target.value = '';
        }}
      />
      <span className={error ? 'fail small' : 'muted small'} data-testid="forgetting-source" role={error ? 'alert' : undefined}>
        {error ?? (source ? `${source.name}${source.builtin ? " (the built-in model's held-out verses)" : ''}` : 'none: forgetting is not measured')}
      </span>
    </div>
  );
}
