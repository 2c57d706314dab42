/**
 * Small building blocks shared by the console's pages. Every value from the API is rendered as a
 * text child (Preact escapes it); nothing here sets HTML from a string.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './api';

export type AsyncState<T> = { readonly status: 'loading' } | { readonly status: 'ok'; readonly value: T } | { readonly status: 'error'; readonly error: ApiFailure };

/** Runs `load` when `deps` change; `reload()` runs it again. A stale answer is dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): [AsyncState<T>, () => void] {
  const [state, setState] = useState<AsyncState<T>>({ status: 'loading' });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => (s.status === 'ok' ? s : { status: 'loading' }));
    load().then(
      (value) => current && setState({ status: 'ok', value }),
      (error: unknown) => current && setState({ status: 'error', error: asFailure(error) }),
    );
    return () => {
      current = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [state, reload];
}

export function asFailure(error: unknown): ApiFailure {
  return error instanceof ApiFailure ? error : new ApiFailure(0, 'console_error', error instanceof Error ? error.message : String(error));
}

/** Shows a loading line, an error, or `children(value)`. */
export function Loaded<T>({ state, children }: { state: AsyncState<T>; children: (value: T) => ComponentChildren }) {
  if (state.status === 'loading') return <p class="muted" role="status">Loading…</p>;
  if (state.status === 'error') return <ErrorNote error={state.error} />;
  return <>{children(state.value)}</>;
}

/** An API error: its message and stable code (and the request id, for a support question). */
export function ErrorNote({ error }: { error: ApiFailure | undefined }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <strong>{error.message}</strong> <code>{error.code}</code>
      {error.requestId ? <span class="muted"> request {error.requestId}</span> : null}
    </div>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1 tabIndex={-1}>{title}</h1>
      <div class="actions">{children}</div>
    </header>
  );
}

/**
 * A labelled form field; `error` (the API's message for this field's path) is shown under it and
 * tied to the input with aria-describedby.
 */
export function Field({ id, label, hint, error, children }: { id: string; label: string; hint?: string; error?: string; children: ComponentChildren }) {
  return (
    <div class={error ? 'field invalid' : 'field'}>
      <label for={id}>{label}</label>
      {children}
      {hint ? <small id={`${id}-hint`} class="muted">{hint}</small> : null}
      {error ? (
        <small id={`${id}-error`} class="field-error" role="alert">
          {error}
        </small>
      ) : null}
    </div>
  );
}

/** The aria attributes that tie an input to its Field's hint and error. */
export function describedBy(id: string, opts: { hint?: boolean; error?: string }) {
  const ids = [opts.hint ? `${id}-hint` : '', opts.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { id, 'aria-describedby': ids || undefined, 'aria-invalid': opts.error ? true : undefined };
}

/** Copies `text` to the clipboard; says so for a moment. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      setCopied(false);
    }
  };
  return (
    <button type="button" class="secondary" onClick={() => void copy()}>
      {copied ? 'Copied' : label}
    </button>
  );
}

/** A button that asks first (a native confirm dialog: keyboard-accessible, nothing to style). */
export function ConfirmButton({ question, onConfirm, children, class: className = 'danger', disabled }: { question: string; onConfirm: () => void; children: ComponentChildren; class?: string; disabled?: boolean }) {
  return (
    <button type="button" class={className} disabled={disabled} onClick={() => window.confirm(question) && onConfirm()}>
      {children}
    </button>
  );
}

/** A time as the reader's local date and time, with the ISO value on hover. */
export function Time({ at }: { at: string | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const date = new Date(at);
  return <time dateTime={at} title={at}>{Number.isNaN(date.getTime()) ? at : date.toLocaleString()}</time>;
}

/** A table cell with a status badge and, once revoked, when (keys and grants). */
export function StatusCell({ status, revokedAt }: { status: string; revokedAt: string | undefined }) {
  return (
    <td>
      <span class={`badge ${status}`}>{status}</span>
      {revokedAt ? (
        <>
          {' '}
          <Time at={revokedAt} />
        </>
      ) : null}
    </td>
  );
}

/** Moves focus to the page's heading when the page changes (screen readers announce it). */
export function useFocusHeading(key: string) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [key]);
  return ref;
}

/** Runs an action, keeping its error for the form to show and a busy flag for its button. */
export function useAction<A extends unknown[]>(act: (...args: A) => Promise<void>): { run: (...args: A) => Promise<void>; busy: boolean; error: ApiFailure | undefined; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>(undefined);
  const run = async (...args: A) => {
    setBusy(true);
    setError(undefined);
    try {
      await act(...args);
    } catch (e) {
      setError(asFailure(e));
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clear: () => setError(undefined) };
}
