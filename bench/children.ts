/**
 * Child processes of the benchmarks: TypeScript files forked through tsx (bundles on plain node) that report `ready`
 * over IPC, other programs (nginx) tracked beside them, and a way to stop them all.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const children: ChildProcess[] = [];
let stopping = false;

export interface StartOptions {
  readonly env?: Record<string, string>;
  readonly execArgv?: string[];
  /** @default 30_000 */
  readonly timeoutMs?: number;
  /** A child that dies after it was ready stops the bench (it would otherwise wait on it). @default true */
  readonly exitOnDeath?: boolean;
}

/** Forks `file` and resolves with the child and its `ready` message. */
export function startChild<T>(file: string, label: string, options: StartOptions = {}): Promise<{ child: ChildProcess; ready: T }> {
  const child = fork(file, [], {
    // A bundle (.cjs) runs on plain node, as `npm start` runs the gateway; TypeScript through tsx.
    execArgv: [...(file.endsWith('.cjs') ? [] : ['--import', pathToFileURL(require.resolve('tsx')).href]), ...(options.execArgv ?? [])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  track(child, label, options.exitOnDeath);
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${label} did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    child.on('message', function onReady(message: { type?: string }) {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', onReady);
      done({ child, ready: message as T });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${label} exited with code ${code}`));
    });
  });
}

/**
 * Stops `child` with the others; a child that dies while the bench runs stops the bench (it would
 * otherwise wait on it), unless `exitOnDeath` is false.
 */
export function track(child: ChildProcess, label: string, exitOnDeath = true): void {
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping && exitOnDeath) {
      console.error(`bench: ${label} exited unexpectedly (code ${code}, signal ${signal})`);
      // The process exits once the others are stopped, whatever stopChildren does: nothing outlives it.
      void stopChildren().finally(() => process.exit(1));
    }
  });
}

export async function stopChildren(): Promise<void> {
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
}
