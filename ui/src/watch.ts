// Following a run live: GetRun once, then WatchRun from the run's last event. A broken stream is
// resumed from the last sequence seen (after_sequence), so nothing is missed or repeated.
import { clone } from "@bufbuild/protobuf";
import { useEffect, useState } from "preact/hooks";
import { api } from "./api";
import { NodeState, RunSchema, RunState, type Run } from "./gen/slipway/v1/release_pb";

export function isTerminal(state: RunState): boolean {
  return (
    state === RunState.SUCCEEDED ||
    state === RunState.FAILED ||
    state === RunState.CANCELLED ||
    state === RunState.SKIPPED
  );
}

export type Watched = {
  run?: Run;
  // Log lines as they arrived, with their node.
  logs: { node: string; line: string }[];
  error?: unknown;
};

export function useRun(id: string, reloadKey = 0): Watched {
  const [state, setState] = useState<Watched>({ logs: [] });
  useEffect(() => {
    if (!id) return;
    const abort = new AbortController();
    let run: Run | undefined;
    let logs: { node: string; line: string }[] = [];
    const publish = (error?: unknown) => setState({ run: run && clone(RunSchema, run), logs, error });
    (async () => {
      let after = 0n;
      let failures = 0;
      try {
        run = await api.releases.getRun({ id }, { signal: abort.signal });
        logs = run.nodes.flatMap((n) => n.log.map((line) => ({ node: n.ref, line })));
        after = run.lastEvent;
        publish();
      } catch (e) {
        if (!abort.signal.aborted) publish(e);
        return;
      }
      while (!abort.signal.aborted && run && !isTerminal(run.state)) {
        try {
          for await (const ev of api.releases.watchRun({ id, afterSequence: after }, { signal: abort.signal })) {
            after = ev.sequence;
            failures = 0;
            if (ev.state) run.state = ev.state;
            // An event may carry a node's new status, a log line of it, or both.
            if (ev.log) logs = [...logs, { node: ev.node?.ref ?? "", line: ev.log }];
            if (ev.node && ev.node.state !== NodeState.UNSPECIFIED) {
              const i = run.nodes.findIndex((n) => n.path === ev.node!.path);
              if (i >= 0) run.nodes[i] = ev.node;
              else run.nodes.push(ev.node);
            }
            publish();
          }
          // The stream ended: the run did, or the server closed it; read the run as it is.
          run = await api.releases.getRun({ id }, { signal: abort.signal });
          publish();
        } catch (e) {
          if (abort.signal.aborted) return;
          failures++;
          publish(e);
          await new Promise((r) => setTimeout(r, Math.min(10000, 500 * 2 ** failures)));
        }
      }
    })();
    return () => abort.abort();
  }, [id, reloadKey]);
  return state;
}
