// Small pieces shared by the pages: times, errors, state badges, loading, a virtualised list.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { errorText, toDate } from "./api";

// A time in the browser's zone, with UTC on hover.
export function Time({ t }: { t: Timestamp | undefined }) {
  const d = toDate(t);
  if (!d) return <span class="muted">–</span>;
  return (
    <time dateTime={d.toISOString()} title={d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")}>
      {d.toLocaleString()}
    </time>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {errorText(error)}
    </p>
  );
}

// Enum value names without their prefix, lower case: RUN_STATE_SUCCEEDED → "succeeded".
export function enumName(e: Record<number, string>, v: number): string {
  return (e[v] ?? "unspecified").toLowerCase().replace(/_/g, " ");
}

export function Badge({ text }: { text: string }) {
  return <span class={`badge badge-${text.replace(/ /g, "-")}`}>{text}</span>;
}

// Runs `load` on mount and whenever `deps` change; `reload` runs it again.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (v) => {
        if (live) {
          setValue(v);
          setError(undefined);
        }
      },
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { value, error, reload: () => setTick((n) => n + 1) };
}

// A button that runs an async action once at a time and shows what went wrong.
export function ActionButton(props: {
  label: string;
  run: () => Promise<unknown>;
  kind?: "danger" | "primary";
  title?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind ?? ""}
        disabled={busy}
        title={props.title}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            await props.run();
          } catch (e) {
            setError(e);
          } finally {
            setBusy(false);
          }
        }}
      >
        {props.label}
      </button>
      <ErrorBox error={error} />
    </span>
  );
}

// Renders only the rows in view: a list of 100,000 costs what 30 rows cost. Rows have one
// fixed height. `onNearEnd` asks for more when the view nears the last row.
export function VirtualList<T>(props: {
  items: T[];
  rowHeight: number;
  height: number;
  row: (item: T, index: number) => ComponentChildren;
  onNearEnd?: () => void;
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const overscan = 8;
  const first = Math.max(0, Math.floor(top / props.rowHeight) - overscan);
  const count = Math.ceil(props.height / props.rowHeight) + 2 * overscan;
  const last = Math.min(props.items.length, first + count);
  useEffect(() => {
    if (props.onNearEnd && last >= props.items.length - overscan) props.onNearEnd();
  }, [last, props.items.length]);
  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div
        role="listitem"
        class="vrow"
        key={i}
        style={{ top: `${i * props.rowHeight}px`, height: `${props.rowHeight}px` }}
      >
        {props.row(props.items[i], i)}
      </div>,
    );
  }
  return (
    <div
      ref={box}
      class="vlist"
      role="list"
      aria-label={props.label}
      tabIndex={0}
      style={{ height: `${props.height}px` }}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div style={{ height: `${props.items.length * props.rowHeight}px`, position: "relative" }}>
        {rows}
      </div>
    </div>
  );
}
