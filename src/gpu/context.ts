// The command recorder every kernel goes through. Kernels record dispatches into one command
// encoder (one compute pass); the context submits it once per `flush()` (once per training step),
// not once per op. Uniform values go to a CPU-side ring written to the GPU just before submit.
//
// Errors: each submission is wrapped in validation and out-of-memory error scopes; a failure is
// reported on the next `read()`/`sync()` with the names and shapes of the kernels in that
// submission. With `checkEachDispatch` (tests), every dispatch is its own submission, so the
// error names exactly one kernel. Shape errors are caught before that, synchronously, by the
// kernel wrappers.
//
// Instrumentation (profiler.ts): counters of dispatches, bind groups created, buffers, writes,
// pipelines and submits are always kept (integer increments). A profile session, when started,
// also records each dispatch's kernel and stated cost and, with `timestamp-query`, gives each
// dispatch its own pass with timestamp writes; without a session the shared pass is used as before.
//
// Bind groups are cached by (shader, buffers bound, binding sizes): a steady training step binds
// the same pooled buffers in the same roles every step (the pool hands out the oldest free buffer,
// pool.ts), so from its second step on it creates none. The uniform binding takes a dynamic offset
// into its ring chunk, so the slot a dispatch's parameters get does not make its bind group new.
// The cache is a bounded LRU map; a bind group of a buffer the pool has destroyed is never asked
// for again (a new buffer has a new id) and ages out.
//
// Models, adapters and trainers see this class only as tensor/runtime.ts's narrow `Runtime`
// (allocate, upload, read, release, sync, accounting); it implements that interface
// structurally, and the check lives there because gpu/ sits below tensor/.

import { formatBytes, GpuError } from '../errors';
import type { AcquiredDevice, GpuDescription } from './device';
import { BufferPool, type PeakTracker, type PoolStats } from './pool';
import { GpuTensor, type DType, type TypedArrayOf } from './tensor';
import { parseShaderInterface, writeUniforms, type ShaderInterface } from './wgsl';
import { kernelKey, ProfileSession, type DispatchCost, type GpuCounters, type ProfileSessionOptions } from './profiler';

export type { DispatchCost, GpuCounters } from './profiler';

export interface ShaderDef {
  readonly name: string;
  readonly source: string;
  readonly iface: ShaderInterface;
}

/** Parses a WGSL file's interface once; call at module level in the kernel's wrapper. */
export function defineShader(name: string, source: string): ShaderDef {
  return { name, source, iface: parseShaderInterface(source, name) };
}

export type OverrideConstants = Readonly<Record<string, number | boolean>>;

export interface DispatchSpec {
  readonly shader: ShaderDef;
  readonly entryPoint?: string;
  readonly constants?: OverrideConstants;
  /** One tensor per storage binding of the shader, by its WGSL name. */
  readonly bindings: Readonly<Record<string, GpuTensor>>;
  /** Values for the shader's Params struct, by field name. */
  readonly params?: Readonly<Record<string, number>>;
  readonly workgroups: readonly [number, number?, number?];
  /** Kernel name and shapes, for error messages (e.g. "matmul [7,33]x[33,100]"). */
  readonly label: string;
  /** FLOPs and compulsory bytes, where the kernel can state them cheaply (read only by profiles). */
  readonly cost?: DispatchCost;
}

export interface ContextOptions {
  readonly checkEachDispatch?: boolean;
}

const UNIFORM_CHUNK_BYTES = 64 * 1024;
/** Bind groups kept (a LoRA step of the built-in model binds ~270 distinct sets; a comparison holds several methods' steps). */
const BIND_GROUP_CACHE_SIZE = 8192;
const BYTES_PER: Record<DType, number> = { f32: 4, u32: 4, i32: 4 };

