// Shapes of the matmul benchmark's rows, shared by the Node bench (bench/run.ts), the worker and
// the in-app benchmark page.

export interface MatmulBenchShape {
  readonly label: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

export interface MatmulBenchRow {
  readonly shape: MatmulBenchShape;
  /** Our kernel's variant that was measured. */
  readonly variant: string;
  readonly oursGflops: number;
  /** Same product through @tensorflow/tfjs-backend-webgpu on the same adapter; null when not run. */
  readonly peerGflops: number | null;
  /** oursGflops / peerGflops, null when the peer was not run. */
  readonly ratio: number | null;
}

export interface MatmulBenchOptions {
  readonly shapes: readonly MatmulBenchShape[];
  /** Also time the peer library (tfjs-backend-webgpu). */
  readonly includePeer: boolean;
  /** Called as each row completes, so a UI can fill the table progressively. */
  readonly onRow?: (row: MatmulBenchRow) => void;
}
