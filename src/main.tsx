// Entry point of the studio page: mounts the React tree. The engine lives in a Web Worker
// (worker/engine.worker.ts) that the engine store starts.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import './ui/styles.css';
import { InternalError } from './errors';

const root = document.getElementById('root');
if (!root) throw new InternalError('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