interface UniformChunk {
  readonly buffer: GPUBuffer;
  readonly staging: ArrayBuffer;
  readonly view: DataView;
  used: number;
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly info: GpuDescription;
  readonly pool: BufferPool;
  readonly checkEachDispatch: boolean;
  /** Matmul variants measured fastest on this device, by shape class (kernels/matmulTuning.ts); empty: the built-in choice. */
  readonly matmulTuning = new Map<string, 'registers' | 'vec4' | 'tiled' | 'subgroup'>();

  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private pendingLabels: string[] = [];
  private generation = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly uniformChunks: UniformChunk[] = [];
  private uniformChunkIndex = 0;
  private readonly pendingErrors: Promise<GpuError | undefined>[] = [];
  private readonly uniformAlign: number;
  private readonly bindingLimit: number;
  private placeholderTensor: GpuTensor | undefined;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private profiler: ProfileSession | undefined;
  // Always-on counters (see counters()).
  private dispatchCount = 0;
  private bindGroupCount = 0;
  private uniformBufferCount = 0;
  private writeCount = 0;
  private writtenBytes = 0;
  private uniformWrittenBytes = 0;
  private pipelineCount = 0;
  private moduleCount = 0;
  private submitCount = 0;

  constructor(
    readonly acquired: AcquiredDevice,
    options: ContextOptions = {},
  ) {
    this.device = acquired.device;
    this.info = acquired.info;
    this.pool = new BufferPool(this.device);
    this.checkEachDispatch = options.checkEachDispatch ?? false;
    this.uniformAlign = this.device.limits.minUniformBufferOffsetAlignment;
    this.bindingLimit = this.device.limits.maxStorageBufferBindingSize;
  }

  // ---- tensors -------------------------------------------------------------------------------

  /** An uninitialised tensor from the pool. Release it when done. */
  empty(shape: readonly number[], dtype: DType = 'f32', what = 'tensor'): GpuTensor {
    return this.allocate(shape, dtype, what);
  }

  upload<D extends DType>(data: TypedArrayOf<D>, shape: readonly number[], dtype: D, what = 'tensor'): GpuTensor {
    // A buffer released while the current commands were recorded would force a submit in write()
    // (the loss seed of every backward pass did, splitting each step in two): ask for another.
    const t = this.allocate(shape, dtype, what, this.encoder ? this.generation : undefined);
    this.write(t, data);
    return t;
  }

  uploadF32(data: ArrayLike<number>, shape: readonly number[], what = 'tensor'): GpuTensor {
    const array = data instanceof Float32Array ? data : Float32Array.from(data);
    return this.upload(array, shape, 'f32', what);
  }

  write(t: GpuTensor, data: ArrayBufferView): void {
    if (data.byteLength !== t.byteLength) {
      throw new GpuError(`write of ${data.byteLength} bytes into a tensor of ${t.byteLength} bytes`, 'write', `[${t.shape.join(',')}]`);
    }
    if (t.blocks) {
      let offset = 0;
      for (const block of t.blocks) {
        this.write(block, new Uint8Array(data.buffer, data.byteOffset + offset, block.byteLength));
        offset += block.byteLength;
      }
      return;
    }
    // queue.writeBuffer runs before the pending command buffer: if that buffer still reads the
    // old contents of this (reused) buffer, submit it first.
    if (t.entry.releasedInGeneration === this.generation && this.encoder) this.flush();
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.writeCount++;
    this.writtenBytes += data.byteLength;
  }

  /** A 16-byte tensor to bind where a shader's optional input is switched off by a constant. */
  placeholder(): GpuTensor {
    if (!this.placeholderTensor) this.placeholderTensor = this.empty([4], 'f32', 'placeholder'); // 16 bytes: enough for a vec4 binding
    return this.placeholderTensor;
  }

  release(...tensors: (GpuTensor | undefined)[]): void {
    for (const t of tensors) {
      if (!t || t.released || t.isView) continue;
      t.released = true;
      if (t.blocks) this.release(...t.blocks);
      else this.pool.release(t.entry, this.generation);
    }
  }

  // ---- dispatch ------------------------------------------------------------------------------

