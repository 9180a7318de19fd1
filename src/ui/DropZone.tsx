// A drop target with file (and optionally folder) pickers, keyboard reachable. Dropped folders
// are walked (webkitGetAsEntry) so every file keeps its path inside the folder, as a picked
// folder does (webkitRelativePath).

import { useRef, useState, type ReactNode } from 'react';
import type { PickedFile } from '../worker/protocol';

interface Props {
  readonly label: string;
  readonly hint: ReactNode;
  readonly accept?: string;
  readonly multiple?: boolean;
  /** Offer a folder picker too. */
  readonly folders?: boolean;
  readonly disabled?: boolean;
  readonly onFiles: (files: PickedFile[]) => void;
  readonly testId?: string;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path: entry.fullPath.replace(/^\//, ''), file });
    return;
  }
  if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (let batch = await readEntries(reader); batch.length > 0; batch = await readEntries(reader)) {
      for (const child of batch) await walk(child, out);
    }
  }
}

/** Files of a drop, folders walked. Entries must be taken synchronously, before any await. */
function filesOfDrop(dt: DataTransfer): Promise<PickedFile[]> {
  const entries = [...dt.items].map((item) => item.webkitGetAsEntry?.() ?? null).filter((e): e is FileSystemEntry => e !== null);
  if (entries.length === 0) return Promise.resolve([...dt.files].map((file) => ({ path: file.name, file })));
  return (async () => {
    const out: PickedFile[] = [];
    for (const entry of entries) await walk(entry, out);
    return out;
  })();
}

function picked(list: FileList | null): PickedFile[] {
  return [...(list ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

export function DropZone({ label, hint, accept, multiple, folders, disabled, onFiles, testId }: Props) {
  const [over, setOver] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  return (
    <div
      className={over ? 'dropzone over' : 'dropzone'}
      data-testid={testId}
      onDragOver={(e) => {
        e.preventDefault();
        if (!disabled) setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        if (disabled) return;
        void filesOfDrop(e.dataTransfer).then((files) => files.length > 0 && onFiles(files));
      }}
    >
      <div className="dropzone-text">
        <strong>{label}</strong>
        <span className="muted small">{hint}</span>
      </div>
      <div className="dropzone-buttons">
        <button type="button" disabled={disabled} onClick={() => fileInput.current?.click()}>
          Pick {multiple ? 'files' : 'a file'}
        </button>
        {folders && (
          <button type="button" disabled={disabled} onClick={() => folderInput.current?.click()}>
            Pick a folder
          </button>
        )}
      </div>
      <input
        ref={fileInput}
        type="file"
        hidden
        accept={accept}
        multiple={multiple}
        onChange={(e) => {
          const files = picked(e.target.files);
          e.target.value = '';
          if (files.length > 0) onFiles(files);
        }}
      />
      {folders && (
        <input
          ref={(el) => {
            folderInput.current = el;
            el?.setAttribute('webkitdirectory', '');
          }}
          type="file"
          hidden
          multiple
          onChange={(e) => {
            const files = picked(e.target.files);
            e.target.value = '';
            if (files.length > 0) onFiles(files);
          }}
        />
      )}
    </div>
  );
}
