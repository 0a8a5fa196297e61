// Every pipeline: searched by name prefix and paged by the server (50 a page), so that 10,000
// pipelines cost one page.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { Pipeline } from "../gen/slipway/v1/pipeline_pb";
import { ErrorBox } from "../widgets";

const PAGE = 50;

export function PipelinesPage() {
  const [prefix, setPrefix] = useState("");
  // Tokens of the pages before this one, and this page's.
  const [tokens, setTokens] = useState<string[]>([""]);
  const [page, setPage] = useState<{ pipelines: Pipeline[]; next: string } | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const current = tokens[tokens.length - 1];

  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      api.pipelines.listPipelines({ pageSize: PAGE, pageToken: current, namePrefix: prefix }).then(
        (r) => {
          if (!live) return;
          setPage({ pipelines: r.pipelines, next: r.nextPageToken });
          setError(undefined);
        },
        (e) => live && setError(e),
      );
    }, 0);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [prefix, current]);

  return (
    <section>
      <h1>Pipelines</h1>
      <div class="toolbar">
        <label for="search">Search by name</label>
        <input
          id="search"
          type="search"
          placeholder="name starts with…"
          value={prefix}
          onInput={(e) => {
            setPrefix((e.currentTarget as HTMLInputElement).value.trim());
            setTokens([""]);
          }}
        />
      </div>
      <ErrorBox error={error} />
      {page && (
        <>
          <table class="list" aria-label="Pipelines">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Stages</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody data-testid="pipeline-rows">
              {page.pipelines.map((p) => (
                <tr key={p.name}>
                  <td>
                    <a href={`#/pipelines/${encodeURIComponent(p.name)}`}>{p.name}</a>
                  </td>
                  <td>{p.stages.map((s) => s.name).join(" → ")}</td>
                  <td>{p.description}</td>
                </tr>
              ))}
              {page.pipelines.length === 0 && (
                <tr>
                  <td colSpan={3} class="muted">
                    No pipelines{prefix ? ` starting with “${prefix}”` : ""}.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
              Previous page
            </button>
            <span>page {tokens.length}</span>
            <button type="button" disabled={!page.next} onClick={() => setTokens([...tokens, page.next])}>
              Next page
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