  dispatch(spec: DispatchSpec): void {
    const { shader } = spec;
    const entryPoint = spec.entryPoint ?? shader.iface.entryPoints[0];
    if (!entryPoint) throw new GpuError('shader has no @compute entry point', shader.name);
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new GpuError(`dispatch of ${x}×${y}×${z} workgroups exceeds ${maxGroups} per dimension`, spec.label);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pipeline = this.pipeline(shader, entryPoint, spec.constants ?? {});
    const layout = this.layoutFor(shader);

    const entries: GPUBindGroupEntry[] = [];
    let key = shader.name;
    let uniformOffset: number | undefined;
    for (const b of shader.iface.bindings) {
      if (b.kind === 'uniform') {
        const { buffer, offset } = this.uniformSlot(shader, spec.params ?? {});
        uniformOffset = offset;
        entries.push({ binding: b.binding, resource: { buffer, offset: 0, size: shader.iface.uniformSize } });
        key += `|u${this.bufferId(buffer)}`;
      } else {
        const t = spec.bindings[b.name];
        if (!t) throw new GpuError(`missing binding "${b.name}"`, spec.label);
        if (t.released) throw new GpuError(`binding "${b.name}" uses a released tensor`, spec.label);
        if (t.blocks || t.byteLength > this.bindingLimit) throw this.oversizedBinding(b.name, t, spec.label);
        const size = Math.max(4, t.byteLength);
        entries.push({ binding: b.binding, resource: { buffer: t.buffer, size } });
        key += `|${this.bufferId(t.buffer)}:${size}`;
      }
    }
    if (this.checkEachDispatch) this.openEncoder();
    const bindGroup = this.bindGroup(key, layout.group, entries, spec.label);
    // Profiling: the session notes the dispatch; with timestamps it gets a pass of its own.
    const own = this.profiler?.passFor(kernelKey(spec.label, entryPoint), spec.label, spec.cost);
    if (own) this.endPass();
    const pass = own ? this.openEncoder().beginComputePass(own) : this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, uniformOffset === undefined ? [] : [uniformOffset]);
    pass.dispatchWorkgroups(x, y, z);
    if (own) pass.end();
    this.pendingLabels.push(spec.label);
    this.dispatchCount++;
    if (this.checkEachDispatch) this.flush();
  }

  /** Dispatches recorded since this context was made (for overhead accounting in the bench). */
  get dispatches(): number {
    return this.dispatchCount;
  }

  // ---- instrumentation -----------------------------------------------------------------------

  /** Totals since this context was made; subtract two snapshots with counterDelta(). */
  counters(): GpuCounters {
    const pool = this.pool.stats().createdCount;
    return {
      dispatches: this.dispatchCount,
      bindGroups: this.bindGroupCount,
      buffersCreated: pool + this.uniformBufferCount,
      poolBuffersCreated: pool,
      uniformBuffersCreated: this.uniformBufferCount,
      writeCalls: this.writeCount,
      bytesWritten: this.writtenBytes,
      uniformBytesWritten: this.uniformWrittenBytes,
      pipelinesCompiled: this.pipelineCount,
      shaderModules: this.moduleCount,
      submits: this.submitCount,
    };
  }

  /**
   * Starts a profile session: from now on every dispatch is recorded (and timed, where the device
   * has timestamp-query and `options.timestamps` is not false) until `session.close()`. One at a time.
   */
  startProfiling(options: ProfileSessionOptions = {}): ProfileSession {
    if (this.profiler) throw new GpuError('a profile session is already running on this context', 'profile');
    this.flush();
    const session = new ProfileSession(
      this.device,
      () => this.flush(),
      (closed) => {
        if (this.profiler === closed) this.profiler = undefined;
      },
      options,
    );
    this.profiler = session;
    return session;
  }

  /** The running profile session, if any. */
  get profiling(): ProfileSession | undefined {
    return this.profiler;
  }

  // ---- submission and readback ---------------------------------------------------------------

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    for (let i = 0; i < this.uniformChunkIndex + 1 && i < this.uniformChunks.length; i++) {
      const chunk = this.uniformChunks[i]!;
      if (chunk.used > 0) {
        this.device.queue.writeBuffer(chunk.buffer, 0, chunk.staging, 0, chunk.used);
        this.writeCount++;
        this.writtenBytes += chunk.used;
        this.uniformWrittenBytes += chunk.used;
      }
      chunk.used = 0;
    }
    this.uniformChunkIndex = 0;
    const commands = this.encoder.finish();
    this.device.queue.submit([commands]);
    this.submitCount++;
    this.encoder = undefined;
    const labels = this.pendingLabels;
    this.pendingLabels = [];
    this.closeErrorScopes(labels);
    this.generation++;
  }

  /** Submits and waits until the GPU has finished; throws the first GPU error seen. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  /** Waits for the GPU, then destroys the pool's free buffers (no pending command can still use one). */
  async trimPool(): Promise<void> {
    await this.sync();
    this.pool.trim();
  }

  /** Copies a tensor back to the CPU. Submits pending work first. */
  async read(t: GpuTensor): Promise<Float32Array> {
    const bytes = await this.readBytes(t);
    return new Float32Array(bytes);
  }

  async readU32(t: GpuTensor): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(t));
  }

  async readBytes(t: GpuTensor): Promise<ArrayBuffer> {
    if (t.released) throw new GpuError('read of a released tensor', 'read', `[${t.shape.join(',')}]`);
    if (t.blocks) {
      const parts = await Promise.all(t.blocks.map((block) => this.readBytes(block)));
      const whole = new Uint8Array(t.byteLength);
      let offset = 0;
      for (const part of parts) {
        whole.set(new Uint8Array(part), offset);
        offset += part.byteLength;
      }
      return whole.buffer;
    }
    const staging = this.pool.acquire(t.byteLength, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    this.endPass();
    this.openEncoder().copyBufferToBuffer(t.buffer, 0, staging.buffer, 0, t.byteLength);
    this.pendingLabels.push(`read [${t.shape.join(',')}]`);
    this.flush();
    try {
      await staging.buffer.mapAsync(GPUMapMode.READ, 0, t.byteLength);
    } catch (error) {
      await this.throwPendingErrors();
      throw new GpuError(`readback failed: ${(error as Error).message}`, 'read', `[${t.shape.join(',')}]`);
    }
    const copy = staging.buffer.getMappedRange(0, t.byteLength).slice(0);
    staging.buffer.unmap();
    this.pool.release(staging, this.generation);
    await this.throwPendingErrors();
    return copy;
  }

  stats(): PoolStats {
    return this.pool.stats();
  }

  /** The highest live bytes from now on (BufferPool.trackPeak). */
  trackPeak(): PeakTracker {
    return this.pool.trackPeak();
  }

  destroy(): void {
    this.profiler?.close();
    this.flush();
    this.pool.trim();
    this.device.destroy();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Caught here, when the dispatch is recorded, rather than as Dawn's binding error after the submit. */
  private oversizedBinding(name: string, t: GpuTensor, label: string): GpuError {
    const limit = `this GPU's ${formatBytes(this.bindingLimit)} limit per binding (maxStorageBufferBindingSize)`;
    if (t.blocks) {
      return new GpuError(
        `"${name}" is ${t.describe()} (over ${limit}), and this kernel takes one buffer; only the embedding, linear and LM-head loss ops take row blocks`,
        label,
      );
    }
    return new GpuError(
      `"${name}" is ${t.describe()}, ${formatBytes(t.byteLength)}: over ${limit}. If it holds activations, a smaller batch or sequence length makes it smaller.`,
      label,
    );
  }

  private allocate(shape: readonly number[], dtype: DType, what: string, avoidGeneration?: number): GpuTensor {
    const size = shape.reduce((a, b) => a * b, 1);
    const bytes = Math.max(4, size * BYTES_PER[dtype]);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const entry = this.pool.acquire(bytes, usage, `${what} [${shape.join(',')}]`, avoidGeneration);
    return new GpuTensor(entry, shape, dtype);
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('internal');
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.openEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = undefined;
    }
  }

  private closeErrorScopes(labels: string[]): void {
    const scopes = [this.device.popErrorScope(), this.device.popErrorScope(), this.device.popErrorScope()];
    const shown = labels.length <= 6 ? labels.join('; ') : `${labels.slice(0, 6).join('; ')}; and ${labels.length - 6} more`;
    this.pendingErrors.push(
      Promise.all(scopes).then((errors) => {
        const error = errors.find((e) => e !== null);
        if (!error) return undefined;
        const kind = error instanceof GPUOutOfMemoryError ? 'GPU out of memory' : 'GPU error';
        return new GpuError(`${kind}: ${error.message}`, labels.length === 1 ? labels[0] : `one of: ${shown}`);
      }),
    );
  }

  private async throwPendingErrors(): Promise<void> {
    const pending = this.pendingErrors.splice(0);
    const errors = await Promise.all(pending);
    const first = errors.find((e) => e !== undefined);
    if (first) throw first;
  }

  private module(shader: ShaderDef): GPUShaderModule {
    let module = this.modules.get(shader.name);
    if (!module) {
      module = this.device.createShaderModule({ code: shader.source, label: shader.name });
      this.modules.set(shader.name, module);
      this.moduleCount++;
    }
    return module;
  }

  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  /** The cached bind group for `key` (moved to the LRU end), or a new one. */
  private bindGroup(key: string, layout: GPUBindGroupLayout, entries: GPUBindGroupEntry[], label: string): GPUBindGroup {
    const cached = this.bindGroups.get(key);
    if (cached) {
      this.bindGroups.delete(key);
      this.bindGroups.set(key, cached);
      return cached;
    }
    const created = this.device.createBindGroup({ layout, entries, label });
    this.bindGroupCount++;
    this.bindGroups.set(key, created);
    if (this.bindGroups.size > BIND_GROUP_CACHE_SIZE) this.bindGroups.delete(this.bindGroups.keys().next().value!);
    return created;
  }

  private layoutFor(shader: ShaderDef): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    let layout = this.layouts.get(shader.name);
    if (!layout) {
      const group = this.device.createBindGroupLayout({
        label: shader.name,
        entries: shader.iface.bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: b.kind === 'uniform' ? { type: b.kind, hasDynamicOffset: true } : { type: b.kind },
        })),
      });
      layout = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(shader.name, layout);
    }
    return layout;
  }

  private pipeline(shader: ShaderDef, entryPoint: string, constants: OverrideConstants): GPUComputePipeline {
    const key = `${shader.name}:${entryPoint}:${JSON.stringify(constants)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const numeric: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants)) numeric[k] = typeof v === 'boolean' ? Number(v) : v;
      pipeline = this.device.createComputePipeline({
        label: key,
        layout: this.layoutFor(shader).pipeline,
        compute: { module: this.module(shader), entryPoint, constants: numeric },
      });
      this.pipelines.set(key, pipeline);
      this.pipelineCount++;
    }
    return pipeline;
  }

  private uniformSlot(shader: ShaderDef, params: Readonly<Record<string, number>>): { buffer: GPUBuffer; offset: number } {
    const size = shader.iface.uniformSize;
    const stride = Math.ceil(size / this.uniformAlign) * this.uniformAlign;
    let chunk = this.uniformChunks[this.uniformChunkIndex];
    if (chunk && chunk.used + stride > UNIFORM_CHUNK_BYTES) {
      this.uniformChunkIndex++;
      chunk = this.uniformChunks[this.uniformChunkIndex];
    }
    if (!chunk) {
      const buffer = this.device.createBuffer({
        size: UNIFORM_CHUNK_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: 'uniform ring',
      });
      this.uniformBufferCount++;
      const staging = new ArrayBuffer(UNIFORM_CHUNK_BYTES);
      chunk = { buffer, staging, view: new DataView(staging), used: 0 };
      this.uniformChunks[this.uniformChunkIndex] = chunk;
    }
    const offset = chunk.used;
    writeUniforms(chunk.view, offset, shader.iface.uniformFields, params, shader.name);
    chunk.used += stride;
    return { buffer: chunk.buffer, offset };
  }
}
